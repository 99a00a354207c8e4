package cli

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"time"

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

// TestOpenMPIInsideAnAllocation runs Open MPI's mpirun inside the job: it
// starts its daemons on both nodes through srun (this binary, built and
// named srun on PATH), as its Slurm launcher does, and the ranks reduce
// across them.
func TestOpenMPIInsideAnAllocation(t *testing.T) {
	mpicc, err := exec.LookPath("mpicc.openmpi")
	if err != nil {
		t.Skip("needs mpicc.openmpi (Debian's openmpi-bin and libopenmpi-dev)")
	}
	if _, err := exec.LookPath("mpirun.openmpi"); err != nil {
		t.Skip("needs mpirun.openmpi (Debian's openmpi-bin)")
	}
	if testing.Short() {
		t.Skip("builds gefion and runs an MPI program")
	}
	dir := t.TempDir()
	prog := filepath.Join(dir, "allreduce")
	if out, err := exec.Command(mpicc, "-o", prog, "../pmi/testdata/allreduce.c").CombinedOutput(); err != nil {
		t.Fatalf("mpicc: %v\n%s", err, out)
	}
	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("go", "build", "-o", filepath.Join(bin, "gefion"), "../../cmd/gefion").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	if err := os.Symlink("gefion", filepath.Join(bin, "srun")); err != nil {
		t.Fatal(err)
	}
	sc := newStepCluster(t)
	id := strconv.FormatInt(int64(sc.jobID), 10)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	// Both test nodes share this host: Open MPI's shared-memory transport
	// would take the two nodes' ranks for neighbours; TCP serves both.
	// mpirun is named, not given by its path: Open MPI takes an absolute
	// argv[0] for --prefix and puts its own bin first on the daemons'
	// PATH, where another srun may be.
	cmd := exec.CommandContext(ctx, "mpirun.openmpi", "--oversubscribe", "--mca", "btl", "tcp,self", "-np", "4", prog)
	cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"), "GEFION_ADDR="+sc.addr, "GEFION_USER="+sc.user,
		"SLURM_JOB_ID="+id, "SLURM_JOBID="+id, "SLURM_JOB_NODELIST=dev[1-2]", "SLURM_NODELIST=dev[1-2]",
		"SLURM_JOB_NUM_NODES=2", "SLURM_NNODES=2", "SLURM_TASKS_PER_NODE=2(x2)", "SLURM_JOB_CPUS_PER_NODE=2(x2)",
		"OMPI_ALLOW_RUN_AS_ROOT=1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("mpirun: %v\n%s", err, out)
	}
	for r := range 4 {
		if want := fmt.Sprintf("rank %d of 4 sum 10", r); !strings.Contains(string(out), want) {
			t.Errorf("mpirun's output lacks %q:\n%s", want, out)
		}
	}
	// Its daemons ran as a step on both nodes.
	steps, err := client.New(sc.addr, sc.user).Steps(context.Background(), sc.jobID)
	if err != nil || len(steps) != 1 || steps[0].Nodes != 2 {
		t.Errorf("steps of the job = %+v, %v; want mpirun's daemons as one step on 2 nodes", steps, err)
	}
}

// TestSrunLargeOutputIsExact streams a few MB through a step (past the
// point where the node switches to large reads) and checks every byte.
func TestSrunLargeOutputIsExact(t *testing.T) {
	sc := newStepCluster(t)
	out, errs, code := sc.srun("", "-n", "1", "seq", "1", "400000")
	if code != 0 {
		t.Fatalf("srun seq: exit %d: %s", code, errs)
	}
	want, err := exec.Command("seq", "1", "400000").Output()
	if err != nil {
		t.Skip("needs seq:", err)
	}
	if out != string(want) {
		t.Errorf("srun seq 1 400000 gave %d bytes, not the %d seq prints (first difference at %d)", len(out), len(want), firstDiff(out, string(want)))
	}
}

func firstDiff(a, b string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestSrunInputAll gives srun's standard input to every task (-i all), on
// both nodes.
func TestSrunInputAll(t *testing.T) {
	sc := newStepCluster(t)
	out, errs, code := sc.srun("ping\n", "-n", "4", "-i", "all", "-l", "cat")
	if code != 0 {
		t.Fatalf("srun -i all cat: exit %d: %s", code, errs)
	}
	for r := range 4 {
		if want := strconv.Itoa(r) + ": ping\n"; !strings.Contains(out, want) {
			t.Errorf("task %d did not echo the input: %q", r, out)
		}
	}
	// The default is task 0 alone.
	out, _, _ = sc.srun("ping\n", "-n", "2", "-l", "cat")
	if out != "0: ping\n" {
		t.Errorf("srun cat without -i: %q; want task 0 alone", out)
	}
}

// TestSrunPty runs task 0 on a pseudo-terminal: it is a terminal, its
// session's controlling one, and input reaches it through the terminal.
func TestSrunPty(t *testing.T) {
	sc := newStepCluster(t)
	out, errs, code := sc.srun("echo typed\nexit 5\n", "--pty", "-n", "1", "bash", "--norc", "--noprofile", "-c",
		`tty; test -t 0 && test -t 1 && echo interactive; read line; echo "got $line"; read line; eval "$line"`)
	if code != 5 {
		t.Errorf("srun --pty: exit %d; want 5 from the typed command\n%s%s", code, out, errs)
	}
	for _, want := range []string{"/dev/pts/", "interactive", "got echo typed"} {
		if !strings.Contains(out, want) {
			t.Errorf("srun --pty output lacks %q:\n%q", want, out)
		}
	}
	// Without --pty the same task has no terminal.
	out, _, _ = sc.srun("", "-n", "1", "bash", "-c", "tty || echo none")
	if !strings.Contains(out, "not a tty") && !strings.Contains(out, "none") {
		t.Errorf("srun without --pty: %q; want no terminal", out)
	}
}
