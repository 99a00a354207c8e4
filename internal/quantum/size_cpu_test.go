package quantum

import (
	"errors"
	"strings"
	"testing"

	"github.com/gefion-hpc/gefion/internal/cluster"
	"github.com/gefion-hpc/gefion/internal/job"
)

// TestSizeCPU: on the gefion preset (191 nodes of 2 TiB, three quarters
// usable), the cpu backend takes the fewest power-of-two nodes whose
// memory holds the state, and refuses past 128 nodes with the numbers.
func TestSizeCPU(t *testing.T) {
	c, err := cluster.Preset("gefion")
	if err != nil {
		t.Fatal(err)
	}
	usable := int64(float64(int64(2)<<40) * 0.75)
	for _, tc := range []struct {
		qubits    int
		precision string
		nodes     int
	}{
		{30, Single, 1},  // 8.6 GB
		{37, Single, 1},  // 1.1 TB
		{38, Single, 2},  // 2.2 TB
		{40, Single, 8},  // 8.8 TB: 5.3 nodes, rounded up to 8
		{40, Double, 16}, // 17.6 TB
		{44, Single, 128},
	} {
		s, err := Size(tc.qubits, BackendCPU, tc.precision, c)
		if err != nil {
			t.Errorf("Size(%d, cpu, %s): %v", tc.qubits, tc.precision, err)
			continue
		}
		if s.Nodes != tc.nodes || s.Tasks != tc.nodes || s.GPUs != 0 || s.UsableNodeBytes != usable || s.PerNodeBytes*int64(tc.nodes) != s.Bytes {
			t.Errorf("Size(%d, cpu, %s) = %+v; want %d nodes, one task each, no GPUs", tc.qubits, tc.precision, s, tc.nodes)
		}
		if s.PerNodeBytes > usable {
			t.Errorf("Size(%d, cpu, %s): %d bytes per node, more than the %d usable", tc.qubits, tc.precision, s.PerNodeBytes, usable)
		}
	}
	_, err = Size(45, BackendCPU, Single, c)
	var tl *CPUTooLargeError
	if !errors.As(err, &tl) || !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Size(45, cpu) = %v; want a CPUTooLargeError", err)
	}
	for _, want := range []string{"281.5 TB", "256 nodes", "191 nodes", "at most 128", "44 qubits"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Size(45, cpu) = %q; want it to say %q", err, want)
		}
	}
}

func TestApplyToSpecCPU(t *testing.T) {
	c, err := cluster.Preset("gefion")
	if err != nil {
		t.Fatal(err)
	}
	s := &job.Spec{Qubits: 40, QPUBackend: BackendCPU, Script: "#!/bin/sh\ntrue\n", GPUsPerNode: 8}
	if err := ApplyToSpec(s, c); err != nil {
		t.Fatal(err)
	}
	if s.NodesMin != 8 || s.NodesMax != 8 || s.NTasks != 8 || s.NTasksPerNode != 1 || s.GPUsPerNode != 0 || !s.Exclusive || s.MemPerNodeMB != -1 {
		t.Errorf("40 qubits on cpu = %+v; want 8 exclusive nodes with all their memory, one task each, no GPUs", s)
	}
	if env := strings.Join(s.Env, " "); !strings.Contains(env, "GEFION_QUANTUM_NODES=8") || !strings.Contains(env, "GEFION_QPU_BACKEND=cpu") {
		t.Errorf("env = %v; want GEFION_QUANTUM_NODES=8", s.Env)
	}
	if _, err := job.Resolve(s, c); err != nil {
		t.Errorf("Resolve after sizing: %v", err)
	}
}
