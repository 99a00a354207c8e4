package sched

import (
	"math/bits"
	"slices"

	"github.com/gefion-hpc/gefion/internal/job"
)

// event is a node becoming able (+1) or unable (-1) to start a job.
type event struct {
	t     Time
	delta int
	node  int
}

// earliest returns the first time the shape fits for limit seconds around
// running jobs and reservations, the nodes it would take then, and the job
// whose end makes the room. It changes nothing.
func (ps *pass) earliest(sh shape, e *eligSet, limit Time) (Time, []int, job.ID) {
	ns := ps.ns
	if !sh.nd.whole {
		best, node, by := Never, -1, job.ID(0)
		// The candidates: usable nodes of the set, as words to walk.
		cand := ps.sc.cand[:0]
		for w := range ns.usable {
			cand = append(cand, ns.usable[w]&e.mask[w])
		}
		ps.sc.cand = cand
		// Seed the search with the node whose first release comes first:
		// it is often the answer, and the bound prunes most other nodes.
		seed := -1
		for w, x := range cand {
			for ; x != 0; x &= x - 1 {
				i := w<<6 + bits.TrailingZeros64(x)
				if seed < 0 || ns.minRel[i] < ns.minRel[seed] {
					seed = i
				}
			}
		}
		if seed >= 0 {
			if t, b := ns.earliest(seed, sh.nd, ps.now, limit); t < best {
				best, node, by = t, seed, b
			}
		}
		for w, x := range cand {
			for ; x != 0; x &= x - 1 {
				i := w<<6 + bits.TrailingZeros64(x)
				if i == seed {
					continue
				}
				if best != Never && (ns.minRel[i] > best || ns.minRel[i] == best && i > node) && len(ns.holds[i]) == 0 &&
					(ns.freeGPUs(i) < sh.nd.gpus || !ns.fitsNow(i, sh.nd, ps.now, limit)) {
					// Without holds a node's room only grows at its
					// releases: it cannot start the job before best.
					continue
				}
				t, b := ns.earliest(i, sh.nd, ps.now, limit)
				if t < best || t == best && t != Never && i < node {
					best, node, by = t, i, b // ties go to the lowest node index
				}
			}
		}
		if node < 0 {
			return Never, nil, 0
		}
		return best, []int{node}, by
	}
	// Whole nodes: sweep the times at which nodes become able or unable to
	// hold the job for its whole window, counting per SU, and stop at the
	// first time enough nodes are able at once.
	evs := ps.sc.evs[:0]
	for i := ns.usable.next(0, e.mask); i >= 0; i = ns.usable.next(i+1, e.mask) {
		ps.sc.ivs = ns.feasible(i, sh.nd, ps.now, limit, ps.sc.ivs)
		for _, iv := range ps.sc.ivs {
			evs = append(evs, event{iv.from, +1, i})
			if iv.to != Never {
				evs = append(evs, event{iv.to, -1, i})
			}
		}
	}
	ps.sc.evs = evs
	sortEvents(evs, ps.now, &ps.sc.keys)
	clear(ps.counts)
	total := 0
	at := Never
	for k := 0; k < len(evs); {
		t := evs[k].t
		for ; k < len(evs) && evs[k].t == t; k++ {
			ps.counts[ns.su[evs[k].node]] += evs[k].delta
			total += evs[k].delta
		}
		if total >= sh.nodes && chooseSUs(ps.counts, sh.nodes, sh.suMax) != nil {
			at = t
			break
		}
	}
	if at == Never {
		return Never, nil, 0
	}
	sus := chooseSUs(ps.counts, sh.nodes, sh.suMax)
	var chosen []int
	var by job.ID
	var byT Time = -1
	for _, su := range sus {
		for _, i := range ps.s.Cluster.SUs[su].Nodes {
			if len(chosen) == sh.nodes {
				break
			}
			if !e.mask.has(i) || !ns.usable.has(i) || !ns.fitsAt(i, sh.nd, at, limit) {
				continue
			}
			chosen = append(chosen, i)
			for _, r := range ns.releases(i) {
				if r.t <= at && r.t > byT {
					by, byT = r.id, r.t
				}
			}
		}
	}
	slices.Sort(chosen)
	if at == ps.now {
		by = 0
	}
	return at, chosen, by
}

// Event sort keys pack (t - now, end before start, node) into one word, so
// that sorting compares integers.
const (
	keyNodeBits = 20
	keyTimeBits = 63 - keyNodeBits - 1
)

// sortEvents orders events by time, ends before starts at one instant, then
// node, all at or after now.
func sortEvents(evs []event, now Time, buf *[]uint64) {
	keys := (*buf)[:0]
	for _, ev := range evs {
		d := ev.t - now
		if d < 0 || d >= 1<<keyTimeBits || ev.node < 0 || ev.node >= 1<<keyNodeBits {
			keys = nil
			break
		}
		var start uint64
		if ev.delta > 0 {
			start = 1
		}
		keys = append(keys, uint64(d)<<(keyNodeBits+1)|start<<keyNodeBits|uint64(ev.node))
	}
	if keys == nil {
		slices.SortFunc(evs, func(a, b event) int {
			if a.t != b.t {
				return cmpTime(a.t, b.t)
			}
			if a.delta != b.delta {
				return a.delta - b.delta
			}
			return a.node - b.node
		})
		return
	}
	*buf = keys
	slices.Sort(keys)
	for k, key := range keys {
		evs[k] = event{
			t:     now + Time(key>>(keyNodeBits+1)),
			delta: int(key>>keyNodeBits&1)*2 - 1,
			node:  int(key & (1<<keyNodeBits - 1)),
		}
	}
}
