package agent

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/pmi"
)

// MPI wire-up of a step (srun --mpi=pmi2). Each node serves PMI to its own
// tasks (package pmi) over a socket pair per task, named to the task in
// PMI_FD; a fence is joined across nodes through srun, over the step's I/O
// connection, which srun has with every node anyway:
//
//	agent -> srun  FramePMIPuts (pairs, in chunks), then FramePMIFence
//	srun  -> agent FramePMIKVS (the step's pairs, in chunks), then
//	               FramePMIFenceDone
//
// srun answers a fence once every node has entered it (pmi.Gather). The
// controller never sees this traffic.

// PMI frame types, after the I/O frames of stepio.go.
const (
	FramePMIPuts      byte = 8
	FramePMIFence     byte = 9
	FramePMIKVS       byte = 10
	FramePMIFenceDone byte = 11
)

// PMIChunk is the most pair bytes one PMI frame carries: below the frame
// limit, so that a chunk is never split and each frame holds whole pairs.
const PMIChunk = 60 << 10

// WritePMIPairs sends kv as chunks of typ frames followed by one end frame.
func WritePMIPairs(fw *FrameWriter, typ, end byte, kv map[string]string) error {
	chunks, err := pmi.EncodePairs(kv, PMIChunk)
	if err != nil {
		return err
	}
	for _, c := range chunks {
		if err := fw.Write(typ, 0, c); err != nil {
			return err
		}
	}
	return fw.Write(end, 0, nil)
}

// stepPMI is a node's PMI service for one step.
type stepPMI struct {
	srv *pmi.Server
	fw  *FrameWriter

	mu      sync.Mutex // one fence of this node at a time
	kvs     map[string]string
	replies chan map[string]string
}

func newStepPMI(l *api.StepLaunch, fw *FrameWriter) *stepPMI {
	sp := &stepPMI{fw: fw, kvs: map[string]string{}, replies: make(chan map[string]string, 1)}
	job := pmi.Job{ID: fmt.Sprintf("%d.%d", l.JobID, l.StepID), Size: l.Tasks, Mapping: l.PMIMapping}
	sp.srv = pmi.NewServer(job, len(l.Part.Tasks), pmi.FencerFunc(sp.fence))
	return sp
}

// fence sends this node's puts to srun and waits for the step's pairs.
func (sp *stepPMI) fence(ctx context.Context, puts map[string]string) (map[string]string, error) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if err := WritePMIPairs(sp.fw, FramePMIPuts, FramePMIFence, puts); err != nil {
		return nil, fmt.Errorf("sending the node's PMI pairs to srun: %w", err)
	}
	select {
	case all, ok := <-sp.replies:
		if !ok {
			return nil, errors.New("srun went away during a PMI fence")
		}
		return all, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// frame takes srun's PMI frames; it reports whether f was one.
func (sp *stepPMI) frame(f Frame) bool {
	switch f.Type {
	case FramePMIKVS:
		_ = pmi.DecodePairs(f.Payload, sp.kvs)
	case FramePMIFenceDone:
		sp.replies <- sp.kvs
		sp.kvs = map[string]string{}
	default:
		return false
	}
	return true
}

// closed tells a waiting fence that srun is gone.
func (sp *stepPMI) closed() { close(sp.replies) }

// PMIEnv is what a task needs to find its PMI server: the descriptor
// (the first of exec.Cmd's ExtraFiles is descriptor 3), its rank, the
// step's size and the key-value space's name.
func PMIEnv(l *api.StepLaunch, rank int) []string {
	return []string{
		"PMI_FD=3",
		fmt.Sprintf("PMI_RANK=%d", rank),
		fmt.Sprintf("PMI_SIZE=%d", l.Tasks),
		fmt.Sprintf("PMI_JOBID=%d.%d", l.JobID, l.StepID),
		"PMI_APPNUM=0",
	}
}
