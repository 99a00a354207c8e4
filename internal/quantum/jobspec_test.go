package quantum

import (
	"strings"
	"testing"

	"github.com/gefion-hpc/gefion/internal/cluster"
	"github.com/gefion-hpc/gefion/internal/job"
)

func TestApplyToSpec(t *testing.T) {
	c, err := cluster.Preset("gefion")
	if err != nil {
		t.Fatal(err)
	}
	s := &job.Spec{Qubits: 40, QPUBackend: "mgpu", Script: "#!/bin/sh\ntrue\n"}
	if err := ApplyToSpec(s, c); err != nil {
		t.Fatal(err)
	}
	r, err := job.Resolve(s, c)
	if err != nil {
		t.Fatalf("Resolve after sizing: %v", err)
	}
	if r.Nodes != 16 || r.GPUsPerNode != 8 || !r.WholeNodes {
		t.Errorf("40 qubits on mgpu resolve to %+v; want 16 whole nodes of 8 GPUs", r)
	}
	if !strings.Contains(strings.Join(s.Env, " "), "GEFION_MPI_RANKS=128") {
		t.Errorf("env = %v; want the MPI rank count", s.Env)
	}
	if err := ApplyToSpec(&job.Spec{Qubits: 44, QPUBackend: "mgpu"}, c); err == nil || !strings.Contains(err.Error(), "1528") {
		t.Errorf("44 qubits = %v; want a refusal with the machine's GPU count", err)
	}
	plain := &job.Spec{GPUs: 2}
	if err := ApplyToSpec(plain, c); err != nil || plain.GPUs != 2 || plain.Env != nil {
		t.Errorf("a spec without qubits changed: %+v, %v", plain, err)
	}
}
