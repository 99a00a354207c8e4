package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gefion-hpc/gefion/internal/pmi"
	"github.com/gefion-hpc/gefion/internal/quantum"
	"github.com/gefion-hpc/gefion/internal/testdev"
)

// distCircuit writes an n-qubit circuit of rotation layers, CZ brick walls
// and CX gates from the top qubit (a rank bit over 4 tasks) onto the low
// ones, measuring the top four qubits and the bottom four.
func distCircuit(t *testing.T, n int) string {
	t.Helper()
	rng := rand.New(rand.NewPCG(3, 3))
	var b strings.Builder
	fmt.Fprintf(&b, "OPENQASM 2.0;\ninclude \"qelib1.inc\";\nqreg q[%d];\ncreg c[8];\n", n)
	for l := range 8 {
		for q := range n {
			fmt.Fprintf(&b, "%s(%.6f) q[%d];\n", []string{"rx", "ry", "rz"}[rng.IntN(3)], rng.Float64()*2*math.Pi, q)
		}
		for q := l % 2; q+1 < n; q += 2 {
			fmt.Fprintf(&b, "cz q[%d],q[%d];\n", q, q+1)
		}
		fmt.Fprintf(&b, "cx q[%d],q[%d];\n", n-1, l)
	}
	for i, q := range []int{n - 1, n - 2, n - 3, n - 4, 3, 2, 1, 0} {
		fmt.Fprintf(&b, "measure q[%d] -> c[%d];\n", q, i)
	}
	path := filepath.Join(t.TempDir(), fmt.Sprintf("c%d.qasm", n))
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func parseRun(t *testing.T, what string, out []byte) quantumRunJSON {
	t.Helper()
	var r quantumRunJSON
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("%s: %v\n%s", what, err, out)
	}
	return r
}

// sameRun checks that got (split over tasks) equals want (one node): the
// same exact probabilities, and with the same seed the same counts.
func sameRun(t *testing.T, what string, want, got quantumRunJSON) {
	t.Helper()
	if got.Nodes != 4 || got.Remaps == 0 || got.ExchangedBytes == 0 {
		t.Errorf("%s: nodes %d, remaps %d, %d bytes exchanged; want a run over 4 tasks that exchanged amplitudes", what, got.Nodes, got.Remaps, got.ExchangedBytes)
	}
	if len(got.Probabilities) != len(want.Probabilities) || len(want.Probabilities) != 256 {
		t.Errorf("%s: %d outcomes; one node gives %d (of 256)", what, len(got.Probabilities), len(want.Probabilities))
	}
	for k, p := range want.Probabilities {
		if math.Abs(got.Probabilities[k]-p) > 1e-9 {
			t.Errorf("%s: P(%s) = %g; one node gives %g", what, k, got.Probabilities[k], p)
		}
	}
	total := 0
	for k, n := range got.Counts {
		total += n
		if want.Counts[k] != n {
			t.Errorf("%s: %s came %d times; with the same seed one node draws it %d times", what, k, n, want.Counts[k])
		}
	}
	if total != want.Shots {
		t.Errorf("%s: %d shots; want %d", what, total, want.Shots)
	}
}

// TestQuantumRunOverFourNodes runs a 24-qubit circuit on `gefion dev
// --nodes 4`, split over 4 tasks, two ways: "gefion quantum run --nodes 4"
// outside any allocation (it starts the step with srun, which allocates
// the nodes), and inside a 4-node batch job. Both give the single-node
// run's exact probabilities and, with the same seed, its counts.
func TestQuantumRunOverFourNodes(t *testing.T) {
	d := testdev.Start(t, "--nodes", "4")
	circ := distCircuit(t, 24)
	args := []string{"quantum", "run", circ, "--precision", "double", "--seed", "5", "--shots", "20000", "--probabilities", "--json"}
	run := func(extra ...string) ([]byte, error) {
		cmd := exec.Command(d.Bin, append(args, extra...)...)
		cmd.Env = append(os.Environ(), "GEFION_ADDR="+d.Addr)
		var errb bytes.Buffer
		cmd.Stderr = &errb
		out, err := cmd.Output()
		if err != nil {
			return out, fmt.Errorf("%v: %s", err, errb.String())
		}
		return out, nil
	}
	out, err := run()
	if err != nil {
		t.Fatalf("one node: %v", err)
	}
	one := parseRun(t, "one node", out)
	out, err = run("--nodes", "4")
	if err != nil {
		t.Fatalf("--nodes 4: %v", err)
	}
	sameRun(t, "--nodes 4", one, parseRun(t, "--nodes 4", out))

	// Inside an allocation: a batch job of 4 nodes runs the same command.
	dir := t.TempDir()
	script := filepath.Join(dir, "q.sh")
	body := fmt.Sprintf("#!/bin/sh\n#SBATCH -N 4 --time=10\nexec %s %s --nodes 4\n", d.Bin, strings.Join(args, " "))
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(d.Bin, "sbatch", "--wait", "-o", filepath.Join(dir, "out.json"), "-e", filepath.Join(dir, "err.txt"), script)
	cmd.Env = append(os.Environ(), "GEFION_ADDR="+d.Addr)
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil {
		e, _ := os.ReadFile(filepath.Join(dir, "err.txt"))
		t.Fatalf("sbatch --wait: %v\n%s\n%s", err, b, e)
	}
	out, err = os.ReadFile(filepath.Join(dir, "out.json"))
	if err != nil {
		t.Fatal(err)
	}
	sameRun(t, "batch job", one, parseRun(t, "batch job", out))
}

func TestQuantumRunNodesRefusals(t *testing.T) {
	dir := t.TempDir()
	small := filepath.Join(dir, "small.qasm")
	big := filepath.Join(dir, "big.qasm")
	if err := os.WriteFile(small, []byte("OPENQASM 2.0;\nqreg q[3];\ncreg c[1];\nU(1,0,0) q[0];\nmeasure q[0] -> c[0];\nreset q[0];\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(big, []byte("OPENQASM 2.0;\nqreg q[44];\nU(1,0,0) q[43];\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		code int
		want []string
	}{
		{[]string{small, "--nodes", "3"}, 2, []string{"power of two"}},
		{[]string{small, "--nodes", "8"}, 2, []string{"at most 4 tasks"}},
		{[]string{big, "--nodes", "4"}, 1, []string{"140.7 TB", "35.2 TB on each of 4 nodes", "available", "use --nodes"}},
	} {
		code, _, errs := runCLI(t, append([]string{"quantum", "run"}, tc.args...)...)
		ok := code == tc.code
		for _, w := range tc.want {
			ok = ok && strings.Contains(errs, w)
		}
		if !ok {
			t.Errorf("quantum run %v: exit %d, %q; want exit %d saying %q", tc.args, code, errs, tc.code, tc.want)
		}
	}
	// A task of a step whose size is not --nodes refuses.
	t.Setenv("PMI_SIZE", "2")
	if code, _, errs := runCLI(t, "quantum", "run", small, "--nodes", "4"); code != 1 || !strings.Contains(errs, "srun -n 4") {
		t.Errorf("--nodes 4 in a step of 2 tasks: exit %d, %q; want a refusal naming srun -n 4", code, errs)
	}
}

// TestQuantumCPUBackend: "#SBATCH --qubits=40 --qpu-backend=cpu" sizes a
// job of 8 whole nodes with one task each, and "quantum run" in such a job
// takes --nodes from the job's environment.
func TestQuantumCPUBackend(t *testing.T) {
	code, out, errs := runCLI(t, "quantum", "size", "--qubits", "40", "--backend", "cpu", "--json")
	if code != 0 {
		t.Fatalf("quantum size --backend cpu: exit %d: %s", code, errs)
	}
	var sz struct {
		Nodes, Tasks, GPUs int
	}
	if err := json.Unmarshal([]byte(out), &sz); err != nil || sz.Nodes != 8 || sz.Tasks != 8 || sz.GPUs != 0 {
		t.Errorf("quantum size --qubits 40 --backend cpu = %s (%v); want 8 nodes, 8 tasks, no GPUs", out, err)
	}
	script := filepath.Join(t.TempDir(), "q.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\n#SBATCH --qubits=40 --qpu-backend=cpu\ngefion quantum run c.qasm\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errs = runCLI(t, "sbatch", "--test-only", "--json", script)
	if code != 0 {
		t.Fatalf("sbatch --test-only: exit %d: %s", code, errs)
	}
	var spec struct {
		NodesMin  *int `json:"nodes_min"`
		NTasks    *int `json:"ntasks"`
		Exclusive bool `json:"exclusive"`
	}
	if err := json.Unmarshal([]byte(out), &spec); err != nil || spec.NodesMin == nil || *spec.NodesMin != 8 || spec.NTasks == nil || *spec.NTasks != 8 || !spec.Exclusive {
		t.Errorf("sbatch --test-only of a 40-qubit cpu job = %s (%v); want 8 exclusive nodes, 8 tasks", out, err)
	}
	small := filepath.Join(t.TempDir(), "small.qasm")
	if err := os.WriteFile(small, []byte("OPENQASM 2.0;\nqreg q[3];\nU(1,0,0) q[0];\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GEFION_QUANTUM_NODES", "3")
	if code, _, errs := runCLI(t, "quantum", "run", small); code != 2 || !strings.Contains(errs, "power of two") {
		t.Errorf("quantum run with GEFION_QUANTUM_NODES=3: exit %d, %q; want --nodes 3 refused", code, errs)
	}
	if code, _, errs := runCLI(t, "quantum", "run", small, "--nodes", "1"); code != 0 {
		t.Errorf("quantum run --nodes 1 with GEFION_QUANTUM_NODES=3: exit %d, %q; want the flag to win", code, errs)
	}
}

// TestQuantumTaskFailureStopsTheStep: when one task of the step fails its
// checks, it still meets the others at the PMI barrier, and they stop
// with a message naming it instead of waiting for it.
func TestQuantumTaskFailureStopsTheStep(t *testing.T) {
	const size = 2
	srv := pmi.NewServer(pmi.Job{ID: "1.0", Size: size}, size, pmi.Local)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	circ, err := quantum.Compile(mustParseQASM(t, "OPENQASM 2.0;\nqreg q[4];\nU(1,0,0) q[3];\n"))
	if err != nil {
		t.Fatal(err)
	}
	errs := make([]error, size)
	var wg sync.WaitGroup
	for r := range size {
		fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
		if err != nil {
			t.Skip("needs Unix socket pairs:", err)
		}
		ours := os.NewFile(uintptr(fds[0]), "pmi")
		defer ours.Close()
		go func() { _ = srv.Serve(ctx, r, ours) }()
		env := map[string]string{"PMI_FD": strconv.Itoa(fds[1]), "PMI_RANK": strconv.Itoa(r), "PMI_SIZE": strconv.Itoa(size)}
		e := &Env{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(k string) string { return env[k] }}
		var checkErr error
		if r == 1 {
			checkErr = errors.New("not enough memory on this node")
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[r] = runQuantumTask(e, "c.qasm", circ, quantum.Options{Shots: 10}, true, checkErr)
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the tasks did not stop within 30 s")
	}
	if errs[1] == nil || !strings.Contains(errs[1].Error(), "not enough memory") {
		t.Errorf("task 1 = %v; want its own check's error", errs[1])
	}
	if errs[0] == nil || !strings.Contains(errs[0].Error(), "task 1 could not start") {
		t.Errorf("task 0 = %v; want it to name task 1", errs[0])
	}
}

func mustParseQASM(t *testing.T, src string) *quantum.Program {
	t.Helper()
	p, err := quantum.Parse("c.qasm", []byte(src), nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
