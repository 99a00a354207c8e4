package cli

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gefion-hpc/gefion/internal/quantum"
)

func init() {
	register(&command{path: "quantum run", summary: "run an OpenQASM 2.0 circuit on the built-in state-vector simulator", run: runQuantumRun})
	register(&command{path: "quantum size", summary: "GPUs and nodes a CUDA-Q simulation of N qubits needs", run: runQuantumSize})
}

func runQuantumSize(e *Env, args []string) error {
	fs := newFlags(e, "quantum size")
	qubits := fs.Int("qubits", 0, "number of qubits (required)")
	backend := fs.String("backend", quantum.BackendNVIDIA, "CUDA-Q backend: nvidia (one GPU), mgpu (state vector over a power-of-two number of GPUs) or tensornet; or cpu (Gefion's simulator, the state vector over a power-of-two number of nodes' memory)")
	precision := fs.String("precision", quantum.Single, "single (complex64, CUDA-Q fp32) or double (complex128, fp64)")
	preset := fs.String("preset", "", "built-in cluster (default gefion)")
	config := fs.String("config", "", "cluster description file (TOML)")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	if *qubits <= 0 {
		return usagef("give the number of qubits with --qubits N")
	}
	if _, err := quantum.AmplitudeBytes(*precision); err != nil {
		return &UsageError{Msg: err.Error()}
	}
	c, err := loadCluster(*preset, *config)
	if err != nil {
		return err
	}
	s, err := quantum.Size(*qubits, *backend, *precision, c)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(e.Stdout, s)
	}
	w := e.Stdout
	fmt.Fprintf(w, "%d qubits, %s backend, %s precision on %s\n", s.Qubits, s.Backend, s.Precision, c.Name)
	if s.Backend == quantum.BackendCPU {
		fmt.Fprintf(w, "  nodes         %d, one task each (gefion quantum run --nodes %d)\n", s.Nodes, s.Nodes)
		fmt.Fprintf(w, "  state vector  %s, %s per node\n", quantum.HumanBytes(s.Bytes), quantum.HumanBytes(s.PerNodeBytes))
		fmt.Fprintf(w, "  usable per node %s (%.0f%% reserved)\n", quantum.HumanBytes(s.UsableNodeBytes), quantum.CPUReserveFraction*100)
		for _, kv := range s.Env() {
			fmt.Fprintf(w, "  env           %s\n", kv)
		}
		return nil
	}
	fmt.Fprintf(w, "  GPUs          %d on %d node(s), %d per node\n", s.GPUs, s.Nodes, s.GPUsPerNode)
	if s.Bytes > 0 {
		fmt.Fprintf(w, "  state vector  %s, %s per GPU\n", quantum.HumanBytes(s.Bytes), quantum.HumanBytes(s.PerGPUBytes))
	}
	fmt.Fprintf(w, "  usable per GPU %s of %s (%.0f%% reserved)\n", quantum.HumanBytes(s.UsableGPUBytes), quantum.HumanBytes(s.GPUMemoryBytes), quantum.GPUReserveFraction*100)
	if s.Note != "" {
		fmt.Fprintf(w, "  note          %s\n", s.Note)
	}
	for _, kv := range s.Env() {
		fmt.Fprintf(w, "  env           %s\n", kv)
	}
	return nil
}

// quantumRunJSON is the contract output of "gefion quantum run --json".
type quantumRunJSON struct {
	Qubits        int                `json:"qubits"`
	Shots         int                `json:"shots"`
	Counts        map[string]int     `json:"counts"`
	Probabilities map[string]float64 `json:"probabilities,omitempty"`
	Precision     string             `json:"precision"`
	Sampled       bool               `json:"sampled"`
	Seed          uint64             `json:"seed"`
	WallS         float64            `json:"wall_s"`
	// Nodes, Remaps and ExchangedBytes describe a run split over tasks
	// (--nodes N, N > 1): qubit remaps and the bytes task 0 sent.
	Nodes          int   `json:"nodes,omitempty"`
	Remaps         int   `json:"remaps,omitempty"`
	ExchangedBytes int64 `json:"exchanged_bytes,omitempty"`
}

func runQuantumRun(e *Env, args []string) error {
	fs := newFlags(e, "quantum run")
	shots := fs.Int("shots", quantum.DefaultShots, fmt.Sprintf("number of shots, 1 to %d", quantum.MaxShots))
	seed := fs.Uint64("seed", 0, "random seed (same seed, same counts)")
	precision := fs.String("precision", quantum.Single, "single (complex64) or double (complex128)")
	probs := fs.Bool("probabilities", false, "also print the exact outcome probabilities")
	asJSON := fs.Bool("json", false, "print JSON")
	nodes := fs.Int("nodes", 1, "split the state vector over N tasks of a job step, one per node (N a power of two; the tasks start with srun --mpi=pmi2)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if err := defaultQuantumNodes(e, fs, nodes); err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("give one OpenQASM 2.0 file: gefion quantum run FILE.qasm [--shots N] [--seed S] [--precision single|double] [--probabilities] [--nodes N] [--json]")
	}
	if *shots <= 0 || *shots > quantum.MaxShots {
		return usagef("--shots must be between 1 and %d, got %d", quantum.MaxShots, *shots)
	}
	if _, err := quantum.AmplitudeBytes(*precision); err != nil {
		return &UsageError{Msg: err.Error()}
	}
	file := pos[0]
	src, err := readCircuit(file)
	if err != nil {
		return fmt.Errorf("cannot read circuit: %w", err)
	}
	dir := filepath.Dir(file)
	prog, err := quantum.Parse(file, src, &quantum.ParseOptions{Include: func(name string) ([]byte, error) {
		if !filepath.IsAbs(name) {
			name = filepath.Join(dir, name)
		}
		return readCircuit(name)
	}})
	if err != nil {
		return err
	}
	circ, err := quantum.Compile(prog)
	if err != nil {
		return err
	}
	opt := quantum.Options{Shots: *shots, Seed: *seed, Precision: *precision, Probabilities: *probs}
	if *nodes != 1 {
		return runQuantumNodes(e, args, file, circ, *nodes, opt, *asJSON)
	}
	need, err := circ.MemoryBytes(*precision)
	if err != nil {
		return err
	}
	if avail, ok := memAvailable(); ok && need > avail {
		return fmt.Errorf("%s has %d qubits: its state vector needs %s in %s precision, but this machine has %s available; use fewer qubits, single precision, or a GPU job sized with 'gefion quantum size --qubits %d --backend mgpu'",
			file, circ.Qubits, quantum.HumanBytes(need), *precision, quantum.HumanBytes(avail), circ.Qubits)
	}
	start := time.Now()
	res, err := quantum.Run(circ, opt)
	if err != nil {
		return err
	}
	out := quantumRunJSON{
		Qubits: res.Qubits, Shots: res.Shots, Counts: res.Counts, Probabilities: res.Probabilities,
		Precision: res.Precision, Sampled: res.Sampled, Seed: *seed, WallS: time.Since(start).Seconds(),
	}
	return printQuantumRun(e, file, out, *asJSON)
}

// printQuantumRun prints a run's result as JSON or as text.
func printQuantumRun(e *Env, file string, res quantumRunJSON, asJSON bool) error {
	if asJSON {
		return writeJSON(e.Stdout, res)
	}
	wall := res.WallS
	w := e.Stdout
	fmt.Fprintf(w, "%s: %d qubits, %d shots, %s precision, %.3f s\n", file, res.Qubits, res.Shots, res.Precision, wall)
	keys := make([]string, 0, len(res.Counts))
	for k := range res.Counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "  %s  %d\n", k, res.Counts[k])
	}
	if res.Probabilities != nil {
		keys = keys[:0]
		for k := range res.Probabilities {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		fmt.Fprintln(w, "exact probabilities:")
		for _, k := range keys {
			fmt.Fprintf(w, "  %s  %.6f\n", k, res.Probabilities[k])
		}
	}
	return nil
}

// maxCircuitBytes bounds an OpenQASM file (or an included one) that
// "quantum run" reads: a path such as /dev/zero would otherwise be read
// until memory runs out.
const maxCircuitBytes = 64 << 20

// readCircuit reads an OpenQASM file of at most maxCircuitBytes.
func readCircuit(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxCircuitBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxCircuitBytes {
		return nil, fmt.Errorf("%s is larger than %d MiB: an OpenQASM file for this simulator is smaller (split the circuit, or check the path)", path, maxCircuitBytes>>20)
	}
	return b, nil
}

// memAvailable reads MemAvailable from /proc/meminfo (Linux); ok is false
// where it cannot be read, and then no memory check is made.
func memAvailable() (int64, bool) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemAvailable:" {
			kb, err := strconv.ParseInt(fields[1], 10, 64)
			if err != nil {
				return 0, false
			}
			return kb * 1024, true
		}
	}
	return 0, false
}
