package job

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"

	"github.com/gefion-hpc/gefion/internal/hostlist"
)

// This file is the table of Slurm's sbatch options (taken from the sbatch
// man page and the option table of Slurm's command line tools), what each
// does to a Spec, and the SBATCH_* input environment variables. Options
// that mean nothing on this machine are still accepted, their values
// checked as Slurm checks them, and reported once as a Warning.

type argKind uint8

const (
	noArg argKind = iota
	requiredArg
	optionalArg // only as --opt=value or -ovalue, as getopt_long does
)

// option is one sbatch option.
type option struct {
	long  string
	short byte
	arg   argKind
	// alias is the canonical name when this is a second name for an
	// option (--tasks-per-node for --ntasks-per-node); getopt_long does
	// not find a prefix of both ambiguous.
	alias string
	// set applies the option; has reports whether a value was given (it
	// matters for optional values).
	set func(a *apply, v string, has bool) error
	// noEffect, when set, is why the option does nothing here.
	noEffect string
}

func (o *option) id() string {
	if o.alias != "" {
		return o.alias
	}
	return o.long
}

// Reasons shared by several options.
const (
	whyBinding  = "tasks and GPUs are bound by the node agent, which keeps each task on its GPUs' NUMA node"
	whyNodeHW   = "nodes are allocated whole for multi-node jobs and by GPU otherwise; CPU topology requests are not used"
	whyNoBB     = "there are no burst buffers"
	whyOneClus  = "this controller runs one cluster"
	whyAcct     = "energy and usage are always accounted per job by the node agent"
	whyFreq     = "clock frequencies are not changed per job"
	whyNoResv   = "there are no advance reservations"
	whyNoSteps  = "job steps are run by srun inside the job, not by the controller"
	whyNoCont   = "containers are started by the job script itself"
	whyNetwork  = "the InfiniBand rails are shared by all jobs"
	whyOperator = "only operators may set it, through the controller"
)

// optionTable is the table. Order does not matter except for messages. It
// is built on first use: many entries are closures made by calls
// (setString, check), which would otherwise run at package
// initialisation in every gefion command.
var optionTable = sync.OnceValue(func() []option {
	return append(baseOptions(), containerOptions()...)
})

// containerOptions are Pyxis's container options as sbatch options.
func containerOptions() []option {
	var out []option
	for _, co := range ContainerOptions() {
		arg := noArg
		if co.Arg {
			arg = requiredArg
		}
		out = append(out, option{long: co.Long, arg: arg, set: func(a *apply, v string, _ bool) error {
			if a.spec.Container == nil {
				a.spec.Container = &Container{}
			}
			return co.Set(a.spec.Container, v)
		}})
	}
	return out
}

func baseOptions() []option {
	return []option{
		// Identity, accounting and queue placement.
		{long: "account", short: 'A', arg: requiredArg, set: setString(func(s *Spec) *string { return &s.Account })},
		{long: "partition", short: 'p', arg: requiredArg, set: setPartition},
		{long: "qos", short: 'q', arg: requiredArg, set: setString(func(s *Spec) *string { return &s.QOS })},
		{long: "job-name", short: 'J', arg: requiredArg, set: setString(func(s *Spec) *string { return &s.Name })},
		{long: "comment", arg: requiredArg, set: setString(func(s *Spec) *string { return &s.Comment })},
		{long: "wckey", arg: requiredArg, set: check(nil), noEffect: "usage is accounted by project (--account), not by WCKey"},
		{long: "reservation", arg: requiredArg, set: check(nil), noEffect: whyNoResv},
		{long: "clusters", short: 'M', arg: requiredArg, set: check(nil), noEffect: whyOneClus},
		{long: "cluster", arg: requiredArg, set: check(nil), noEffect: whyOneClus},
		{long: "cluster-constraint", arg: requiredArg, set: check(nil), noEffect: whyOneClus},
		{long: "priority", arg: requiredArg, set: check(checkPriority), noEffect: whyOperator + "; use --nice to lower your own job"},
		{long: "nice", arg: optionalArg, set: setNice},
		{long: "uid", arg: requiredArg, set: check(nil), noEffect: "jobs run as the submitting user; " + whyOperator},
		{long: "gid", arg: requiredArg, set: check(nil), noEffect: "jobs run with the submitting user's group; " + whyOperator},
		{long: "mcs-label", arg: requiredArg, set: check(nil), noEffect: "there are no MCS labels"},
		{long: "extra", arg: requiredArg, set: check(nil), noEffect: "nodes carry no extra attributes to match"},

		// Shape: nodes, tasks, CPUs, GPUs, memory.
		{long: "nodes", short: 'N', arg: requiredArg, set: setNodes},
		{long: "ntasks", short: 'n', arg: requiredArg, set: setInt(func(s *Spec) *int { return &s.NTasks }, true)},
		{long: "ntasks-per-node", arg: requiredArg, set: setInt(func(s *Spec) *int { return &s.NTasksPerNode }, true)},
		{long: "tasks-per-node", arg: requiredArg, alias: "ntasks-per-node", set: setInt(func(s *Spec) *int { return &s.NTasksPerNode }, true)},
		{long: "cpus-per-task", short: 'c', arg: requiredArg, set: setInt(func(s *Spec) *int { return &s.CPUsPerTask }, true)},
		{long: "gpus", short: 'G', arg: requiredArg, set: setGPUs(func(s *Spec) *int { return &s.GPUs })},
		{long: "gpus-per-node", arg: requiredArg, set: setGPUs(func(s *Spec) *int { return &s.GPUsPerNode })},
		{long: "gpus-per-task", arg: requiredArg, set: setGPUs(func(s *Spec) *int { return &s.GPUsPerTask })},
		{long: "gres", arg: requiredArg, set: setGres},
		{long: "mem", arg: requiredArg, set: memSetter("mem")},
		{long: "mem-per-cpu", arg: requiredArg, set: memSetter("mem-per-cpu")},
		{long: "mem-per-gpu", arg: requiredArg, set: memSetter("mem-per-gpu")},
		{long: "exclusive", arg: optionalArg, set: setExclusive},
		{long: "oversubscribe", short: 's', arg: noArg, set: func(a *apply, _ string, _ bool) error {
			a.spec.Exclusive = false
			a.warn("--oversubscribe", "--oversubscribe has no effect here: GPUs are never shared between jobs; it only cancels --exclusive")
			return nil
		}},
		{long: "switches", arg: requiredArg, set: setSwitches},
		{long: "constraint", short: 'C', arg: requiredArg, set: func(a *apply, v string, _ bool) error {
			a.spec.Constraint = v
			a.warn("--constraint", "--constraint is recorded but has no effect here: nodes carry no features to match")
			return nil
		}},
		{long: "prefer", arg: requiredArg, set: check(nil), noEffect: "nodes carry no features to prefer"},
		{long: "cpus-per-gpu", arg: requiredArg, set: check(checkInt(true)), noEffect: "a GPU comes with its node's share of CPUs; use --cpus-per-task"},
		{long: "gpus-per-socket", arg: requiredArg, set: check(nil), noEffect: whyNodeHW},
		{long: "gres-flags", arg: requiredArg, set: check(nil), noEffect: "GPUs are always placed within one node's NVLink domain"},
		{long: "mincpus", arg: requiredArg, set: check(checkInt(true)), noEffect: whyNodeHW},
		{long: "sockets-per-node", arg: requiredArg, set: check(checkInt(true)), noEffect: whyNodeHW},
		{long: "cores-per-socket", arg: requiredArg, set: check(checkInt(true)), noEffect: whyNodeHW},
		{long: "threads-per-core", arg: requiredArg, set: check(checkInt(true)), noEffect: whyNodeHW},
		{long: "extra-node-info", short: 'B', arg: requiredArg, set: check(nil), noEffect: whyNodeHW},
		{long: "ntasks-per-core", arg: requiredArg, set: check(checkInt(true)), noEffect: whyNodeHW},
		{long: "ntasks-per-socket", arg: requiredArg, set: check(checkInt(true)), noEffect: whyNodeHW},
		{long: "ntasks-per-gpu", arg: requiredArg, set: check(checkInt(true)), noEffect: "use --gpus-per-task to tie GPUs to tasks"},
		{long: "ntasks-per-tres", arg: requiredArg, set: check(checkInt(true)), noEffect: "use --gpus-per-task to tie GPUs to tasks"},
		{long: "core-spec", short: 'S', arg: requiredArg, set: check(checkInt(false)), noEffect: "cores for system use are set per node by the operator"},
		{long: "thread-spec", arg: requiredArg, set: check(checkInt(true)), noEffect: "threads for system use are set per node by the operator"},
		{long: "hint", arg: requiredArg, set: check(nil), noEffect: whyBinding},
		{long: "distribution", short: 'm', arg: requiredArg, set: check(nil), noEffect: whyBinding},
		{long: "tmp", arg: requiredArg, set: check(checkMem), noEffect: "local scratch space is not allocated per job"},
		{long: "tres-per-task", arg: requiredArg, set: check(nil), noEffect: "use --cpus-per-task and --gpus-per-task"},
		{long: "tres-bind", arg: requiredArg, set: check(nil), noEffect: whyBinding},
		{long: "gpu-bind", arg: requiredArg, set: check(nil), noEffect: whyBinding},
		{long: "mem-bind", arg: requiredArg, set: check(nil), noEffect: whyBinding},
		{long: "cpu-freq", arg: requiredArg, set: check(nil), noEffect: whyFreq},
		{long: "gpu-freq", arg: requiredArg, set: check(nil), noEffect: whyFreq},
		{long: "network", arg: requiredArg, set: check(nil), noEffect: whyNetwork},
		{long: "contiguous", arg: noArg, set: check(nil), noEffect: "multi-node jobs are placed in as few scalable units as possible, which is what contiguity buys on this fabric"},
		{long: "spread-job", arg: noArg, set: check(nil), noEffect: "jobs are packed to keep whole nodes and scalable units free"},
		{long: "use-min-nodes", arg: noArg, set: check(nil), noEffect: "a --nodes range is given its minimum when it can start"},
		{long: "segment", arg: requiredArg, set: check(checkInt(true)), noEffect: "there is no block topology; use --switches for scalable units"},
		{long: "consolidate-segments", arg: noArg, set: check(nil), noEffect: "there is no block topology"},
		{long: "spread-segments", arg: noArg, set: check(nil), noEffect: "there is no block topology"},
		{long: "nodelist", short: 'w', arg: requiredArg, set: check(checkHostlist), noEffect: "requesting named nodes is not supported yet; the scheduler picks nodes by topology"},
		{long: "exclude", short: 'x', arg: requiredArg, set: check(checkHostlist), noEffect: "excluding named nodes is not supported yet; report bad nodes to the operators, who drain them"},
		{long: "nodefile", short: 'F', arg: requiredArg, set: check(nil), noEffect: "requesting named nodes is not supported yet"},
		{long: "licenses", short: 'L', arg: requiredArg, set: check(nil), noEffect: "there are no licenses to allocate"},
		{long: "resources", arg: requiredArg, set: check(nil), noEffect: "there are no cluster-wide resources to allocate"},
		{long: "overcommit", short: 'O', arg: noArg, set: check(nil), noEffect: "CPUs are allocated to match tasks"},
		{long: "reboot", arg: noArg, set: check(nil), noEffect: "nodes are not rebooted for jobs"},
		{long: "delay-boot", arg: requiredArg, set: check(checkTime), noEffect: "nodes are not rebooted for jobs"},
		{long: "batch", arg: requiredArg, set: check(nil), noEffect: "the batch script runs on the job's first node"},
		{long: "bb", arg: requiredArg, set: check(nil), noEffect: whyNoBB},
		{long: "bbf", arg: requiredArg, set: check(nil), noEffect: whyNoBB},
		{long: "container", arg: requiredArg, set: check(nil), noEffect: whyNoCont},
		{long: "container-id", arg: requiredArg, set: check(nil), noEffect: whyNoCont},
		{long: "runtime", arg: requiredArg, set: check(nil), noEffect: whyNoCont},
		{long: "context", arg: requiredArg, set: check(nil), noEffect: "there are no security contexts"},
		{long: "stepmgr", arg: noArg, set: check(nil), noEffect: whyNoSteps},
		{long: "resv-ports", arg: optionalArg, set: check(nil), noEffect: whyNoSteps},
		{long: "wait-all-nodes", arg: requiredArg, set: check(checkEnum("0", "1")), noEffect: "a job starts when all its nodes have reported ready"},

		// Time.
		{long: "time", short: 't', arg: requiredArg, set: setTime(func(s *Spec) *int64 { return &s.TimeLimitS })},
		{long: "time-min", arg: requiredArg, set: setTime(func(s *Spec) *int64 { return &s.TimeMinS })},
		{long: "begin", short: 'b', arg: requiredArg, set: setBegin},
		{long: "deadline", arg: requiredArg, set: func(a *apply, v string, _ bool) error {
			_, err := ParseBegin(v, a.p.now())
			return err
		}, noEffect: "jobs are not cancelled for missing a deadline"},
		{long: "hold", short: 'H', arg: noArg, set: func(a *apply, _ string, _ bool) error { a.spec.Hold = true; return nil }},

		// Dependencies, arrays, requeue, signals.
		{long: "dependency", short: 'd', arg: requiredArg, set: setDependency},
		{long: "kill-on-invalid-dep", arg: requiredArg, set: check(checkEnum("yes", "no")), noEffect: "a job whose dependency can never be satisfied stays pending with reason DependencyNeverSatisfied; cancel it with gefion cancel"},
		{long: "array", short: 'a', arg: requiredArg, set: setArray},
		{long: "requeue", arg: optionalArg, set: setRequeue},
		{long: "no-requeue", arg: noArg, set: func(a *apply, _ string, _ bool) error { f := false; a.spec.Requeue = &f; return nil }},
		{long: "signal", arg: requiredArg, set: setSignal},
		{long: "no-kill", short: 'k', arg: optionalArg, set: setNoKill},
		{long: "oom-kill-step", arg: optionalArg, set: check(checkEnum("0", "1")), noEffect: whyNoSteps},

		// Files, environment, mail.
		{long: "output", short: 'o', arg: requiredArg, set: setString(func(s *Spec) *string { return &s.Output })},
		{long: "error", short: 'e', arg: requiredArg, set: setString(func(s *Spec) *string { return &s.Error })},
		{long: "input", short: 'i', arg: requiredArg, set: setString(func(s *Spec) *string { return &s.Input })},
		{long: "open-mode", arg: requiredArg, set: setOpenMode},
		{long: "chdir", short: 'D', arg: requiredArg, set: setString(func(s *Spec) *string { return &s.Chdir })},
		{long: "export", arg: requiredArg, set: setString(func(s *Spec) *string { return &s.Export })},
		{long: "export-file", arg: requiredArg, set: check(nil), noEffect: "use --export to pass variables"},
		{long: "get-user-env", arg: noArg, set: check(nil), noEffect: "the job gets the submission environment under --export"},
		{long: "propagate", arg: optionalArg, set: check(nil), noEffect: "resource limits come from the node, not the submitting shell"},
		{long: "mail-type", arg: requiredArg, set: setMailType, noEffect: "no mail is sent; watch jobs with gefion queue"},
		{long: "mail-user", arg: requiredArg, set: setString(func(s *Spec) *string { return &s.MailUser }), noEffect: "no mail is sent; watch jobs with gefion queue"},
		{long: "profile", arg: requiredArg, set: check(nil), noEffect: whyAcct},
		{long: "acctg-freq", arg: requiredArg, set: check(nil), noEffect: whyAcct},
		{long: "mem-update", arg: requiredArg, set: check(nil), noEffect: "memory limits are fixed for the job's life"},
		{long: "external", arg: noArg, set: check(nil), noEffect: "external jobs are not supported"},
		{long: "ignore-pbs", arg: noArg, set: check(nil), noEffect: "#PBS lines are never read"},

		// Options that steer the command rather than the job.
		{long: "test-only", arg: noArg, set: func(a *apply, _ string, _ bool) error { a.p.Submission.TestOnly = true; return nil }},
		{long: "parsable", arg: noArg, set: func(a *apply, _ string, _ bool) error { a.p.Submission.Parsable = true; return nil }},
		{long: "wait", short: 'W', arg: noArg, set: func(a *apply, _ string, _ bool) error { a.p.Submission.Wait = true; return nil }},
		{long: "quiet", short: 'Q', arg: noArg, set: func(a *apply, _ string, _ bool) error { a.p.Submission.Quiet = true; return nil }},
		{long: "verbose", short: 'v', arg: noArg, set: func(a *apply, _ string, _ bool) error { a.p.Submission.Verbose++; return nil }},
		{long: "wrap", arg: requiredArg, set: setWrap},
		{long: "help", short: 'h', arg: noArg, set: setHelp},
		{long: "usage", arg: noArg, set: setHelp},
		{long: "version", short: 'V', arg: noArg, set: func(a *apply, _ string, _ bool) error {
			if a.src == srcScript {
				a.warn("--version", "--version has no effect in a script")
				return nil
			}
			a.p.Submission.Version = true
			return nil
		}},
		{long: "autocomplete", arg: requiredArg, set: check(nil), noEffect: "shell completion is not provided"},

		// Gefion's own: quantum-circuit simulation jobs.
		{long: "qubits", arg: requiredArg, set: setInt(func(s *Spec) *int { return &s.Qubits }, true)},
		{long: "qpu-backend", arg: requiredArg, set: func(a *apply, v string, _ bool) error {
			if err := checkEnum("nvidia", "mgpu", "tensornet", "cpu")(v); err != nil {
				return err
			}
			a.spec.QPUBackend = strings.ToLower(v)
			return nil
		}},
		{long: "qpu-precision", arg: requiredArg, set: func(a *apply, v string, _ bool) error {
			if err := checkEnum("single", "double")(v); err != nil {
				return err
			}
			a.spec.QPUPrecision = strings.ToLower(v)
			return nil
		}},
	}
}

// OptionNames returns the long names of all sbatch options accepted, for
// documentation and tests.
func OptionNames() []string {
	options := optionTable()
	names := make([]string, len(options))
	for i, o := range options {
		names[i] = o.long
	}
	return names
}

// optionIndex finds an option by its long or short name.
type optionIndex struct {
	byLong  map[string]*option
	byShort map[byte]*option
}

// optionsByName is built on first use rather than at package
// initialisation: every gefion command links this package, and only the
// ones that parse sbatch options need the index (DESIGN: client commands
// start fast).
var optionsByName = sync.OnceValue(func() optionIndex {
	options := optionTable()
	ix := optionIndex{byLong: make(map[string]*option, len(options)), byShort: map[byte]*option{}}
	for i := range options {
		o := &options[i]
		if ix.byLong[o.long] != nil {
			panic("job: sbatch option listed twice: " + o.long)
		}
		ix.byLong[o.long] = o
		if o.short != 0 {
			if ix.byShort[o.short] != nil {
				panic("job: sbatch short option listed twice: " + string(o.short))
			}
			ix.byShort[o.short] = o
		}
	}
	for _, e := range envOptions {
		if e.option != "switches-count" && e.option != "switches-wait" && ix.byLong[e.option] == nil {
			panic("job: environment variable for unknown option: " + e.option)
		}
	}
	return ix
})

func lookupOption(name string) *option { return optionsByName().byLong[name] }
func lookupShort(c byte) *option       { return optionsByName().byShort[c] }

// envOptions are the SBATCH_* variables sbatch reads and the option each
// stands for.
var envOptions = []struct{ name, option string }{
	{"SBATCH_ACCOUNT", "account"}, {"SBATCH_ARRAY_INX", "array"},
	{"SBATCH_ACCTG_FREQ", "acctg-freq"}, {"SBATCH_BATCH", "batch"},
	{"SBATCH_BURST_BUFFER", "bb"}, {"SBATCH_CLUSTER_CONSTRAINT", "cluster-constraint"},
	{"SBATCH_CLUSTERS", "clusters"}, {"SLURM_CLUSTERS", "clusters"},
	{"SBATCH_CONSOLIDATE_SEGMENTS", "consolidate-segments"},
	{"SBATCH_CONTAINER", "container"}, {"SBATCH_CONTAINER_ID", "container-id"},
	{"SBATCH_RUNTIME", "runtime"}, {"SBATCH_CONSTRAINT", "constraint"},
	{"SBATCH_CORE_SPEC", "core-spec"}, {"SBATCH_CPU_FREQ_REQ", "cpu-freq"},
	{"SBATCH_CPUS_PER_GPU", "cpus-per-gpu"}, {"SBATCH_DELAY_BOOT", "delay-boot"},
	{"SBATCH_DISTRIBUTION", "distribution"}, {"SBATCH_EXCLUSIVE", "exclusive"},
	{"SBATCH_EXPORT", "export"}, {"SBATCH_GET_USER_ENV", "get-user-env"},
	{"SBATCH_GRES", "gres"}, {"SBATCH_GRES_FLAGS", "gres-flags"},
	{"SBATCH_GPUS", "gpus"}, {"SBATCH_GPU_BIND", "gpu-bind"},
	{"SBATCH_GPU_FREQ", "gpu-freq"}, {"SBATCH_GPUS_PER_NODE", "gpus-per-node"},
	{"SBATCH_GPUS_PER_SOCKET", "gpus-per-socket"}, {"SBATCH_GPUS_PER_TASK", "gpus-per-task"},
	{"SLURM_HINT", "hint"}, {"SBATCH_HINT", "hint"}, {"SBATCH_JOB_NAME", "job-name"},
	{"SBATCH_MEM_BIND", "mem-bind"}, {"SBATCH_MEM_PER_CPU", "mem-per-cpu"},
	{"SBATCH_MEM_PER_GPU", "mem-per-gpu"}, {"SBATCH_MEM_PER_NODE", "mem"},
	{"SBATCH_NETWORK", "network"}, {"SBATCH_NO_KILL", "no-kill"},
	{"SBATCH_NO_REQUEUE", "no-requeue"}, {"SBATCH_OPEN_MODE", "open-mode"},
	{"SBATCH_OVERCOMMIT", "overcommit"}, {"SBATCH_PARTITION", "partition"},
	{"SBATCH_PROFILE", "profile"}, {"SBATCH_QOS", "qos"},
	{"SBATCH_REQ_SWITCH", "switches-count"}, {"SBATCH_REQUEUE", "requeue"},
	{"SBATCH_RESERVATION", "reservation"}, {"SBATCH_SEGMENT_SIZE", "segment"},
	{"SBATCH_SIGNAL", "signal"}, {"SBATCH_SPREAD_JOB", "spread-job"},
	{"SBATCH_SPREAD_SEGMENTS", "spread-segments"}, {"SBATCH_THREAD_SPEC", "thread-spec"},
	{"SBATCH_THREADS_PER_CORE", "threads-per-core"}, {"SBATCH_TIMELIMIT", "time"},
	{"SBATCH_TRES_BIND", "tres-bind"}, {"SBATCH_TRES_PER_TASK", "tres-per-task"},
	{"SBATCH_USE_MIN_NODES", "use-min-nodes"}, {"SBATCH_WAIT", "wait"},
	{"SBATCH_WAIT_ALL_NODES", "wait-all-nodes"}, {"SBATCH_WAIT4SWITCH", "switches-wait"},
	{"SBATCH_WCKEY", "wckey"}, {"SBATCH_ERROR", "error"}, {"SBATCH_INPUT", "input"},
	{"SBATCH_OUTPUT", "output"},
}

// Setters and checkers.

func check(f func(string) error) func(*apply, string, bool) error {
	return func(_ *apply, v string, has bool) error {
		if f == nil || !has {
			return nil
		}
		return f(v)
	}
}

func setString(field func(*Spec) *string) func(*apply, string, bool) error {
	return func(a *apply, v string, _ bool) error {
		*field(a.spec) = v
		return nil
	}
}

// parseInt parses an integer as Slurm's parse_int: a whole number, not
// negative, and above zero when positive is set.
func parseInt(v string, positive bool) (int, error) {
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil || n < 0 || (positive && n == 0) || n >= math.MaxInt32 {
		if positive {
			return 0, fmt.Errorf("%q is not a whole number above 0", v)
		}
		return 0, fmt.Errorf("%q is not a whole number from 0", v)
	}
	return int(n), nil
}

func checkInt(positive bool) func(string) error {
	return func(v string) error { _, err := parseInt(v, positive); return err }
}

func setInt(field func(*Spec) *int, positive bool) func(*apply, string, bool) error {
	return func(a *apply, v string, _ bool) error {
		n, err := parseInt(v, positive)
		if err != nil {
			return err
		}
		*field(a.spec) = n
		return nil
	}
}

func checkEnum(vals ...string) func(string) error {
	return func(v string) error {
		for _, x := range vals {
			if strings.EqualFold(v, x) {
				return nil
			}
		}
		return fmt.Errorf("%q is not one of %s", v, strings.Join(vals, ", "))
	}
}

func checkTime(v string) error { _, err := ParseTime(v); return err }
func checkMem(v string) error  { _, err := ParseMem(v); return err }

func checkHostlist(v string) error {
	if strings.Contains(v, "/") {
		return nil // a file of node names, as Slurm allows
	}
	// Only the syntax matters here: counting does not build a list that
	// may hold a million names for each -w or -x given.
	_, err := hostlist.Count(v)
	return err
}

func checkPriority(v string) error {
	if strings.EqualFold(v, "TOP") {
		return nil
	}
	_, err := parseInt(v, false)
	return err
}

func checkNoKill(v string) error { return checkEnum("set", "off", "no")(v) }

// setNoKill: --no-kill (or =set) keeps the job on its other nodes when
// one fails; =off (or =no) restores the default.
func setNoKill(a *apply, v string, has bool) error {
	if has {
		if err := checkNoKill(v); err != nil {
			return err
		}
	}
	a.spec.NoKill = !has || v == "set"
	return nil
}

func setTime(field func(*Spec) *int64) func(*apply, string, bool) error {
	return func(a *apply, v string, _ bool) error {
		t, err := ParseTime(v)
		if err != nil {
			return err
		}
		if t == 0 {
			// --time=UNLIMITED (or 0) asks for the partition's maximum,
			// which differs from saying nothing (the partition's default).
			t = Unlimited
		}
		*field(a.spec) = t
		return nil
	}
}

func setPartition(a *apply, v string, _ bool) error {
	var parts []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			parts = append(parts, p)
		}
	}
	if len(parts) == 0 {
		return errors.New("give a partition name")
	}
	a.spec.Partitions = parts
	return nil
}

func setNice(a *apply, v string, has bool) error {
	n := 100 // Slurm's --nice without a value
	if has {
		x, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not a whole number", v)
		}
		if x > MaxNice || x < -MaxNice {
			return fmt.Errorf("%d is out of range (+/- %d)", x, MaxNice)
		}
		n = int(x)
	}
	a.spec.Nice = n
	return nil
}

// MaxNice is Slurm's bound on --nice (NICE_OFFSET - 3): operators may
// give -MaxNice to MaxNice, other users 0 to MaxNice.
const MaxNice = 1<<31 - 3

// parseNodeCount parses a node count as Slurm does: a number with an
// optional k (x1024) or m (x1048576) suffix.
func parseNodeCount(v string) (int, error) {
	t := strings.TrimSpace(v)
	mult := int64(1)
	if n := len(t); n > 0 {
		switch t[n-1] {
		case 'k', 'K':
			mult, t = 1024, t[:n-1]
		case 'm', 'M':
			mult, t = 1024*1024, t[:n-1]
		}
	}
	n, err := strconv.ParseInt(t, 10, 32)
	if err != nil || n < 0 || n*mult > math.MaxInt32 {
		return 0, fmt.Errorf("%q is not a valid node count", v)
	}
	return int(n * mult), nil
}

// setNodes parses --nodes=min[-max], or a list of allowed sizes
// ("2,4,8-16", kept here as its smallest and largest).
func setNodes(a *apply, v string, _ bool) error {
	var lo, hi int
	if strings.ContainsAny(v, ",:") {
		first := true
		for _, item := range strings.Split(v, ",") {
			r, _, _ := strings.Cut(item, ":")
			x, y, isRange := strings.Cut(r, "-")
			m, err := parseNodeCount(x)
			if err != nil {
				return err
			}
			n := m
			if isRange {
				if n, err = parseNodeCount(y); err != nil {
					return err
				}
			}
			if first || m < lo {
				lo = m
			}
			if first || n > hi {
				hi = n
			}
			first = false
		}
		a.warn("--nodes", "--nodes=%s: a list of sizes is taken as the range %d-%d", v, lo, hi)
	} else if x, y, isRange := strings.Cut(v, "-"); isRange {
		var err error
		if lo, err = parseNodeCount(x); err != nil {
			return err
		}
		if hi, err = parseNodeCount(y); err != nil {
			return err
		}
	} else {
		var err error
		if lo, err = parseNodeCount(v); err != nil {
			return err
		}
		hi = lo
	}
	if hi != 0 && hi < lo {
		return fmt.Errorf("the maximum node count %d is below the minimum %d", hi, lo)
	}
	if lo == 0 {
		// Slurm refuses a batch job on no nodes ("Invalid node count
		// specification"); taking it as 1 would hide the mistake.
		return fmt.Errorf("invalid node count specification %q: a job needs at least 1 node", v)
	}
	a.spec.NodesMin, a.spec.NodesMax = lo, hi
	if hi == lo {
		a.spec.NodesMax = 0
	}
	return nil
}

// parseGPUCount parses "[type:]count" as --gpus and --gpus-per-* take it.
func parseGPUCount(v string) (typ string, n int, err error) {
	if strings.Contains(v, ",") {
		return "", 0, errors.New("GPUs of several types in one job are not supported here: ask for one type, for example h100:8")
	}
	t, c, hasType := strings.Cut(v, ":")
	if !hasType {
		c, t = t, ""
	}
	if strings.Contains(c, ":") || (hasType && t == "") {
		return "", 0, fmt.Errorf("%q: use [type:]count, for example 8 or h100:8", v)
	}
	n, err = parseInt(c, false)
	if err != nil {
		return "", 0, fmt.Errorf("invalid GPU count %q: use [type:]count, for example 8 or h100:8", v)
	}
	return t, n, nil
}

func setGPUs(field func(*Spec) *int) func(*apply, string, bool) error {
	return func(a *apply, v string, _ bool) error {
		t, n, err := parseGPUCount(v)
		if err != nil {
			return err
		}
		*field(a.spec) = n
		if t != "" {
			a.spec.GPUType = t
		}
		return nil
	}
}

// setGres parses --gres=name[:type][:count][,...]. gpu GRES is the GPUs per
// node; other GRES do not exist here.
func setGres(a *apply, v string, _ bool) error {
	if strings.EqualFold(v, "none") {
		a.spec.GPUsPerNode = 0
		return nil
	}
	for _, item := range strings.Split(v, ",") {
		item = strings.TrimPrefix(item, "gres/")
		parts := strings.Split(item, ":")
		name := parts[0]
		if name == "" || len(parts) > 3 {
			return fmt.Errorf("%q: use name[:type][:count], for example gpu:8 or gpu:h100:8", item)
		}
		count, typ := 1, ""
		rest := parts[1:]
		if len(rest) > 0 {
			last := rest[len(rest)-1]
			if last != "" && last[0] >= '0' && last[0] <= '9' {
				n, err := parseNodeCount(last)
				if err != nil {
					return fmt.Errorf("invalid count in %q: use name[:type][:count]", item)
				}
				count, rest = n, rest[:len(rest)-1]
			}
		}
		if len(rest) > 1 {
			return fmt.Errorf("%q: use name[:type][:count], for example gpu:h100:8", item)
		}
		if len(rest) == 1 {
			if rest[0] == "" {
				return fmt.Errorf("%q: empty GRES type", item)
			}
			typ = rest[0]
		}
		if name != "gpu" {
			a.warn("--gres="+name, "--gres=%s has no effect here: the only GRES is gpu", item)
			continue
		}
		a.spec.GPUsPerNode = count
		if typ != "" {
			a.spec.GPUType = typ
		}
	}
	return nil
}

// memSetter applies --mem, --mem-per-cpu or --mem-per-gpu. They are
// mutually exclusive within one source; a later source (the command line
// over the script) replaces the others.
func memSetter(opt string) func(*apply, string, bool) error {
	return func(a *apply, v string, _ bool) error {
		if a.memOpt != "" && a.memOpt != opt {
			return fmt.Errorf("--%s and --%s are mutually exclusive: give one of --mem, --mem-per-cpu and --mem-per-gpu", a.memOpt, opt)
		}
		mb, err := ParseMem(v)
		if err != nil {
			return err
		}
		a.memOpt = opt
		s := a.spec
		s.MemPerNodeMB, s.MemPerCPUMB, s.MemPerGPUMB = 0, 0, 0
		switch opt {
		case "mem":
			s.Mem = v
			s.MemPerNodeMB = mb
			if mb == 0 {
				s.MemPerNodeMB = -1 // all of the node's memory
			}
		case "mem-per-cpu":
			s.Mem = "--mem-per-cpu=" + v
			s.MemPerCPUMB = mb
		case "mem-per-gpu":
			s.Mem = "--mem-per-gpu=" + v
			s.MemPerGPUMB = mb
		}
		return nil
	}
}

func setExclusive(a *apply, v string, has bool) error {
	switch strings.ToLower(v) {
	case "", "exclusive", "allocation":
		a.spec.Exclusive = true
	case "oversubscribe":
		a.spec.Exclusive = false
	case "user", "mcs", "topo":
		a.spec.Exclusive = false
		a.warn("--exclusive="+strings.ToLower(v), "--exclusive=%s has no effect here: GPUs are never shared between jobs; use --exclusive for whole nodes", v)
	default:
		return errors.New("use --exclusive alone, or =user, =mcs, =topo or =oversubscribe")
	}
	if has && v == "" {
		return errors.New("use --exclusive alone, or =user, =mcs, =topo or =oversubscribe")
	}
	return nil
}

func setSwitches(a *apply, v string, _ bool) error {
	count, wait, hasWait := strings.Cut(v, "@")
	n, err := parseInt(count, true)
	if err != nil {
		return fmt.Errorf("switch count: %w", err)
	}
	a.spec.MaxSUs = n
	if hasWait {
		w, err := ParseTime(wait)
		if err != nil {
			return fmt.Errorf("maximum wait: %w", err)
		}
		a.spec.MaxSUsWaitS = w
	}
	return nil
}

func setBegin(a *apply, v string, _ bool) error {
	t, err := ParseBegin(v, a.p.now())
	if err != nil {
		return err
	}
	a.spec.BeginS = t.Unix()
	return nil
}

func setDependency(a *apply, v string, _ bool) error {
	if _, err := ParseDependency(v); err != nil {
		return err
	}
	a.spec.Dependency = v
	return nil
}

func setArray(a *apply, v string, _ bool) error {
	if _, err := ParseArray(v, a.p.MaxArraySize); err != nil {
		return err
	}
	a.spec.Array = v
	return nil
}

func setRequeue(a *apply, v string, has bool) error {
	if has && !strings.EqualFold(v, "expedite") {
		return errors.New("use --requeue alone or --requeue=expedite")
	}
	if has {
		a.warn("--requeue=expedite", "--requeue=expedite is taken as --requeue: requeued jobs keep their place by priority")
	}
	t := true
	a.spec.Requeue = &t
	return nil
}

func setSignal(a *apply, v string, _ bool) error {
	s, err := ParseSignal(v)
	if err != nil {
		return err
	}
	if s.Reservation {
		a.warn("--signal=R", "--signal R: has no effect here: %s", whyNoResv)
	}
	a.spec.Signal = v
	return nil
}

func setOpenMode(a *apply, v string, _ bool) error {
	switch {
	case v != "" && (v[0] == 'a' || v[0] == 'A'):
		a.spec.OpenMode = "append"
	case v != "" && (v[0] == 't' || v[0] == 'T'):
		a.spec.OpenMode = "truncate"
	default:
		return errors.New("use append or truncate")
	}
	return nil
}

// mailTypes are the --mail-type values Slurm knows.
var mailTypes = []string{"NONE", "BEGIN", "END", "FAIL", "REQUEUE", "ALL", "INVALID_DEPEND",
	"STAGE_OUT", "TIME_LIMIT", "TIME_LIMIT_90", "TIME_LIMIT_80", "TIME_LIMIT_50", "ARRAY_TASKS"}

func setMailType(a *apply, v string, _ bool) error {
	if !knownMailType(v) {
		return fmt.Errorf("use one or more of %s", strings.Join(mailTypes, ", "))
	}
	a.spec.MailType = v
	return nil
}

func setWrap(a *apply, v string, _ bool) error {
	if a.src == srcScript {
		a.warn("--wrap", "--wrap has no effect in a script")
		return nil
	}
	a.p.Submission.Wrap, a.p.Submission.WrapSet = v, true
	return nil
}

func setHelp(a *apply, _ string, _ bool) error {
	if a.src == srcScript {
		a.warn("--help", "--help has no effect in a script")
		return nil
	}
	a.p.Submission.Help = true
	return nil
}
