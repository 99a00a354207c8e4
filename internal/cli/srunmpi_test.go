package cli

import (
	"os/exec"

	"github.com/gefion-hpc/gefion/internal/api"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestSrunWiresUpMPICH runs an MPI program built with Debian's MPICH over 8
// ranks on the two nodes with srun --mpi=pmi2: every rank must see the
// sum of all ranks' contributions, which needs the PMI exchange across
// both nodes.
func TestSrunWiresUpMPICH(t *testing.T) {
	mpicc, err := exec.LookPath("mpicc.mpich")
	if err != nil {
		t.Skip("needs mpicc.mpich (Debian's mpich and libmpich-dev)")
	}
	if testing.Short() {
		t.Skip("compiles and runs an MPI program")
	}
	bin := filepath.Join(t.TempDir(), "allreduce")
	if out, err := exec.Command(mpicc, "-o", bin, "../pmi/testdata/allreduce.c").CombinedOutput(); err != nil {
		t.Fatalf("mpicc: %v\n%s", err, out)
	}
	sc := newStepCluster(t)
	out, errs, code := sc.srun("", "--mpi=pmi2", "-n", "8", "-l", bin)
	if code != 0 {
		t.Fatalf("srun --mpi=pmi2 -n 8: exit %d\n%s%s", code, out, errs)
	}
	for r := range 8 {
		want := strconv.Itoa(r) + ": rank " + strconv.Itoa(r) + " of 8 sum 36"
		if !strings.Contains(out, want) {
			t.Errorf("no %q in srun's output:\n%s%s", want, out, errs)
		}
	}
	// Without PMI the ranks cannot wire up: each is a world of its own.
	out, errs, code = sc.srun("", "--mpi=none", "-n", "2", "-l", bin)
	if code != 0 || !strings.Contains(out, "rank 0 of 1 sum 1") {
		t.Errorf("srun --mpi=none -n 2: exit %d; want two singleton worlds:\n%s%s", code, out, errs)
	}
	if _, errs, code := sc.srun("", "--mpi=pmix", "-n", "2", bin); code != 2 || !strings.Contains(errs, "--mpi=pmi2") {
		t.Errorf("srun --mpi=pmix: exit %d, %q; want a usage error pointing to pmi2", code, errs)
	}

	// sacct lists the batch step and both steps, with their states.
	id := strconv.FormatInt(int64(sc.jobID), 10)
	got, errs, code := sc.cli("sacct", "-P", "-n", "-j", id, "--format=JobID,State,ExitCode")
	if code != 0 {
		t.Fatalf("sacct: exit %d: %s", code, errs)
	}
	for _, want := range []string{id + "|RUNNING|0:0", id + ".batch|RUNNING|0:0", id + ".0|COMPLETED|0:0", id + ".1|COMPLETED|0:0"} {
		if !strings.Contains(got, want+"\n") {
			t.Errorf("sacct -j %s has no line %q:\n%s", id, want, got)
		}
	}
	if got, _, _ := sc.cli("sacct", "-P", "-n", "-X", "-j", id, "--format=JobID"); strings.TrimSpace(got) != id {
		t.Errorf("sacct -X lists %q; want the job alone", got)
	}
}

func TestSrunProgress(t *testing.T) {
	for _, tc := range []struct {
		ranks []int
		want  string
	}{{[]int{0, 1, 2, 3}, "0-3"}, {[]int{6, 0, 1, 3}, "0-1,3,6"}, {[]int{5}, "5"}, {nil, ""}} {
		if got := rankRanges(tc.ranks); got != tc.want {
			t.Errorf("rankRanges(%v) = %q; want %q", tc.ranks, got, tc.want)
		}
	}
	r := &stepRun{resp: &api.StepResponse{JobID: 12, StepID: 0, Layout: []api.StepNode{{Tasks: []int{0, 1, 2, 3}}, {Tasks: []int{4, 5, 6, 7}}}},
		exits: map[int]int{6: 0, 7: 1}}
	if got, want := r.progress(), "StepId=12.0 tasks 0-5: running, tasks 6-7: exited"; got != want {
		t.Errorf("progress() = %q; want %q", got, want)
	}
}
