package cli

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gefion-hpc/gefion/internal/pmi"
	"github.com/gefion-hpc/gefion/internal/quantum"
)

// "gefion quantum run --nodes N" splits the state vector over N tasks of a
// job step, one per node, as CUDA-Q's mgpu backend does over MPI ranks
// (package quantum, dist.go). The same command is both halves:
//
//   - Run by a user or a batch script (no PMI in its environment), it
//     checks the circuit and the memory, then runs
//     "srun -N N -n N --ntasks-per-node=1 --mpi=pmi2 gefion quantum run
//     ... --nodes N": inside an allocation (sbatch, salloc) the step uses
//     its nodes; outside one, srun asks for an allocation of N nodes, as
//     Slurm's srun does.
//   - Run as a task of that step (PMI_FD and PMI_SIZE = N set by srun
//     --mpi=pmi2), it listens on a TCP port, publishes the address through
//     PMI, meets the others at a PMI barrier, connects to its partners and
//     runs its slice. Task 0 prints the result, the others nothing.
//
// So "srun --mpi=pmi2 -n N gefion quantum run --nodes N ..." in a batch
// script works too, as "mpirun -np N" does for a CUDA-Q mgpu program.

// defaultQuantumNodes takes --nodes from GEFION_QUANTUM_NODES, which a
// job sized for the cpu backend (#SBATCH --qubits=N --qpu-backend=cpu)
// has, when the flag is not given.
func defaultQuantumNodes(e *Env, fs *flag.FlagSet, nodes *int) error {
	v := e.getenv("GEFION_QUANTUM_NODES")
	if v == "" {
		return nil
	}
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == "nodes" })
	if given {
		return nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return usagef("GEFION_QUANTUM_NODES=%q is not a number of nodes: unset it or give --nodes", v)
	}
	*nodes = n
	return nil
}

// pmiKeyAddr is the PMI key under which a task publishes its address (or
// "!" when it cannot take part).
const pmiKeyAddr = "gefion-quantum-addr-"

func runQuantumNodes(e *Env, args []string, file string, circ *quantum.Circuit, nodes int, opt quantum.Options, asJSON bool) error {
	if nodes < 1 {
		return usagef("--nodes must be a power of two, at least 1; got %d", nodes)
	}
	// Every check runs before anything is allocated; a task of the step
	// that fails one still meets the others at the PMI barrier, so that
	// they stop too instead of waiting for it.
	check := func() error {
		if err := circ.CheckDistributed(nodes); err != nil {
			return &UsageError{Msg: err.Error()}
		}
		return checkSliceMemory(file, circ, nodes, opt.Precision)
	}
	size := e.getenv("PMI_SIZE")
	if size == "" {
		if err := check(); err != nil {
			return err
		}
		if n, _ := strconv.Atoi(e.getenv("SLURM_STEP_NUM_TASKS")); n > 1 {
			return fmt.Errorf("this is one of %d tasks of a step without PMI: start the tasks with 'srun --mpi=pmi2 -n %d gefion quantum run --nodes %d ...', or run 'gefion quantum run --nodes %d' once, outside srun, and it starts them", n, nodes, nodes, nodes)
		}
		return launchQuantumStep(e, args, nodes)
	}
	if n, err := strconv.Atoi(size); err != nil || n != nodes {
		return fmt.Errorf("--nodes %d, but this step has %s tasks (PMI_SIZE): give srun -n %d, or --nodes %s", nodes, size, nodes, size)
	}
	return runQuantumTask(e, file, circ, opt, asJSON, check())
}

// checkSliceMemory refuses a state whose slices do not fit this node's
// available memory, before anything is allocated.
func checkSliceMemory(file string, circ *quantum.Circuit, nodes int, precision string) error {
	total, err := circ.MemoryBytes(precision)
	if err != nil {
		return err
	}
	per := total / int64(nodes)
	if avail, ok := memAvailable(); ok && per > avail {
		need := nodes
		for int64(need) > 0 && total/int64(need) > avail && need < 1<<20 {
			need *= 2
		}
		return fmt.Errorf("%s has %d qubits: its state vector needs %s in %s precision, %s on each of %d nodes, but this node has %s available; use --nodes %d or more, fewer qubits, or single precision",
			file, circ.Qubits, quantum.HumanBytes(total), precision, quantum.HumanBytes(per), nodes, quantum.HumanBytes(avail), need)
	}
	return nil
}

// launchQuantumStep runs the command again as the N tasks of a step.
func launchQuantumStep(e *Env, args []string, nodes int) error {
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("cannot find the gefion binary to start the tasks: %w", err)
	}
	n := strconv.Itoa(nodes)
	argv := append([]string{"srun", "-N", n, "-n", n, "--ntasks-per-node=1", "--mpi=pmi2", "--job-name=quantum", self, "quantum", "run"}, args...)
	cmd := exec.Command(self, argv...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, e.Stdout, e.Stderr
	cmd.Env = e.environ()
	var ee *exec.ExitError
	switch err := cmd.Run(); {
	case err == nil:
		return nil
	case errors.As(err, &ee):
		code := ee.ExitCode()
		if st, ok := ee.Sys().(syscall.WaitStatus); ok && st.Signaled() {
			code = 128 + int(st.Signal())
		}
		return &ExitError{Code: code}
	default:
		return fmt.Errorf("cannot run srun: %w", err)
	}
}

// runQuantumTask is one task of the step.
// checkErr is the task's own checks' verdict: a task that fails them
// tells the others through PMI.
func runQuantumTask(e *Env, file string, circ *quantum.Circuit, opt quantum.Options, asJSON bool, checkErr error) error {
	start := time.Now()
	pc, err := pmi.ClientFromEnv(e.getenv)
	if err != nil {
		return errors.Join(checkErr, err)
	}
	if checkErr != nil {
		_ = pc.Put(pmiKeyAddr+strconv.Itoa(pc.Rank), "!")
		_ = pc.Barrier()
		return checkErr
	}
	ip := taskIP(e.getenv("SLURM_LAUNCH_NODE_IPADDR"))
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		_ = pc.Put(pmiKeyAddr+strconv.Itoa(pc.Rank), "!")
		_ = pc.Barrier()
		return fmt.Errorf("task %d cannot listen for its partners: %w", pc.Rank, err)
	}
	defer ln.Close()
	if err := pc.Put(pmiKeyAddr+strconv.Itoa(pc.Rank), ln.Addr().String()); err != nil {
		return err
	}
	if pc.Rank == 0 {
		var tok [16]byte
		if _, err := rand.Read(tok[:]); err != nil {
			return err
		}
		if err := pc.Put("gefion-quantum-token", hex.EncodeToString(tok[:])); err != nil {
			return err
		}
	}
	if err := pc.Barrier(); err != nil {
		return err
	}
	addrs := make([]string, pc.Size)
	var missing []string
	for r := range addrs {
		if addrs[r], err = pc.Get(pmiKeyAddr + strconv.Itoa(r)); err != nil {
			return err
		}
		if addrs[r] == "!" {
			missing = append(missing, strconv.Itoa(r))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("task %d: task %s could not start (see its error): the run needs all %d tasks", pc.Rank, strings.Join(missing, ","), pc.Size)
	}
	tok, err := pc.Get("gefion-quantum-token")
	if err != nil {
		return err
	}
	comm, err := quantum.Connect(pc.Rank, pc.Size, ln, addrs, []byte(tok))
	if err != nil {
		return err
	}
	defer comm.Close()
	res, err := quantum.RunDistributed(circ, opt, comm)
	if err != nil {
		return err
	}
	_ = pc.Finalize()
	if res == nil {
		return nil
	}
	out := quantumRunJSON{
		Qubits: res.Qubits, Shots: res.Shots, Counts: res.Counts, Probabilities: res.Probabilities,
		Precision: res.Precision, Sampled: res.Sampled, Seed: opt.Seed, WallS: time.Since(start).Seconds(),
		Nodes: pc.Size, Remaps: comm.Remaps, ExchangedBytes: comm.Sent,
	}
	if !asJSON {
		fmt.Fprintf(e.Stderr, "%s: split over %d tasks, %d qubit remaps, %s sent by task 0\n", file, pc.Size, comm.Remaps, quantum.HumanBytes(comm.Sent))
	}
	return printQuantumRun(e, file, out, asJSON)
}

// taskIP is the address a task listens on: the one this host reaches the
// launch node (srun's host) from, so that tasks on other nodes reach it;
// loopback when there is no launch node or no route.
func taskIP(launch string) string {
	if launch == "" {
		return "127.0.0.1"
	}
	c, err := net.Dial("udp", net.JoinHostPort(launch, "9"))
	if err != nil {
		return "127.0.0.1"
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).IP.String()
}
