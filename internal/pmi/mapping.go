package pmi

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"sync"
)

// Mapping returns PMI_process_mapping for a step whose rank r runs on node
// nodeOf[r] (nodes numbered from 0): "(vector,(start,nodes,ranks),...)",
// each triple saying that nodes start..start+nodes-1 take ranks ranks each,
// in rank order. MPI libraries read it to know which ranks share a node.
// Block distribution over 2 nodes of 4 ranks is (vector,(0,2,4)); cyclic
// distribution lists one rank per node per round.
func Mapping(nodeOf []int) string {
	type block struct{ node, ranks int }
	var blocks []block
	for _, n := range nodeOf {
		if k := len(blocks) - 1; k >= 0 && blocks[k].node == n {
			blocks[k].ranks++
			continue
		}
		blocks = append(blocks, block{n, 1})
	}
	var b strings.Builder
	b.WriteString("(vector")
	for i := 0; i < len(blocks); {
		j := i + 1
		for j < len(blocks) && blocks[j].node == blocks[j-1].node+1 && blocks[j].ranks == blocks[i].ranks {
			j++
		}
		fmt.Fprintf(&b, ",(%d,%d,%d)", blocks[i].node, j-i, blocks[i].ranks)
		i = j
	}
	b.WriteString(")")
	return b.String()
}

// Gather is the step-wide side of a fence: each of Nodes participants
// contributes its node's puts for a round and gets back the union of all
// of them once the last has contributed. srun runs one for the nodes of a
// step; tests use it to join Servers in one process.
type Gather struct {
	Nodes int

	mu    sync.Mutex
	round *gatherRound
}

type gatherRound struct {
	n    int
	all  map[string]string
	done chan struct{}
}

// Contribute adds one node's puts to the current round and waits for the
// others.
func (g *Gather) Contribute(ctx context.Context, puts map[string]string) (map[string]string, error) {
	g.mu.Lock()
	if g.round == nil {
		g.round = &gatherRound{all: map[string]string{}, done: make(chan struct{})}
	}
	r := g.round
	maps.Copy(r.all, puts)
	r.n++
	if r.n == g.Nodes {
		g.round = nil
		close(r.done)
	}
	g.mu.Unlock()
	select {
	case <-r.done:
		return r.all, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Fencer returns g as one node's Fencer.
func (g *Gather) Fencer() Fencer { return FencerFunc(g.Contribute) }
