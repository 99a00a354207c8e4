package job

import (
	"errors"
	"fmt"
	"math"
	"strings"
)

// Bounds on a spec. Counts and sizes follow Slurm where it has a rule
// (32-bit counts, 4 MiB scripts, nice); free text is bounded so that one
// submission cannot make the controller store or hold gigabytes.
const (
	// MaxCount bounds every count (nodes, tasks, CPUs, GPUs, switches,
	// qubits): Slurm keeps them in 32 bits.
	MaxCount = math.MaxInt32 - 1
	// MaxMemMB is the largest memory request, in MiB (1 EiB, as ParseMem).
	MaxMemMB = 1 << 40
	// MaxTimeS is the longest time limit, --time-min or --switches wait: a
	// century, as ParseTime.
	MaxTimeS = 365 * 86400 * 100
	// MaxBeginS is the latest --begin, in Unix seconds (2100-01-01 UTC).
	MaxBeginS = 4102444800

	// MaxNameLen bounds names and short values: job name, account, QOS,
	// each partition, GPU type, mail settings, signal, memory as written.
	MaxNameLen = 1024
	// MaxPathLen bounds paths (output, error, input, working and submit
	// directories): Linux's PATH_MAX.
	MaxPathLen = 4096
	// MaxCommentLen bounds --comment.
	MaxCommentLen = 16 << 10
	// MaxExprLen bounds the expressions --dependency, --array,
	// --constraint and --export.
	MaxExprLen = 64 << 10
	// MaxPartitions bounds the list of partitions.
	MaxPartitions = 64
	// MaxEnvEntries and MaxEnvBytes bound the environment given to the
	// job; MaxArgs and MaxArgvBytes the script's arguments. MaxArgLen
	// bounds one entry of either, as Linux's MAX_ARG_STRLEN does.
	MaxEnvEntries = 16384
	MaxEnvBytes   = 1 << 20
	MaxArgs       = 16384
	MaxArgvBytes  = 1 << 20
	MaxArgLen     = 128 << 10
	// MaxSubmissionBytes bounds what one submission stores: the script
	// once, plus every array task's own text (environment, arguments,
	// paths, names).
	MaxSubmissionBytes = 64 << 20
)

// Validate checks every field of a spec as sbatch's option parser checks
// what it reads, so that a spec sent to the API directly is held to the
// same rules as one read from a script: counts, memory and times within
// their ranges, expressions that parse, a real batch script, and bounded
// text. It reports every problem at once, each naming the option (and its
// JSON field) and what to do. Resolve calls it; the controller's checks
// that need its state (projects, QOS, operators) come on top.
func (s *Spec) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }

	if err := CheckScript([]byte(s.Script)); err != nil {
		bad("script: %v", err)
	}
	for _, f := range []struct {
		name string
		v    int
	}{
		{"--nodes (nodes_min)", s.NodesMin}, {"--nodes (nodes_max)", s.NodesMax}, {"--ntasks (ntasks)", s.NTasks},
		{"--ntasks-per-node (ntasks_per_node)", s.NTasksPerNode}, {"--cpus-per-task (cpus_per_task)", s.CPUsPerTask},
		{"--gpus (gpus)", s.GPUs}, {"--gpus-per-node (gpus_per_node)", s.GPUsPerNode}, {"--gpus-per-task (gpus_per_task)", s.GPUsPerTask},
		{"--switches (max_sus)", s.MaxSUs}, {"--qubits (qubits)", s.Qubits}, {"uid", s.UID}, {"gid", s.GID},
	} {
		if f.v < 0 || f.v > MaxCount {
			bad("%s=%d: give a whole number from 0 to %d", f.name, f.v, MaxCount)
		}
	}
	if s.NodesMax > 0 && s.NodesMax < s.NodesMin {
		bad("--nodes=%d-%d: the maximum is below the minimum", s.NodesMin, s.NodesMax)
	}

	if s.MemPerNodeMB < -1 || s.MemPerNodeMB > MaxMemMB {
		bad("--mem (mem_per_node_mb)=%d: give MiB from 0 to %d, or -1 for all of the node's memory", s.MemPerNodeMB, int64(MaxMemMB))
	}
	for _, f := range []struct {
		name string
		v    int64
	}{{"--mem-per-cpu (mem_per_cpu_mb)", s.MemPerCPUMB}, {"--mem-per-gpu (mem_per_gpu_mb)", s.MemPerGPUMB}} {
		if f.v < 0 || f.v > MaxMemMB {
			bad("%s=%d: give MiB from 0 to %d", f.name, f.v, int64(MaxMemMB))
		}
	}
	memSet := 0
	for _, v := range []int64{s.MemPerNodeMB, s.MemPerCPUMB, s.MemPerGPUMB} {
		if v != 0 {
			memSet++
		}
	}
	if memSet > 1 {
		bad("--mem, --mem-per-cpu and --mem-per-gpu are mutually exclusive: set one of mem_per_node_mb, mem_per_cpu_mb and mem_per_gpu_mb")
	}

	for _, f := range []struct {
		name string
		v    int64
	}{{"--time (time_limit_s)", s.TimeLimitS}, {"--time-min (time_min_s)", s.TimeMinS}} {
		if f.v != Unlimited && (f.v < 0 || f.v > MaxTimeS) {
			bad("%s=%d: give seconds from 0 to %d (a century), or %d for UNLIMITED", f.name, f.v, MaxTimeS, Unlimited)
		}
	}
	if s.TimeLimitS > 0 && s.TimeMinS > s.TimeLimitS {
		bad("--time-min (time_min_s)=%d is above --time (time_limit_s)=%d: lower --time-min", s.TimeMinS, s.TimeLimitS)
	}
	if s.MaxSUsWaitS < 0 || s.MaxSUsWaitS > MaxTimeS {
		bad("--switches wait (max_sus_wait_s)=%d: give seconds from 0 to %d", s.MaxSUsWaitS, MaxTimeS)
	}
	if s.BeginS < 0 || s.BeginS > MaxBeginS {
		bad("--begin (begin_s)=%d: give Unix seconds from 0 (now) to %d (2100-01-01)", s.BeginS, int64(MaxBeginS))
	}
	if s.Nice < -MaxNice || s.Nice > MaxNice {
		bad("--nice (nice)=%d: give a number from %d to %d", s.Nice, -MaxNice, MaxNice)
	}

	tasks := 1
	if s.Array != "" {
		if a, err := ParseArray(s.Array, 0); err != nil {
			bad("--array (array): %v", err)
		} else {
			tasks = a.Len()
		}
	}
	if s.Dependency != "" {
		if _, err := ParseDependency(s.Dependency); err != nil {
			bad("--dependency (dependency): %v", err)
		}
	}
	if s.Signal != "" {
		if _, err := ParseSignal(s.Signal); err != nil {
			bad("--signal (signal): %v", err)
		}
	}
	switch s.OpenMode {
	case "", "append", "truncate":
	default:
		bad("--open-mode (open_mode)=%q: use append or truncate", s.OpenMode)
	}
	if s.MailType != "" && !knownMailType(s.MailType) {
		bad("--mail-type (mail_type)=%q: use one or more of %s", s.MailType, strings.Join(mailTypes, ", "))
	}

	text := func(name, v string, limit int) {
		switch {
		case len(v) > limit:
			bad("%s: %d bytes is over the limit of %d", name, len(v), limit)
		case strings.IndexByte(v, 0) >= 0:
			bad("%s: contains a NUL byte", name)
		}
	}
	for _, f := range []struct {
		name  string
		v     string
		limit int
	}{
		{"--job-name (name)", s.Name, MaxNameLen}, {"user", s.User, MaxNameLen}, {"--account (account)", s.Account, MaxNameLen},
		{"--qos (qos)", s.QOS, MaxNameLen}, {"--gpus type (gpu_type)", s.GPUType, MaxNameLen}, {"--mem (mem)", s.Mem, MaxNameLen},
		{"--mail-type (mail_type)", s.MailType, MaxNameLen}, {"--mail-user (mail_user)", s.MailUser, MaxNameLen},
		{"--qpu-backend (qpu_backend)", s.QPUBackend, MaxNameLen}, {"--qpu-precision (qpu_precision)", s.QPUPrecision, MaxNameLen},
		{"submit_host", s.SubmitHost, MaxNameLen}, {"--signal (signal)", s.Signal, MaxNameLen},
		{"--output (output)", s.Output, MaxPathLen}, {"--error (error)", s.Error, MaxPathLen}, {"--input (input)", s.Input, MaxPathLen},
		{"--chdir (chdir)", s.Chdir, MaxPathLen}, {"submit_dir", s.SubmitDir, MaxPathLen},
		{"--comment (comment)", s.Comment, MaxCommentLen},
		{"--dependency (dependency)", s.Dependency, MaxExprLen}, {"--array (array)", s.Array, MaxExprLen},
		{"--constraint (constraint)", s.Constraint, MaxExprLen}, {"--export (export)", s.Export, MaxExprLen},
	} {
		text(f.name, f.v, f.limit)
	}
	if len(s.Partitions) > MaxPartitions {
		bad("--partition (partitions): %d partitions is over the limit of %d", len(s.Partitions), MaxPartitions)
	}
	for i, p := range s.Partitions {
		if p == "" {
			bad("--partition (partitions[%d]): empty partition name", i)
		}
		text(fmt.Sprintf("--partition (partitions[%d])", i), p, MaxNameLen)
	}
	list := func(name string, items []string, maxItems, maxBytes int, needEq bool) {
		total := 0
		for i, v := range items {
			total += len(v)
			if len(v) > MaxArgLen {
				bad("%s[%d]: %d bytes is over the limit of %d", name, i, len(v), MaxArgLen)
			} else if strings.IndexByte(v, 0) >= 0 {
				bad("%s[%d]: contains a NUL byte", name, i)
			} else if needEq && !strings.Contains(v, "=") {
				bad("%s[%d]=%q: give NAME=value", name, i, v)
			}
		}
		if len(items) > maxItems {
			bad("%s: %d entries is over the limit of %d", name, len(items), maxItems)
		}
		if total > maxBytes {
			bad("%s: %d bytes in all is over the limit of %d", name, total, maxBytes)
		}
	}
	list("env", s.Env, MaxEnvEntries, MaxEnvBytes, true)
	if !s.Container.IsZero() {
		if err := s.Container.Validate(); err != nil {
			errs = append(errs, err)
		}
		if s.Container.Name != "" && s.Container.Image == "" {
			bad("--container-name=%s without --container-image: a batch job has no earlier step whose container it could use; give the image", s.Container.Name)
		}
	}
	list("argv", s.Argv, MaxArgs, MaxArgvBytes, false)

	// Every task stores its own spec, the script aside (one copy per
	// submission): bound the whole.
	if per := s.taskBytes(); len(s.Script)+tasks*per > MaxSubmissionBytes {
		bad("the submission stores %s (the script once, plus %d task(s) x %s of environment, arguments and other text); the limit is %s: export fewer variables (--export), shorten the arguments or split the array",
			fmtBytes(len(s.Script)+tasks*per), tasks, fmtBytes(per), fmtBytes(MaxSubmissionBytes))
	}
	if len(errs) == 0 {
		return nil
	}
	return errors.Join(errs...)
}

// taskBytes is roughly what each task of the spec stores besides the
// script: its text fields and lists, plus a fixed allowance for numbers
// and field names.
func (s *Spec) taskBytes() int {
	n := 512
	for _, v := range []string{s.Name, s.User, s.Account, s.QOS, s.GPUType, s.Mem, s.Dependency, s.Array,
		s.Signal, s.Comment, s.Output, s.Error, s.Input, s.OpenMode, s.Chdir, s.Export, s.Constraint,
		s.MailType, s.MailUser, s.QPUBackend, s.QPUPrecision, s.SubmitDir, s.SubmitHost} {
		n += len(v)
	}
	for _, l := range [][]string{s.Partitions, s.Env, s.Argv} {
		for _, v := range l {
			n += len(v) + 3
		}
	}
	return n
}

func fmtBytes(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

// knownMailType applies sbatch's rule: unknown words are ignored as long
// as one is known.
func knownMailType(v string) bool {
	for _, w := range strings.Split(v, ",") {
		for _, m := range mailTypes {
			if strings.EqualFold(w, m) {
				return true
			}
		}
	}
	return false
}
