package cli

import (
	"context"
	"os"
	"os/exec"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/client"
	"github.com/gefion-hpc/gefion/internal/job"
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

// TestSalloc holds an allocation, runs a command in it with the
// allocation's variables, gives it back when the command ends and exits
// with the command's status.
func TestSalloc(t *testing.T) {
	sc := newStepNodes(t)
	var out, errb strings.Builder
	env := map[string]string{"GEFION_ADDR": sc.addr, "GEFION_USER": sc.user}
	e := &Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return env[k] },
		Environ: func() []string { return []string{"PATH=" + os.Getenv("PATH")} }}
	code := RunEnv(e, []string{"salloc", "-N", "2", "-n", "4", "bash", "-c", `echo "$SLURM_JOB_ID $SLURM_NNODES $SLURM_NTASKS $SLURM_JOB_NODELIST"; exit 3`})
	if code != 3 {
		t.Fatalf("salloc: exit %d; want the command's 3\n%s%s", code, out.String(), errb.String())
	}
	fields := strings.Fields(out.String())
	if len(fields) != 4 || fields[1] != "2" || fields[2] != "4" || fields[3] == "" {
		t.Errorf("the command saw %q; want the job ID, 2 nodes, 4 tasks and the node list", out.String())
	}
	for _, want := range []string{"Granted job allocation", "Relinquishing job allocation"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("salloc's stderr lacks %q:\n%s", want, errb.String())
		}
	}
	id, _ := strconv.ParseInt(fields[0], 10, 64)
	c := client.New(sc.addr, sc.user)
	waitUntil(t, "the allocation given back", func() bool {
		j, err := c.Job(context.Background(), job.ID(id))
		return err == nil && j.State == job.Completed
	})
	if code := RunEnv(e, []string{"salloc", "--wrap", "x"}); code != 2 {
		t.Errorf("salloc --wrap: exit %d; want a usage error", code)
	}
}
