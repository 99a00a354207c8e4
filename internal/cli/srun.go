package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gefion-hpc/gefion/internal/agent"
	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/client"
	"github.com/gefion-hpc/gefion/internal/job"
	"github.com/gefion-hpc/gefion/internal/pmi"
)

// srun runs a job step inside an allocation: it asks the controller for
// the step, listens for the agents of the step's nodes, which start the
// tasks and connect back (package agent's stepio.go), and copies the
// tasks' output to its own, its input to the stdin task. It exits with
// the highest task exit code, 128+N for a task killed by signal N, as
// Slurm's srun does.

func init() {
	register(&command{path: "srun", summary: "run a job step inside an allocation (srun)", run: runSrun})
}

// srunOpts are srun's parsed options.
type srunOpts struct {
	req      api.StepRequest
	jobID    job.ID
	label    bool
	export   string
	output   string
	errorF   string
	input    string
	wait     time.Duration
	quiet    bool
	verbose  bool
	nodesSet bool
	tasksSet bool
	// mpiSet says --mpi was given (SLURM_MPI_TYPE is the default).
	mpiSet bool
	// For an allocation of srun's own (outside a job).
	argv      []string
	account   string
	partition string
	qos       string
}

// srunOption is one option in srun's table.
type srunOption struct {
	long  string
	short byte
	// arg: 0 none, 1 required, 2 optional (only --opt=value)
	arg int
	set func(o *srunOpts, v string) error
}

func posInt(name string, dst *int) func(*srunOpts, string) error {
	return func(_ *srunOpts, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return fmt.Errorf("%s=%s: give a positive whole number", name, v)
		}
		*dst = n
		return nil
	}
}

// gpuCount reads [type:]N, the form --gpus and --gpus-per-task take; the
// type is ignored (a job's GPUs are all of one model).
func gpuCount(name string, pick func(o *srunOpts) *int) func(*srunOpts, string) error {
	return func(o *srunOpts, v string) error {
		s := v
		if i := strings.LastIndexByte(s, ':'); i >= 0 {
			s = s[i+1:]
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return fmt.Errorf("%s=%s: give a number of GPUs, e.g. %s=1", name, v, name)
		}
		*pick(o) = n
		return nil
	}
}

func accept(*srunOpts, string) error { return nil }

// setMPI takes --mpi's value: the wire-up srun serves the step's ranks.
func setMPI(o *srunOpts, v string) error {
	switch v {
	case "none", "pmi2":
		o.req.MPI = v
		return nil
	case "pmix", "pmix_v2", "pmix_v3", "pmix_v4", "pmix_v5":
		return fmt.Errorf("--mpi=%s is not supported: use --mpi=pmi2 (MPICH, Intel MPI, MVAPICH), or Open MPI's mpirun inside the allocation", v)
	case "list":
		return fmt.Errorf("--mpi: the MPI types are none and pmi2")
	}
	return fmt.Errorf("--mpi=%s: give none or pmi2", v)
}

var srunOptions []srunOption

func srunTable() []srunOption {
	if srunOptions != nil {
		return srunOptions
	}
	srunOptions = []srunOption{
		{"ntasks", 'n', 1, func(o *srunOpts, v string) error { o.tasksSet = true; return posInt("-n/--ntasks", &o.req.Tasks)(o, v) }},
		{"nodes", 'N', 1, func(o *srunOpts, v string) error {
			// N or N-M: the step uses N (within an allocation the nodes
			// are known).
			lo, hi, isRange := strings.Cut(v, "-")
			if isRange {
				if _, err := strconv.Atoi(hi); err != nil {
					return fmt.Errorf("-N/--nodes=%s: give a number of nodes, or MIN-MAX", v)
				}
			}
			o.nodesSet = true
			return posInt("-N/--nodes", &o.req.Nodes)(o, lo)
		}},
		{"ntasks-per-node", 0, 1, func(o *srunOpts, v string) error { return posInt("--ntasks-per-node", &o.req.TasksPerNode)(o, v) }},
		{"tasks-per-node", 0, 1, func(o *srunOpts, v string) error { return posInt("--ntasks-per-node", &o.req.TasksPerNode)(o, v) }},
		{"cpus-per-task", 'c', 1, func(o *srunOpts, v string) error { return posInt("-c/--cpus-per-task", &o.req.CPUsPerTask)(o, v) }},
		{"gpus-per-task", 0, 1, gpuCount("--gpus-per-task", func(o *srunOpts) *int { return &o.req.GPUsPerTask })},
		{"gpus", 'G', 1, gpuCount("--gpus", func(o *srunOpts) *int { return &o.req.GPUs })},
		{"gpu-bind", 0, 1, func(o *srunOpts, v string) error { o.req.GPUBind = v; return nil }},
		{"distribution", 'm', 1, func(o *srunOpts, v string) error {
			// The first level says how tasks go to nodes; the others
			// (sockets, cores) and the ,Pack/NoPack modifiers do not
			// change anything here.
			first, _, _ := strings.Cut(v, ":")
			first, _, _ = strings.Cut(first, ",")
			switch first {
			case "block", "cyclic":
				o.req.Distribution = first
			case "*":
				o.req.Distribution = "block"
			default:
				return fmt.Errorf("-m/--distribution=%s: give block or cyclic (plane and arbitrary are not supported)", v)
			}
			return nil
		}},
		{"nodelist", 'w', 1, func(o *srunOpts, v string) error {
			if strings.HasPrefix(v, "/") || strings.HasPrefix(v, "./") {
				return fmt.Errorf("-w/--nodelist=%s: give host names (a file of names is not supported)", v)
			}
			o.req.NodeList = v
			return nil
		}},
		{"exclude", 'x', 1, func(o *srunOpts, v string) error { o.req.Exclude = v; return nil }},
		{"exclusive", 0, 2, func(o *srunOpts, v string) error { o.req.Exclusive = true; return nil }},
		{"overlap", 0, 0, func(o *srunOpts, v string) error { o.req.Overlap = true; return nil }},
		{"export", 0, 1, func(o *srunOpts, v string) error { o.export = v; return nil }},
		{"label", 'l', 0, func(o *srunOpts, v string) error { o.label = true; return nil }},
		{"unbuffered", 'u', 0, accept}, // output is never buffered here
		{"pty", 0, 0, func(o *srunOpts, v string) error { o.req.PTY = true; return nil }},
		{"output", 'o', 1, func(o *srunOpts, v string) error { o.output = v; return nil }},
		{"error", 'e', 1, func(o *srunOpts, v string) error { o.errorF = v; return nil }},
		{"input", 'i', 1, func(o *srunOpts, v string) error { o.input = v; return nil }},
		{"kill-on-bad-exit", 'K', 2, func(o *srunOpts, v string) error {
			o.req.KillOnBadExit = v == "" || v != "0"
			return nil
		}},
		{"wait", 'W', 1, func(o *srunOpts, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return fmt.Errorf("-W/--wait=%s: give seconds (0: wait for every task)", v)
			}
			o.wait = time.Duration(n) * time.Second
			return nil
		}},
		{"time", 't', 1, func(o *srunOpts, v string) error {
			s, err := job.ParseTime(v)
			if err != nil {
				return fmt.Errorf("-t/--time=%s: %v", v, err)
			}
			o.req.TimeLimitS = s
			return nil
		}},
		{"job-name", 'J', 1, func(o *srunOpts, v string) error { o.req.Name = v; return nil }},
		{"chdir", 'D', 1, func(o *srunOpts, v string) error { o.req.Cwd = v; return nil }},
		{"jobid", 0, 1, func(o *srunOpts, v string) error {
			id, err := strconv.ParseInt(strings.SplitN(v, ".", 2)[0], 10, 64)
			if err != nil || id <= 0 {
				return fmt.Errorf("--jobid=%s: give a job ID", v)
			}
			o.jobID = job.ID(id)
			return nil
		}},
		{"cpu-bind", 0, 1, func(o *srunOpts, v string) error {
			// Tasks are not pinned to cores here; none (what MPI
			// launchers pass) and the verbose forms are accepted.
			return nil
		}},
		{"mpi", 0, 1, func(o *srunOpts, v string) error { o.mpiSet = true; return setMPI(o, v) }},
		{"partition", 'p', 1, func(o *srunOpts, v string) error { o.partition = v; return nil }},
		{"account", 'A', 1, func(o *srunOpts, v string) error { o.account = v; return nil }},
		{"qos", 'q', 1, func(o *srunOpts, v string) error { o.qos = v; return nil }},
		{"quiet", 'Q', 0, func(o *srunOpts, v string) error { o.quiet = true; return nil }},
		{"verbose", 'v', 0, func(o *srunOpts, v string) error { o.verbose = true; return nil }},
	}
	// NVIDIA Pyxis's container options, as sbatch takes them.
	for _, co := range job.ContainerOptions() {
		arg := 0
		if co.Arg {
			arg = 1
		}
		srunOptions = append(srunOptions, srunOption{co.Long, 0, arg, func(o *srunOpts, v string) error {
			if o.req.Container == nil {
				o.req.Container = &job.Container{}
			}
			return co.Set(o.req.Container, v)
		}})
	}
	return srunOptions
}

// parseSrun parses srun's options up to the command, as getopt does with
// REQUIRE_ORDER: the first word that is not an option starts the command.
func parseSrun(args []string) (*srunOpts, []string, error) {
	o := &srunOpts{req: api.StepRequest{Stdin: 0}}
	table := srunTable()
	find := func(long string, short byte) *srunOption {
		for i := range table {
			if (long != "" && table[i].long == long) || (short != 0 && table[i].short == short) {
				return &table[i]
			}
		}
		return nil
	}
	i := 0
	for ; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			i++
			break
		}
		if a == "-h" || a == "--help" {
			return nil, nil, errSrunHelp
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			break
		}
		if strings.HasPrefix(a, "--") {
			name, val, hasVal := strings.Cut(a[2:], "=")
			opt := find(name, 0)
			if opt == nil {
				return nil, nil, usagef("unknown option --%s; see 'srun --help' for the options Gefion's srun takes", name)
			}
			switch opt.arg {
			case 0:
				if hasVal {
					return nil, nil, usagef("--%s takes no value", name)
				}
			case 1:
				if !hasVal {
					if i+1 >= len(args) {
						return nil, nil, usagef("--%s needs a value", name)
					}
					i++
					val = args[i]
				}
			}
			if err := opt.set(o, val); err != nil {
				return nil, nil, usagef("%v", err)
			}
			continue
		}
		// Short options, possibly bundled (-lK) or with an attached value
		// (-n4).
		for k := 1; k < len(a); k++ {
			opt := find("", a[k])
			if opt == nil {
				return nil, nil, usagef("unknown option -%c; see 'srun --help' for the options Gefion's srun takes", a[k])
			}
			if opt.arg == 0 || opt.arg == 2 {
				val := ""
				if opt.arg == 2 && k+1 < len(a) {
					val, k = a[k+1:], len(a)
				}
				if err := opt.set(o, val); err != nil {
					return nil, nil, usagef("%v", err)
				}
				continue
			}
			val := a[k+1:]
			if val == "" {
				if i+1 >= len(args) {
					return nil, nil, usagef("-%c needs a value", a[k])
				}
				i++
				val = args[i]
			}
			if err := opt.set(o, val); err != nil {
				return nil, nil, usagef("%v", err)
			}
			break
		}
	}
	return o, args[i:], nil
}

var errSrunHelp = errors.New("help")

// srunConnectTimeout is how long srun waits for every node of its step to
// call back: a node whose agent lost its session never gets the launch.
var srunConnectTimeout = 60 * time.Second

const srunHelp = `Usage: srun [options] COMMAND [ARGS...]
Runs COMMAND as a job step inside the allocation named by SLURM_JOB_ID (a
batch job), on the job's nodes through their agents. Outside a job, srun
first gets an allocation of its own for the step and ends it afterwards.

  -n, --ntasks=N            tasks (default: the job's SLURM_NTASKS, else one per node)
  -N, --nodes=N             nodes of the job to use
      --ntasks-per-node=N   tasks per node
  -c, --cpus-per-task=N     CPUs per task
      --gpus-per-task=N     GPUs per task, each task bound to its own
  -G, --gpus=N              GPUs for the step, shared out over its nodes
      --gpu-bind=B          none, closest, single:N, map_gpu:LIST
  -m, --distribution=D      block or cyclic
  -w, --nodelist=LIST       use these nodes of the job
  -x, --exclude=LIST        do not use these nodes
      --exclusive           hold the step's CPUs and GPUs alone (the default)
      --overlap             share resources with the job's other steps
      --export=ALL|NONE|VARS  environment for the tasks (default ALL)
      --pty                 task 0 on a pseudo-terminal (an interactive shell: srun --pty bash)
  -l, --label               prefix each output line with its task number
  -u, --unbuffered          (output is never buffered)
  -o, --output=PATTERN      tasks' stdout to files (%j %J %s %t %n %N %u %x %%)
  -e, --error=PATTERN       tasks' stderr to files
  -i, --input=all|none|N|FILE  stdin to every task, to no task, to task N (default 0), or from a file
  -K, --kill-on-bad-exit    end the step when a task exits non-zero
  -W, --wait=S              end the step S seconds after the first task ends
  -t, --time=LIMIT          the step's own time limit
  -J, --job-name=NAME       the step's name
  -D, --chdir=DIR           the tasks' working directory
  -p, --partition=P, -A, --account=A, -q, --qos=Q
                            for srun's own allocation, outside a job
      --mpi=pmi2|none           serve PMI-1/PMI-2 to MPICH-family ranks (default: SLURM_MPI_TYPE, else the controller's MpiDefault)
      --cpu-bind=none           accepted for MPI launchers

Containers (NVIDIA Pyxis's options):
      --container-image=IMG     run the tasks in IMG: registry#image:tag, registry/image:tag,
                                or the absolute path of an OCI layout, docker-save tar or squashfs
      --container-mounts=SRC:DST[:ro],...  bind node paths into the container
      --container-workdir=DIR   the tasks' directory inside
      --container-name=NAME     keep the container for the job's later steps (writable)
      --container-env=VARS      variables whose job value wins over the image's
      --container-remap-root    be root inside (--no-container-remap-root: yourself, the default)
      --no-container-mount-home leave the home directory out (--container-mount-home: bind it, the default)
      --container-writable      a writable copy of the image (--container-readonly: the default)
`

func runSrun(e *Env, args []string) error {
	o, argv, err := parseSrun(args)
	if errors.Is(err, errSrunHelp) {
		_, _ = io.WriteString(e.Stdout, srunHelp)
		return nil
	}
	if err != nil {
		return err
	}
	if len(argv) == 0 {
		return usagef("no command: give one, e.g. srun -n 2 hostname")
	}
	o.argv = argv
	var release func()
	if o.jobID == 0 {
		if s := e.getenv("SLURM_JOB_ID"); s != "" {
			id, err := strconv.ParseInt(s, 10, 64)
			if err != nil || id <= 0 {
				return fmt.Errorf("SLURM_JOB_ID=%q is not a job ID", s)
			}
			o.jobID = job.ID(id)
		}
	}
	if o.jobID == 0 {
		// Outside an allocation: one of srun's own, for this step.
		c := newClient(e, resolveAddr(e, ""))
		id, rel, err := allocateForSrun(e, c, o)
		if err != nil {
			return err
		}
		o.jobID, release = id, rel
		defer release()
	}
	// Inside an allocation, srun takes the job's task count as its
	// default, as Slurm's does (SLURM_NTASKS is one of its input
	// variables), unless the command line shapes the step.
	if !o.tasksSet && o.req.TasksPerNode == 0 {
		if n, err := strconv.Atoi(e.getenv("SLURM_NTASKS")); err == nil && n > 0 && !o.nodesSet {
			o.req.Tasks = n
		}
	}
	if t := e.getenv("SLURM_MPI_TYPE"); t != "" && !o.mpiSet {
		if err := setMPI(o, t); err != nil {
			return usagef("SLURM_MPI_TYPE: %v", err)
		}
	}
	if o.req.CPUsPerTask == 0 {
		if n, err := strconv.Atoi(e.getenv("SLURM_CPUS_PER_TASK")); err == nil && n > 0 {
			o.req.CPUsPerTask = n
		}
	}
	o.req.Argv = argv
	if o.req.Env, err = srunEnv(e, o.export); err != nil {
		return err
	}
	if o.req.Cwd == "" {
		o.req.Cwd, _ = os.Getwd()
	}
	var stdinFile string
	switch in := o.input; {
	case in == "" || in == "0":
		o.req.Stdin = 0
	case in == "none":
		o.req.Stdin = -1
	case in == "all":
		o.req.Stdin = api.StdinAll
	default:
		if n, err := strconv.Atoi(in); err == nil {
			if n < 0 {
				return usagef("-i %s: give a task number, none, or a file", in)
			}
			o.req.Stdin = n
		} else {
			stdinFile = in
		}
	}

	addr := resolveAddr(e, "")
	c := newClient(e, addr)
	ln, err := listenForTasks(addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	o.req.IOAddr = ln.Addr().String()

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	resp, err := createStep(ctx, e, c, o)
	if err != nil {
		return err
	}
	r := &stepRun{e: e, o: o, c: c, resp: resp, ln: ln, user: currentUser(e)}
	if stdinFile != "" {
		f, err := os.Open(stdinFile)
		if err != nil {
			_ = c.CancelStep(context.Background(), o.jobID, resp.StepID, "KILL")
			return fmt.Errorf("-i %s: %v", stdinFile, err)
		}
		defer f.Close()
		r.stdin = f
	} else if o.req.Stdin >= 0 || o.req.Stdin == api.StdinAll {
		r.stdin = e.Stdin
	}
	restore := r.rawTerminal()
	defer restore()
	return r.run(ctx)
}

// createStep asks for the step; a step that must wait for the job's other
// steps asks again until it starts, as Slurm's srun does.
func createStep(ctx context.Context, e *Env, c *client.Client, o *srunOpts) (*api.StepResponse, error) {
	told := false
	for {
		resp, err := c.CreateStep(ctx, o.jobID, o.req)
		var ae *api.Error
		if errors.As(err, &ae) && ae.Code == api.CodeBusy {
			if !told && !o.quiet {
				fmt.Fprintf(e.Stderr, "srun: Job %d step creation temporarily disabled, retrying (%s)\n", o.jobID, ae.Message)
				told = true
			}
			select {
			case <-time.After(200 * time.Millisecond):
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		if err != nil {
			return nil, fmt.Errorf("unable to create step for job %d: %w", o.jobID, explain(err, c.Base))
		}
		if told && !o.quiet {
			fmt.Fprintf(e.Stderr, "srun: Step created for job %d\n", o.jobID)
		}
		return resp, nil
	}
}

// listenForTasks listens where the agents can reach srun: on loopback for
// a controller on loopback (gefion dev), else on the address this host
// uses to reach the controller.
func listenForTasks(addr string) (net.Listener, error) {
	host := "127.0.0.1"
	if u, err := url.Parse(addr); err == nil && u.Hostname() != "" {
		h := u.Hostname()
		ip := net.ParseIP(h)
		if h != "localhost" && (ip == nil || !ip.IsLoopback()) {
			port := u.Port()
			if port == "" {
				port = "80"
			}
			// A UDP "connection" sends nothing; it only asks the kernel
			// which local address routes to the controller.
			if conn, err := net.Dial("udp", net.JoinHostPort(h, port)); err == nil {
				host = conn.LocalAddr().(*net.UDPAddr).IP.String()
				conn.Close()
			}
		}
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return nil, fmt.Errorf("cannot listen for the tasks' I/O on %s: %v", host, err)
	}
	return ln, nil
}

// srunEnv is the tasks' environment as --export says.
func srunEnv(e *Env, export string) ([]string, error) {
	all := e.environ()
	if export == "" || export == "ALL" {
		return all, nil
	}
	var out []string
	for _, kv := range all {
		if strings.HasPrefix(kv, "SLURM_") {
			out = append(out, kv)
		}
	}
	if export == "NONE" {
		return out, nil
	}
	lookup := map[string]string{}
	for _, kv := range all {
		k, v, _ := strings.Cut(kv, "=")
		lookup[k] = v
	}
	for _, f := range strings.Split(export, ",") {
		switch {
		case f == "ALL":
			out = all
		case f == "NONE":
		case strings.Contains(f, "="):
			out = append(out, f)
		case f == "":
			return nil, usagef("--export=%s: an empty name; give ALL, NONE or NAME[=value],...", export)
		default:
			if v, ok := lookup[f]; ok {
				out = append(out, f+"="+v)
			}
		}
	}
	return out, nil
}

// stepRun is srun's side of a running step.
type stepRun struct {
	e     *Env
	o     *srunOpts
	c     *client.Client
	resp  *api.StepResponse
	ln    net.Listener
	user  string
	stdin io.Reader

	// pmi joins the nodes' PMI fences (--mpi=pmi2), or is nil.
	pmi *pmi.Gather

	mu       sync.Mutex
	out      *taskOutput
	exits    map[int]int // rank -> srun exit status of the task
	firstEnd chan struct{}
	endOnce  sync.Once
	killed   bool
	served   map[int]bool // node index -> its connection ended
}

func (r *stepRun) run(ctx context.Context) error {
	key, err := agent.DecodeStepKey(r.resp.IOKey)
	if err != nil {
		return err
	}
	nodes := len(r.resp.Layout)
	if r.o.req.MPI == "pmi2" {
		r.pmi = &pmi.Gather{Nodes: nodes}
	}
	r.exits, r.served = map[int]int{}, map[int]bool{}
	r.firstEnd = make(chan struct{})
	r.out = newTaskOutput(r)
	defer r.out.close()
	stdinNode := -1
	for k, n := range r.resp.Layout {
		for _, t := range n.Tasks {
			if t == r.o.req.Stdin {
				stdinNode = k
			}
		}
	}

	// Slurm's rule: the first Ctrl-C only reports the step's state; a
	// second within a second ends its tasks. TERM and HUP end them at once.
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	go func() {
		var lastInt time.Time
		for {
			select {
			case s := <-sigs:
				if s == syscall.SIGINT && time.Since(lastInt) > time.Second {
					lastInt = time.Now()
					fmt.Fprintf(r.e.Stderr, "srun: interrupt (one more within 1 sec to abort)\n")
					fmt.Fprintf(r.e.Stderr, "srun: %s\n", r.progress())
					continue
				}
				if !r.o.quiet {
					fmt.Fprintf(r.e.Stderr, "srun: forcing job step %d.%d to end (%v)\n", r.resp.JobID, r.resp.StepID, s)
				}
				r.cancelStep("")
			case <-ctx.Done():
				return
			}
		}
	}()
	if r.o.wait > 0 {
		go func() {
			select {
			case <-r.firstEnd:
			case <-ctx.Done():
				return
			}
			select {
			case <-time.After(r.o.wait):
				fmt.Fprintf(r.e.Stderr, "srun: first task ended %s ago; ending the step (-W/--wait)\n", r.o.wait)
				r.cancelStep("")
			case <-ctx.Done():
			}
		}()
	}

	// Accept one verified connection per node. If a node never calls
	// (its agent could not start the step), the controller's record says
	// so: check it while waiting.
	conns := make([]net.Conn, nodes)
	accepted := make(chan struct {
		k int
		c net.Conn
	}, nodes)
	go func() {
		for {
			conn, err := r.ln.Accept()
			if err != nil {
				return
			}
			go func() {
				_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
				h, err := agent.SrunHandshake(conn, key)
				if err != nil || h.JobID != r.resp.JobID || h.StepID != r.resp.StepID || h.NodeIndex < 0 || h.NodeIndex >= nodes {
					conn.Close()
					return
				}
				_ = conn.SetDeadline(time.Time{})
				accepted <- struct {
					k int
					c net.Conn
				}{h.NodeIndex, conn}
			}()
		}
	}()
	var wg sync.WaitGroup
	check := time.NewTicker(2 * time.Second)
	defer check.Stop()
	giveUp := time.After(srunConnectTimeout)
	for got := 0; got < nodes; {
		select {
		case <-giveUp:
			var missing []string
			for k, c := range conns {
				if c == nil {
					missing = append(missing, r.resp.Layout[k].Node)
				}
			}
			fmt.Fprintf(r.e.Stderr, "srun: error: node(s) %s did not start step %d.%d within %s (is their agent up? see 'gefion nodes'); ending the step\n",
				strings.Join(missing, ","), r.resp.JobID, r.resp.StepID, srunConnectTimeout)
			r.cancelStep("KILL")
			for _, c := range conns {
				if c != nil {
					c.Close()
				}
			}
			wg.Wait()
			return &ExitError{Code: 1}
		case a := <-accepted:
			if conns[a.k] != nil {
				a.c.Close()
				continue
			}
			conns[a.k] = a.c
			got++
			wg.Add(1)
			go func() {
				defer wg.Done()
				r.serve(a.k, a.c)
				r.mu.Lock()
				r.served[a.k] = true
				r.mu.Unlock()
			}()
			if a.k == stdinNode && r.o.req.PTY {
				go r.forwardWinsize(ctx, a.c)
			}
			if a.k == stdinNode && r.stdin != nil {
				go r.forwardStdin(a.c)
			}
			if got == nodes && r.o.req.Stdin == api.StdinAll && r.stdin != nil {
				go r.forwardStdinAll(conns)
			}
		case <-check.C:
			if st := r.stepState(ctx); st != nil && st.State.Final() {
				fmt.Fprintf(r.e.Stderr, "srun: error: step %d.%d ended (%s) before all its nodes called back\n", st.JobID, st.StepID, st.State)
				for _, c := range conns {
					if c != nil {
						c.Close()
					}
				}
				wg.Wait()
				return &ExitError{Code: max(1, st.ExitCode)}
			}
		}
	}
	r.waitServed(ctx, conns, &wg)
	code := 0
	for _, t := range r.allTasks() {
		x, ok := r.exits[t]
		if !ok {
			x = 1 // the node's connection ended without the task's end
		}
		code = max(code, x)
	}
	if code != 0 {
		return &ExitError{Code: code}
	}
	return nil
}

// nodeFailGrace is how long srun keeps reading the other nodes of a step
// whose node failed: their tasks are being killed with the job.
var nodeFailGrace = 3 * time.Second

// waitServed waits until every node's connection has ended. A node that
// is lost (its host down, its network cut) may never close its
// connection, so srun also asks, now and then, whether the controller
// ended the step for a node failure, and then stops waiting, as Slurm's
// srun does ("Node failure on ...").
func (r *stepRun) waitServed(ctx context.Context, conns []net.Conn, wg *sync.WaitGroup) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	check := time.NewTicker(2 * time.Second)
	defer check.Stop()
	for {
		select {
		case <-done:
			return
		case <-check.C:
			st := r.stepState(ctx)
			if st == nil || st.State != job.NodeFail {
				continue
			}
			select {
			case <-done:
			case <-time.After(nodeFailGrace):
			}
			var lost []string
			r.mu.Lock()
			for k, n := range r.resp.Layout {
				if !r.served[k] {
					lost = append(lost, n.Node)
				}
			}
			r.mu.Unlock()
			if len(lost) > 0 {
				fmt.Fprintf(r.e.Stderr, "srun: error: Node failure on %s\n", strings.Join(lost, ","))
			}
			fmt.Fprintf(r.e.Stderr, "srun: error: step %d.%d ended with a node failure (%s)\n", st.JobID, st.StepID, st.State)
			for _, c := range conns {
				if c != nil {
					c.Close()
				}
			}
			<-done
			return
		}
	}
}

// progress says which of the step's tasks have ended and which still run,
// as srun's first Ctrl-C does: "StepId=12.0 tasks 0-5: running, tasks
// 6-7: exited".
func (r *stepRun) progress() string {
	var running, exited []int
	r.mu.Lock()
	for _, t := range r.allTasks() {
		if _, ok := r.exits[t]; ok {
			exited = append(exited, t)
		} else {
			running = append(running, t)
		}
	}
	r.mu.Unlock()
	var parts []string
	for _, g := range []struct {
		tasks []int
		what  string
	}{{running, "running"}, {exited, "exited"}} {
		if len(g.tasks) > 0 {
			parts = append(parts, "tasks "+rankRanges(g.tasks)+": "+g.what)
		}
	}
	return fmt.Sprintf("StepId=%d.%d %s", r.resp.JobID, r.resp.StepID, strings.Join(parts, ", "))
}

// rankRanges writes sorted ranks as Slurm does: 0-3,6.
func rankRanges(ranks []int) string {
	slices.Sort(ranks)
	var b strings.Builder
	for i := 0; i < len(ranks); {
		j := i
		for j+1 < len(ranks) && ranks[j+1] == ranks[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(ranks[i]))
		if j > i {
			b.WriteString("-" + strconv.Itoa(ranks[j]))
		}
		i = j + 1
	}
	return b.String()
}

func (r *stepRun) allTasks() []int {
	var out []int
	for _, n := range r.resp.Layout {
		out = append(out, n.Tasks...)
	}
	return out
}

func (r *stepRun) stepState(ctx context.Context) *api.Step {
	steps, err := r.c.Steps(ctx, r.resp.JobID)
	if err != nil {
		return nil
	}
	for i := range steps {
		if steps[i].StepID == r.resp.StepID {
			return &steps[i]
		}
	}
	return nil
}

func (r *stepRun) cancelStep(sig string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.c.CancelStep(ctx, r.resp.JobID, r.resp.StepID, sig); err != nil && !r.o.quiet {
		fmt.Fprintf(r.e.Stderr, "srun: could not cancel step %d.%d: %v\n", r.resp.JobID, r.resp.StepID, explain(err, r.c.Base))
	}
}

// serve reads one node's frames until its FrameDone or the connection
// ends.
func (r *stepRun) serve(node int, conn net.Conn) {
	defer conn.Close()
	fr := agent.NewFrameReader(conn)
	var buf []byte
	// A node's PMI pairs arrive in chunks before its fence frame; srun
	// answers once every node has entered the fence.
	puts := map[string]string{}
	fw := agent.NewFrameWriter(conn)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for {
		var f agent.Frame
		var err error
		f, buf, err = fr.Read(buf)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				fmt.Fprintf(r.e.Stderr, "srun: error: lost the connection to node %s: %v\n", r.resp.Layout[node].Node, err)
			}
			return
		}
		switch f.Type {
		case agent.FramePMIPuts, agent.FramePMIFence:
			if r.pmi == nil {
				fmt.Fprintf(r.e.Stderr, "srun: error: node %s sent PMI traffic to a step without --mpi=pmi2\n", r.resp.Layout[node].Node)
				return
			}
			if f.Type == agent.FramePMIPuts {
				if err := pmi.DecodePairs(f.Payload, puts); err != nil {
					fmt.Fprintf(r.e.Stderr, "srun: error: node %s: %v\n", r.resp.Layout[node].Node, err)
					return
				}
				continue
			}
			mine := puts
			puts = map[string]string{}
			go func() {
				all, err := r.pmi.Contribute(ctx, mine)
				if err == nil {
					_ = agent.WritePMIPairs(fw, agent.FramePMIKVS, agent.FramePMIFenceDone, all)
				}
			}()
		case agent.FrameStdout, agent.FrameStderr:
			r.out.write(f.Task, node, f.Type == agent.FrameStderr, f.Payload)
		case agent.FrameError:
			fmt.Fprintf(r.e.Stderr, "srun: error: %s\n", f.Payload)
		case agent.FrameExit:
			code, sig, err := agent.ParseExit(f.Payload)
			if err != nil {
				continue
			}
			r.out.flushTask(f.Task)
			status := code
			if sig != "" {
				status = 128 + signalNum(sig)
				if !r.o.quiet {
					fmt.Fprintf(r.e.Stderr, "srun: error: %s: task %d: %s\n", r.resp.Layout[node].Node, f.Task, signalText(sig))
				}
			} else if code != 0 && !r.o.quiet && !r.o.req.PTY {
				// (With --pty the terminal is still raw here, and a shell's
				// exit status is no error to report.)
				fmt.Fprintf(r.e.Stderr, "srun: error: %s: task %d: Exited with exit code %d\n", r.resp.Layout[node].Node, f.Task, code)
			}
			r.mu.Lock()
			r.exits[f.Task] = status
			kill := r.o.req.KillOnBadExit && status != 0 && !r.killed
			if kill {
				r.killed = true
			}
			r.mu.Unlock()
			r.endOnce.Do(func() { close(r.firstEnd) })
			if kill {
				go r.cancelStep("")
			}
		case agent.FrameDone:
			return
		}
	}
}

// forwardStdin sends srun's stdin to the stdin task's node.
func (r *stepRun) forwardStdin(conn net.Conn) {
	fw := agent.NewFrameWriter(conn)
	buf := make([]byte, 32<<10)
	for {
		n, err := r.stdin.Read(buf)
		if n > 0 {
			if fw.Write(agent.FrameStdin, r.o.req.Stdin, buf[:n]) != nil {
				return
			}
		}
		if err != nil {
			_ = fw.Write(agent.FrameStdinEOF, r.o.req.Stdin, nil)
			return
		}
	}
}

// forwardStdinAll sends srun's stdin to every task of every node (-i
// all), once all the nodes have called back.
func (r *stepRun) forwardStdinAll(conns []net.Conn) {
	fws := make([]*agent.FrameWriter, len(conns))
	for k, c := range conns {
		fws[k] = agent.NewFrameWriter(c)
	}
	buf := make([]byte, 32<<10)
	for {
		n, err := r.stdin.Read(buf)
		for _, fw := range fws {
			if n > 0 {
				_ = fw.Write(agent.FrameStdin, api.StdinAll, buf[:n])
			}
			if err != nil {
				_ = fw.Write(agent.FrameStdinEOF, api.StdinAll, nil)
			}
		}
		if err != nil {
			return
		}
	}
}

func signalNum(name string) int {
	if n, _, err := job.SignalNumber(name); err == nil {
		return n
	}
	if n, err := strconv.Atoi(name); err == nil {
		return n
	}
	return 9
}

func signalText(name string) string {
	switch name {
	case "KILL":
		return "Killed"
	case "TERM":
		return "Terminated"
	case "SEGV":
		return "Segmentation fault"
	case "ABRT":
		return "Aborted"
	case "INT":
		return "Interrupt"
	}
	return "Killed by signal " + name
}

// taskOutput writes the tasks' output where -o/-e/-l say: srun's own
// stdout and stderr by default, files named by patterns otherwise. With
// -l, each line starts with its task's rank, and a task's partial line
// waits for its end of line (or the task's end).
type taskOutput struct {
	r       *stepRun
	mu      sync.Mutex
	files   map[string]*os.File
	partial map[[2]int][]byte // (task, stream) -> incomplete line
	failed  map[string]bool
}

func newTaskOutput(r *stepRun) *taskOutput {
	return &taskOutput{r: r, files: map[string]*os.File{}, partial: map[[2]int][]byte{}, failed: map[string]bool{}}
}

func (t *taskOutput) dest(task, node int, stderr bool) io.Writer {
	pattern := t.r.o.output
	if stderr && t.r.o.errorF != "" {
		pattern = t.r.o.errorF
	}
	if pattern == "" {
		if stderr {
			return t.r.e.Stderr
		}
		return t.r.e.Stdout
	}
	if pattern == "none" || pattern == "/dev/null" {
		return io.Discard
	}
	path := expandStepPattern(pattern, t.r, task, node)
	if f := t.files[path]; f != nil {
		return f
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		if !t.failed[path] {
			t.failed[path] = true
			fmt.Fprintf(t.r.e.Stderr, "srun: error: cannot open %s for task %d's output: %v\n", path, task, err)
		}
		return io.Discard
	}
	t.files[path] = f
	return f
}

func (t *taskOutput) write(task, node int, stderr bool, p []byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	w := t.dest(task, node, stderr)
	if !t.r.o.label {
		_, _ = w.Write(p)
		return
	}
	s := 0
	if stderr {
		s = 1
	}
	k := [2]int{task, s}
	buf := append(t.partial[k], p...)
	prefix := t.label(task)
	var out bytes.Buffer
	for {
		i := bytes.IndexByte(buf, '\n')
		if i < 0 {
			break
		}
		out.WriteString(prefix)
		out.Write(buf[:i+1])
		buf = buf[i+1:]
	}
	t.partial[k] = append([]byte(nil), buf...)
	if out.Len() > 0 {
		_, _ = w.Write(out.Bytes())
	}
}

// flushTask writes a task's unfinished lines at its end.
func (t *taskOutput) flushTask(task int) {
	if !t.r.o.label {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for s := range 2 {
		k := [2]int{task, s}
		if b := t.partial[k]; len(b) > 0 {
			node := 0
			for n, sn := range t.r.resp.Layout {
				for _, x := range sn.Tasks {
					if x == task {
						node = n
					}
				}
			}
			w := t.dest(task, node, s == 1)
			_, _ = w.Write([]byte(t.label(task) + string(b) + "\n"))
			delete(t.partial, k)
		}
	}
}

// label is a line's prefix under -l: the task's rank, right-aligned to
// the widest rank of the step, as Slurm's srun writes it (" 3: " among
// 12 tasks).
func (t *taskOutput) label(task int) string {
	s := strconv.Itoa(task)
	for w := len(strconv.Itoa(max(t.r.resp.Tasks-1, 0))); len(s) < w; {
		s = " " + s
	}
	return s + ": "
}

func (t *taskOutput) close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, f := range t.files {
		f.Close()
	}
}

// expandStepPattern expands srun's filename patterns: %j job, %J
// job.step, %s step, %t task, %n node (in the step), %N node name, %u
// user, %x job name, %% a percent sign.
func expandStepPattern(p string, r *stepRun, task, node int) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] != '%' || i+1 == len(p) {
			b.WriteByte(p[i])
			continue
		}
		i++
		// Slurm allows a zero-padding width: %3t.
		width := 0
		for i < len(p) && p[i] >= '0' && p[i] <= '9' {
			width = width*10 + int(p[i]-'0')
			i++
		}
		if i == len(p) {
			break
		}
		pad := func(n int) string {
			s := strconv.Itoa(n)
			for len(s) < width {
				s = "0" + s
			}
			return s
		}
		switch p[i] {
		case 'j':
			b.WriteString(pad(int(r.resp.JobID)))
		case 'J':
			b.WriteString(strconv.FormatInt(int64(r.resp.JobID), 10) + "." + strconv.Itoa(r.resp.StepID))
		case 's':
			b.WriteString(pad(r.resp.StepID))
		case 't':
			b.WriteString(pad(task))
		case 'n':
			b.WriteString(pad(node))
		case 'N':
			b.WriteString(r.resp.Layout[node].Node)
		case 'u':
			b.WriteString(r.user)
		case 'x':
			name := r.e.getenv("SLURM_JOB_NAME")
			if name == "" {
				name = r.o.req.Name
			}
			b.WriteString(name)
		case '%':
			b.WriteByte('%')
		default:
			b.WriteByte('%')
			b.WriteByte(p[i])
		}
	}
	return b.String()
}
