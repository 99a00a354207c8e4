package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/client"
	"github.com/gefion-hpc/gefion/internal/cluster"
	"github.com/gefion-hpc/gefion/internal/job"
	"github.com/gefion-hpc/gefion/internal/quantum"
	"github.com/gefion-hpc/gefion/internal/textsafe"
)

// exportEnv returns the environment a job gets under --export: ALL (the
// default) is the whole submit-time environment; NONE is none; otherwise a
// list of names and NAME=value pairs, with ALL or NONE first to start from.
func exportEnv(export string, env []string) []string {
	if export == "" || strings.EqualFold(export, "ALL") {
		return env
	}
	items := strings.Split(export, ",")
	var out []string
	start := 0
	switch strings.ToUpper(items[0]) {
	case "ALL":
		out = append(out, env...)
		start = 1
	case "NONE", "NIL":
		start = 1
	}
	lookup := map[string]string{}
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok {
			lookup[k] = v
		}
	}
	for _, it := range items[start:] {
		if it == "" {
			continue
		}
		if strings.Contains(it, "=") {
			out = append(out, it)
		} else if v, ok := lookup[it]; ok {
			out = append(out, it+"="+v)
		}
	}
	return out
}

func init() {
	register(&command{path: "sbatch", summary: "submit a batch script (Slurm's sbatch options and #SBATCH lines)", run: runSbatch})
}

// defaultAddr is the controller's address when neither --addr nor
// GEFION_ADDR says.
const defaultAddr = client.DefaultAddr

// sbatchNow is the clock sbatch reads (for --begin and the estimate); tests
// replace it.
var sbatchNow = time.Now

// StartEstimator estimates when a job would start. The controller's client
// implements it; until one is reachable, emptyCluster answers for a machine
// with nothing running.
type StartEstimator interface {
	// EstimateStart returns the estimated start of a job with this spec
	// and resolved shape; ok is false when no start is in view (a held
	// job, or one the plan cannot place).
	EstimateStart(spec *job.Spec, req job.Request, now time.Time) (start time.Time, ok bool, err error)
}

// estimator is the seam the controller fills for --test-only.
var estimator StartEstimator = emptyCluster{}

// emptyCluster estimates starts on an idle machine: now, or the job's
// --begin time if later; never for a held job.
type emptyCluster struct{}

var _ StartEstimator = emptyCluster{}

func (emptyCluster) EstimateStart(spec *job.Spec, _ job.Request, now time.Time) (time.Time, bool, error) {
	if spec.Hold {
		return time.Time{}, false, nil
	}
	if spec.BeginS > now.Unix() {
		return time.Unix(spec.BeginS, 0).In(now.Location()), true, nil
	}
	return now, true, nil
}

// ErrNoController is returned when a command needs the controller and
// cannot reach it.
var ErrNoController = errors.New("cannot reach the controller")

// submitJob submits a checked job to the controller at addr and returns its
// ID; tests replace it.
var submitJob = func(e *Env, addr string, spec *job.Spec) (job.ID, error) {
	resp, err := submitRemote(e, addr, spec)
	if err != nil {
		return 0, err
	}
	return resp.ID, nil
}

// controllerEstimate asks the controller at addr to check the job and
// estimate its start without submitting it; tests replace it.
var controllerEstimate = func(e *Env, addr string, spec *job.Spec) (*api.SubmitResponse, error) {
	c := newClient(e, addr)
	ctx, cancel := ctxTimeout()
	defer cancel()
	return c.Submit(ctx, api.SubmitRequest{Spec: *spec, TestOnly: true}, "")
}

// sbatchFlags are gefion's own options, beside Slurm's.
type sbatchFlags struct {
	json          bool
	addr          string
	preset        string
	clusterConfig string
}

func runSbatch(e *Env, args []string) error {
	var f sbatchFlags
	p := &job.Parser{
		Now: sbatchNow,
		Extra: []job.ExtraOption{
			{Name: "json", Set: func(string) error { f.json = true; return nil }},
			{Name: "addr", HasArg: true, Set: func(v string) error { f.addr = v; return nil }},
			{Name: "preset", HasArg: true, Set: func(v string) error { f.preset = v; return nil }},
			{Name: "cluster-config", HasArg: true, Set: func(v string) error { f.clusterConfig = v; return nil }},
		},
	}
	// First pass over the command line: find the script and the options
	// that steer the command. sbatch reads the options twice so that the
	// command line overrides the script.
	var scratch job.Spec
	rest, warns, err := p.Args(args, &scratch)
	if err != nil {
		return &UsageError{Msg: err.Error() + "\nRun 'gefion sbatch --help' for the options."}
	}
	sub := p.Submission
	firstVerbose := sub.Verbose
	if sub.Help {
		printSbatchHelp(e.Stdout)
		return nil
	}
	if sub.Version {
		fmt.Fprintf(e.Stdout, "gefion sbatch %s\n", Version)
		return nil
	}

	var script []byte
	var name string
	var argv []string
	switch {
	case sub.WrapSet:
		if len(rest) > 0 {
			return usagef("script arguments are not allowed with --wrap: put the whole command in --wrap")
		}
		name, script = "--wrap", job.WrapScript(sub.Wrap)
	case len(rest) > 0:
		name, argv = rest[0], rest[1:]
		fh, err := os.Open(name)
		if err != nil {
			return fmt.Errorf("cannot read batch script: %w", err)
		}
		script, err = readScript(fh, name)
		fh.Close()
		if err != nil {
			return err
		}
	default:
		if e.Stdin == nil {
			return usagef("no batch script: give a file, pipe one on standard input, or use --wrap")
		}
		name = "stdin"
		if script, err = readScript(e.Stdin, name); err != nil {
			return err
		}
	}

	spec := &job.Spec{}
	w, err := p.Script(script, spec)
	warns = append(warns, w...)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if w, err = p.Environment(e.getenv, spec); err != nil {
		return err
	}
	warns = append(warns, w...)
	if _, w, err = p.Args(args, spec); err != nil {
		return &UsageError{Msg: err.Error()}
	}
	warns = append(warns, w...)
	spec.Argv = argv
	spec.User = currentUser(e)
	spec.Env = exportEnv(spec.Export, e.environ())
	if wd, err := os.Getwd(); err == nil && spec.SubmitDir == "" {
		spec.SubmitDir = wd
	}
	if h, err := os.Hostname(); err == nil {
		spec.SubmitHost = h
	}
	p.Submission.Verbose -= firstVerbose // the command line was read twice
	sub = p.Submission

	if !sub.Quiet {
		for _, w := range warns {
			fmt.Fprintf(e.Stderr, "sbatch: warning: %s\n", textsafe.Field(w.String()))
		}
	}

	addr := resolveAddr(e, f.addr)
	local := f.preset != "" || f.clusterConfig != ""
	if sub.TestOnly && !local {
		// The controller knows the machine and its queue: ask it.
		resp, err := controllerEstimate(e, addr, spec)
		switch {
		case err == nil:
			c, cerr := loadCluster("", "")
			if cerr != nil {
				return cerr
			}
			start, ok := time.Unix(resp.EstimatedStart, 0), resp.EstimatedStart != 0
			if f.json {
				return writeJSON(e.Stdout, testOnlyJSON(spec, resp.Request, c, start, ok, warns))
			}
			printTestOnly(e.Stdout, spec, resp.Request, c, start, ok)
			return nil
		case !errors.Is(err, client.ErrUnreachable):
			return fmt.Errorf("job rejected: %w", explain(err, addr))
		}
		if !sub.Quiet {
			fmt.Fprintf(e.Stderr, "sbatch: no controller at %s; checking against the gefion preset on an idle machine\n", addr)
		}
	}
	if sub.TestOnly {
		c, err := loadCluster(f.preset, f.clusterConfig)
		if err != nil {
			return err
		}
		if err := quantum.ApplyToSpec(spec, c); err != nil {
			return fmt.Errorf("job rejected: --qubits=%d: %w", spec.Qubits, err)
		}
		req, err := job.Resolve(spec, c)
		if err != nil {
			return fmt.Errorf("job rejected: %w", err)
		}
		now := sbatchNow()
		start, ok, err := estimator.EstimateStart(spec, req, now)
		if err != nil {
			return fmt.Errorf("estimating the start: %w", err)
		}
		if f.json {
			return writeJSON(e.Stdout, testOnlyJSON(spec, req, c, start, ok, warns))
		}
		printTestOnly(e.Stdout, spec, req, c, start, ok)
		return nil
	}
	if local {
		// Check against the named machine before submitting.
		c, err := loadCluster(f.preset, f.clusterConfig)
		if err != nil {
			return err
		}
		if _, err := job.Resolve(spec, c); err != nil {
			return fmt.Errorf("job rejected: %w", err)
		}
	}
	id, err := submitJob(e, addr, spec)
	if err != nil {
		return err
	}
	switch {
	case sub.Parsable:
		fmt.Fprintf(e.Stdout, "%d\n", id)
	case f.json:
		return writeJSON(e.Stdout, map[string]any{"job_id": id})
	default:
		fmt.Fprintf(e.Stdout, "Submitted batch job %d\n", id)
	}
	if sub.Wait {
		return waitJob(e, addr, id)
	}
	return nil
}

// readScript reads a script of at most job.MaxScriptSize bytes.
func readScript(r io.Reader, name string) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, job.MaxScriptSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading batch script %s: %w", name, err)
	}
	if len(b) > job.MaxScriptSize {
		return nil, fmt.Errorf("%s: %w: more than %d bytes (4 MiB); keep data out of the script and read it from a file", name, job.ErrScriptTooLarge, job.MaxScriptSize)
	}
	return b, nil
}

// testOnlyOutput is the --test-only --json document (DESIGN.md's
// contract). Pointers are null where the script does not say.
type testOnlyOutput struct {
	Name           *string       `json:"name"`
	NodesMin       *int          `json:"nodes_min"`
	NodesMax       *int          `json:"nodes_max"`
	NTasks         *int          `json:"ntasks"`
	NTasksPerNode  *int          `json:"ntasks_per_node"`
	CPUsPerTask    *int          `json:"cpus_per_task"`
	GPUs           *int          `json:"gpus"`
	GPUsPerNode    *int          `json:"gpus_per_node"`
	GPUsPerTask    *int          `json:"gpus_per_task"`
	GPUType        *string       `json:"gpu_type"`
	TimeLimitS     *int64        `json:"time_limit_s"`
	Account        *string       `json:"account"`
	Partition      []string      `json:"partition"`
	QOS            *string       `json:"qos"`
	Array          *string       `json:"array"`
	ArrayTasks     *int          `json:"array_tasks"`
	Dependency     *string       `json:"dependency"`
	Signal         *string       `json:"signal"`
	Exclusive      *bool         `json:"exclusive"`
	Requeue        *bool         `json:"requeue"`
	Output         *string       `json:"output"`
	Error          *string       `json:"error"`
	Mem            *string       `json:"mem"`
	Begin          *string       `json:"begin"`
	Hold           bool          `json:"hold"`
	Nice           int           `json:"nice"`
	EstimatedStart *string       `json:"estimated_start"`
	Resolved       job.Request   `json:"resolved"`
	PartitionName  string        `json:"resolved_partition"`
	Warnings       []job.Warning `json:"warnings"`
}

func strOrNil(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func intOrNil(n int) *int {
	if n == 0 {
		return nil
	}
	return &n
}

func testOnlyJSON(s *job.Spec, req job.Request, c *cluster.Cluster, start time.Time, ok bool, warns []job.Warning) testOnlyOutput {
	o := testOnlyOutput{
		Name: strOrNil(s.Name), NodesMin: intOrNil(s.NodesMin), NodesMax: intOrNil(s.NodesMax),
		NTasks: intOrNil(s.NTasks), NTasksPerNode: intOrNil(s.NTasksPerNode), CPUsPerTask: intOrNil(s.CPUsPerTask),
		GPUs: intOrNil(s.GPUs), GPUsPerNode: intOrNil(s.GPUsPerNode), GPUsPerTask: intOrNil(s.GPUsPerTask),
		GPUType: strOrNil(s.GPUType), Account: strOrNil(s.Account), Partition: s.Partitions,
		QOS: strOrNil(s.QOS), Array: strOrNil(s.Array), Dependency: strOrNil(s.Dependency),
		Signal: strOrNil(s.Signal), Requeue: s.Requeue, Output: strOrNil(s.Output),
		Error: strOrNil(s.Error), Mem: strOrNil(s.Mem), Hold: s.Hold, Nice: s.Nice,
		Resolved: req, PartitionName: c.Partitions[req.Partition].Name, Warnings: warns,
	}
	if o.Warnings == nil {
		o.Warnings = []job.Warning{}
	}
	if s.NodesMax == 0 && s.NodesMin > 0 {
		o.NodesMax = intOrNil(s.NodesMin) // --nodes=N is N to N
	}
	if s.TimeLimitS > 0 {
		t := s.TimeLimitS
		o.TimeLimitS = &t
	}
	if s.Exclusive {
		t := true
		o.Exclusive = &t
	}
	if s.Array != "" {
		if a, err := job.ParseArray(s.Array, 0); err == nil {
			n := a.Len()
			o.ArrayTasks = &n
		}
	}
	if s.BeginS > 0 {
		b := time.Unix(s.BeginS, 0).In(start.Location()).Format(time.RFC3339)
		o.Begin = &b
	}
	if ok {
		st := start.Format(time.RFC3339)
		o.EstimatedStart = &st
	}
	return o
}

func printTestOnly(w io.Writer, s *job.Spec, req job.Request, c *cluster.Cluster, start time.Time, ok bool) {
	name := s.Name
	if name == "" {
		name = "(unnamed)"
	}
	gpuType := req.GPUType
	if gpuType == "" {
		gpuType = "GPUs"
	}
	fmt.Fprintf(w, "Job %s checked; nothing was submitted.\n", textsafe.Field(name))
	shape := fmt.Sprintf("%d node(s)", req.Nodes)
	if req.GPUsPerNode > 0 {
		shape += fmt.Sprintf(" x %d %s (%d in all)", req.GPUsPerNode, gpuType, req.GPUs())
	}
	whole := ""
	if req.WholeNodes {
		whole = ", whole nodes"
	}
	fmt.Fprintf(w, "  shape       %s, %d CPUs and %d MiB per node%s\n", textsafe.Field(shape), req.CPUsPerNode, req.MemPerNodeMB, whole)
	fmt.Fprintf(w, "  partition   %s\n", textsafe.Field(c.Partitions[req.Partition].Name))
	fmt.Fprintf(w, "  time limit  %s\n", job.FormatTime(req.TimeLimitS))
	if s.Account != "" {
		fmt.Fprintf(w, "  account     %s\n", textsafe.Field(s.Account))
	}
	if s.QOS != "" {
		fmt.Fprintf(w, "  qos         %s\n", textsafe.Field(s.QOS))
	}
	if s.Array != "" {
		fmt.Fprintf(w, "  array       %s\n", textsafe.Field(s.Array))
	}
	if s.Dependency != "" {
		fmt.Fprintf(w, "  dependency  %s\n", textsafe.Field(s.Dependency))
	}
	if s.Signal != "" {
		fmt.Fprintf(w, "  signal      %s\n", textsafe.Field(s.Signal))
	}
	if req.MaxSUs > 0 {
		fmt.Fprintf(w, "  switches    at most %d scalable unit(s), waiting up to %s\n", req.MaxSUs, job.FormatTime(req.MaxSUsWaitS))
	}
	if ok {
		fmt.Fprintf(w, "  would start %s\n", start.Format(time.RFC3339))
	} else {
		fmt.Fprintf(w, "  would start not in view (held, or waiting on something outside the plan)\n")
	}
}

func printSbatchHelp(w io.Writer) {
	fmt.Fprint(w, strings.TrimLeft(`
Usage: gefion sbatch [options] [SCRIPT [ARGS...]]
       gefion sbatch [options] --wrap "COMMAND"

Submits a batch script, read from SCRIPT or from standard input. Every
option of Slurm's sbatch is accepted, on the command line and on #SBATCH
lines before the script's first command; options that mean nothing here
are reported once as warnings. Command-line options override SBATCH_*
environment variables, which override #SBATCH lines.

Common options:
  -J, --job-name=NAME        -A, --account=PROJECT      -p, --partition=P[,P]
  -q, --qos=QOS              -t, --time=TIME (min, m:s, h:m:s, d-h, d-h:m, d-h:m:s)
  -N, --nodes=MIN[-MAX]      -n, --ntasks=N             --ntasks-per-node=N
  -c, --cpus-per-task=N      -G, --gpus=[TYPE:]N        --gpus-per-node=[TYPE:]N
  --gpus-per-task=[TYPE:]N   --gres=gpu[:TYPE]:N        --mem=SIZE[K|M|G|T]
  --mem-per-cpu=SIZE         --mem-per-gpu=SIZE         --exclusive
  --switches=N[@TIME]        -d, --dependency=LIST      -a, --array=LIST[%N]
  --requeue, --no-requeue    --signal=[{R|B}:]SIG[@SECS]
  -b, --begin=TIME           -H, --hold                 --nice[=N]
  -o, --output=PATTERN       -e, --error=PATTERN        -D, --chdir=DIR
  --qubits=N --qpu-backend=nvidia|mgpu|tensornet|cpu --qpu-precision=single|double
  --container-image=IMAGE    --container-mounts=SRC:DST[:ro],...  (NVIDIA Pyxis's;
  --container-workdir=DIR    --container-name=NAME      --container-env=VARS
  --container-remap-root     --no-container-mount-home  --container-writable)
  --test-only                --parsable                 --wrap=COMMAND

Gefion's own:
  --json                     print JSON (with --test-only: the parsed job)
  --addr=URL                 controller (default $GEFION_ADDR or `+defaultAddr+`)
  --preset=NAME              cluster to check against with --test-only (default gefion)
  --cluster-config=FILE      cluster description file instead of a preset

Scripts may be at most 4 MiB (Slurm's default max_script_size).
`, "\n"))
}
