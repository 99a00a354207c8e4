// Package quantum owns the quantum-circuit path of Gefion: sizing of CUDA-Q
// simulation jobs for the machine (Size, Sizing.Env), an OpenQASM 2.0 parser
// (Parse, with qelib1.inc built in as the specification defines it), a
// state-vector simulator in single (complex64) and double (complex128)
// precision (State, Circuit, Run), and Pauli-string expectation values for
// hybrid loops (Hamiltonian).
//
// It is pure computation: no clock other than the wall time Run reports,
// and no network but the TCP connections between the tasks of one
// distributed run (RunDistributed over a Comm; dist.go says how a state
// is split over tasks). Any package may import it; internal/cli uses it for
// "gefion quantum run" and "gefion quantum size", and the job layer uses
// Size and Sizing.Env to turn "#SBATCH --qubits=N --qpu-backend=B
// --qpu-precision=P" into a GPU request and the environment CUDA-Q reads.
//
// # Running a circuit as a batch job
//
// A batch job runs a circuit on the built-in simulator by calling the CLI
// in its script; the counts land in the job's output file:
//
//	#!/bin/bash
//	#SBATCH --job-name=ghz --cpus-per-task=16 --time=00:10:00
//	gefion quantum run ghz.qasm --shots 4096 --seed 7 --json
//
// The simulator uses every core the job is given (GOMAXPROCS), so ask for
// cores, not GPUs; "gefion quantum run" refuses a circuit whose state vector
// would not fit the node's available memory.
//
// # Execution
//
// Gates apply in place by index arithmetic, each with the cheapest kernel
// its matrix allows (gate.go, kernels.go); on amd64 with AVX2 and FMA,
// one-target gates use the vector kernels of simd_amd64.s (simd.go) in
// both precisions, and where the processor has AVX-512 the hottest
// single-precision kernels (the dense 4x4, the sign flips of CZ walls and
// the in-register kernels of qubits 0 and 1) run in their 512-bit forms
// (simd512_amd64.s), which on cores with full-width units (AMD Zen 5)
// take 0.4-0.6x the time per amplitude. A sequence of gates on a state larger than a cache-sized
// block runs in cache-blocked passes (block.go): each pass gathers blocks
// of amplitudes over a few chosen qubits into a buffer, applies every gate
// of the pass there (diagonal gates fused into one multiplication, or into
// sign flips when every phase is +-1 as in CZ brick walls, diag.go) and
// scatters the block back, so a layer of a circuit costs about one trip
// through memory instead of one per gate. Blocks are a quarter of the
// core's L2 cache, read from sysfs or, where a virtual machine publishes
// none, from CPUID (cache.go), and large states ask the
// kernel for transparent huge pages (huge_linux.go). Before the passes are
// planned, gates are fused (fuse.go): a two-qubit gate takes the one-qubit
// gates on its qubits just before and after it into one dense 4x4 gate,
// applied by a vector kernel (half the arithmetic when the matrix is real),
// when a cost model measured on the kernels says it saves work; in a brick
// wall of one-qubit layers and CZs that halves the one-qubit work.
//
// # Limits
//
// A circuit file is input from anyone, so every cost is bounded by a limit
// with an error that names it, never by the memory or stack running out:
// expressions nest at most 256 deep and hold at most 4096 terms; gate
// definitions call one another at most 1000 deep; at most 256 include
// statements are read; a program declares at most MaxProgramQubits qubits;
// compiling stops past MaxGateOps gate operations, counting those that
// gate definitions expand into; a run takes at most MaxShots shots, drawn
// in chunks, and reports at most 2^20 distinct outcomes; the exact
// distribution holds at most 1 GiB of state copies besides the state.
// "gefion quantum run" reads circuit files of at most 64 MiB.
//
// # Bit order
//
// Counts follow Qiskit: classical bit 0 is the rightmost character; with
// several classical registers, each is written as its own group, the last
// declared leftmost, groups separated by a space. Probabilities of a circuit
// without measurements are keyed by qubit, qubit 0 rightmost.
//
// Every gefion command links this package, so nothing runs at package
// initialisation: qelib1.inc is parsed when a program first includes it.
package quantum
