package agent

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/job"
)

// ProcessConfig configures the process executor. The zero value is a
// valid configuration; each field documents its default.
type ProcessConfig struct {
	// Node is the node's name, for health reports (default: the host name).
	Node string
	// Cluster is SLURM_CLUSTER_NAME (default "gefion").
	Cluster string
	// StateDir holds the jobs' scripts while they run (default
	// $TMPDIR/gefion-agent; /var/lib/gefion/agent in deploy/).
	StateDir string
	// KillWait is the time between SIGTERM and SIGKILL at the time limit
	// (Slurm's KillWait; default 30 s). Cancels use the grace the
	// controller sends.
	KillWait time.Duration
	// SampleEvery is how often the GPUs' utilisation and memory are read
	// (default 10 s).
	SampleEvery time.Duration
	// IdleAfter is how long an allocated GPU may show 0% utilisation
	// before it is reported (once per job and GPU; default 30 min;
	// negative: never).
	IdleAfter time.Duration
	// CgroupParent is the cgroup v2 directory under which jobs get their
	// cgroups (default: found from the agent's own cgroup).
	CgroupParent string
	// NoCgroups runs jobs without cgroups even where they are available.
	NoCgroups bool
	// AllowSystemUsers lets a root agent run jobs of root and other
	// system accounts (uid below 1000). Off by default: until users
	// authenticate to the controller, a name in a request must not be
	// enough to run a script as root on every node. gefion dev, whose
	// only user is the one who started it, turns it on.
	AllowSystemUsers bool
	// DrainXIDs are the XID errors that drain the node (default
	// DrainXIDs).
	DrainXIDs map[uint64]string
	// Images gives container jobs their images (nil: the node runs no
	// containers).
	Images ImageStore
	// ContainerRuntime is the OCI runtime's name or path (default runc,
	// looked up in PATH).
	ContainerRuntime string
	// Log receives the executor's messages (default: discarded).
	Log *slog.Logger
}

func (c *ProcessConfig) defaults() {
	if c.Node == "" {
		c.Node, _ = os.Hostname()
	}
	if c.Cluster == "" {
		c.Cluster = "gefion"
	}
	if c.StateDir == "" {
		c.StateDir = filepath.Join(os.TempDir(), "gefion-agent")
	}
	if c.KillWait == 0 {
		c.KillWait = 30 * time.Second
	}
	if c.SampleEvery <= 0 {
		c.SampleEvery = 10 * time.Second
	}
	if c.IdleAfter == 0 {
		c.IdleAfter = 30 * time.Minute
	}
	if c.DrainXIDs == nil {
		c.DrainXIDs = DrainXIDs
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
}

// Process is the executor of real nodes: it runs each job's batch script
// as a process group of the job's user, with Slurm's environment, output
// files and signals, in a cgroup where the host allows, and measures the
// job's GPUs.
type Process struct {
	cfg  ProcessConfig
	gpus *GPUs
	// power derives each GPU's draw from its energy counter (gpustat.go).
	power gpuPower
	// root: the agent runs as root, so jobs run as their users; otherwise
	// every job runs as the agent's user (self).
	root bool
	self JobUser
	cg   *cgroupRoot
	// ctrs is what the node can do with containers (container_linux.go).
	ctrs containerSupport

	// controllerAddr is the controller's URL as this node reaches it,
	// given to jobs as GEFION_ADDR so that their srun finds it.
	controllerAddr atomic.Pointer[string]

	mu       sync.Mutex
	jobs     map[share]*pjob
	steps    map[stepKey]*pstep // process_step.go
	stepUse  usageCache         // stepusage_linux.go
	watching bool
	drained  map[string]bool
}

var (
	_ Executor = (*Process)(nil)
	_ Tailer   = (*Process)(nil)
)

// pjob is one job's share of this node.
type pjob struct {
	a      api.Assignment
	report func(api.Report)
	start  time.Time
	// stop is closed when the share ends: timers and the sampler stop.
	stop     chan struct{}
	stopOnce sync.Once
	// release is closed when the controller releases a share that runs no
	// batch script.
	release     chan struct{}
	releaseOnce sync.Once
	timedOut    atomic.Bool

	mu  sync.Mutex
	pid int // the batch shell; its process group has the same ID
	// ctr is the batch script's container, or nil; named are the job's
	// named containers on this node (--container-name).
	ctr   *ctrProc
	named map[string]*ctrRootfs
	// namedMu serializes the making of named containers: two steps
	// asking for one name get one container.
	namedMu sync.Mutex
	// cancelStart stops the preparation of the batch script's container;
	// ended says the job was told to end (its script must not start).
	cancelStart func()
	ended       bool
	cg          *jobCgroup
	use         []*gpuUse
	timers      []*time.Timer
}

// NewProcess returns a process executor for a node with these GPUs (nil:
// none).
func NewProcess(cfg ProcessConfig, gpus *GPUs) (*Process, error) {
	cfg.defaults()
	if gpus == nil {
		gpus = &GPUs{Driver: "none", Close: func() {}}
	}
	if err := os.MkdirAll(cfg.StateDir, 0o711); err != nil {
		return nil, fmt.Errorf("creating the agent's state directory: %w", err)
	}
	p := &Process{cfg: cfg, gpus: gpus, root: os.Geteuid() == 0, jobs: map[share]*pjob{}, drained: map[string]bool{}}
	if p.root {
		// Checked before anything is changed through the path: a
		// planted symlink must not have root chmod what it points at.
		if err := checkStateDir(cfg.StateDir); err != nil {
			return nil, err
		}
	}
	// Users' jobs must reach their own spool directories inside it.
	_ = os.Chmod(cfg.StateDir, 0o711)
	me, err := user.Current()
	if err != nil {
		return nil, fmt.Errorf("looking up the agent's user: %w", err)
	}
	if p.self, err = jobUserOf(me); err != nil {
		return nil, err
	}
	if !p.root {
		cfg.Log.Warn("the agent is not root: every job runs as the agent's user", "user", p.self.Name)
	}
	if !cfg.NoCgroups {
		r, err := openCgroupRoot(cfg.CgroupParent)
		switch {
		case err != nil:
			cfg.Log.Warn("no writable cgroup v2: jobs run without memory and CPU limits", "why", err)
		default:
			p.cg = r
			var missing []string
			for _, c := range wantControllers {
				if !r.has(c) {
					missing = append(missing, c)
				}
			}
			if len(missing) > 0 {
				cfg.Log.Warn("job cgroups lack controllers; those limits are not enforced", "cgroup", r.dir, "missing", missing)
			} else {
				cfg.Log.Info("jobs run in cgroups", "cgroup", r.dir)
			}
		}
	}
	p.ctrs = probeContainers(cfg, p.root)
	if p.ctrs.runc == "" {
		cfg.Log.Info("this node runs no containers", "why", p.ctrs.why)
	}
	return p, nil
}

// Cgroups reports whether jobs run in cgroups of their own.
func (p *Process) Cgroups() bool { return p.cg != nil }

func jobUserOf(u *user.User) (JobUser, error) {
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		return JobUser{}, fmt.Errorf("user %s has a non-numeric uid or gid (%s:%s)", u.Username, u.Uid, u.Gid)
	}
	ju := JobUser{Name: u.Username, UID: uid, GID: gid, Home: u.HomeDir}
	if ids, err := u.GroupIds(); err == nil {
		for _, s := range ids {
			if g, err := strconv.ParseUint(s, 10, 32); err == nil {
				ju.Groups = append(ju.Groups, uint32(g))
			}
		}
	}
	return ju, nil
}

// jobUser is who a job runs as: its submitter when the agent is root.
func (p *Process) jobUser(a api.Assignment) (JobUser, error) {
	if !p.root {
		if a.Spec.User != "" && a.Spec.User != p.self.Name {
			p.cfg.Log.Info("running the job as the agent's user", "job", a.JobID, "submitter", a.Spec.User, "as", p.self.Name)
		}
		return p.self, nil
	}
	if a.Spec.User == "" {
		return JobUser{}, fmt.Errorf("job %d names no user; resubmit it with gefion sbatch", a.JobID)
	}
	u, err := user.Lookup(a.Spec.User)
	if err != nil {
		return JobUser{}, fmt.Errorf("user %s does not exist on node %s: create the account there (or connect the node to the directory service)", a.Spec.User, p.cfg.Node)
	}
	ju, err := jobUserOf(u)
	if err != nil {
		return JobUser{}, err
	}
	if ju.UID < minUserUID && !p.cfg.AllowSystemUsers {
		return JobUser{}, fmt.Errorf("user %s (uid %d) is a system account; this node runs no jobs of uid below %d (an operator may allow it with GEFION_ALLOW_SYSTEM_USERS=1)", a.Spec.User, ju.UID, minUserUID)
	}
	return ju, nil
}

// minUserUID is the lowest uid of an ordinary account on most Linux
// distributions.
const minUserUID = 1000

// Start begins a job's share: the batch host runs the script; other nodes
// hold the GPUs (and measure them) until released.
func (p *Process) Start(a api.Assignment, report func(api.Report)) {
	p.Watch(context.Background(), report)
	k := share{a.JobID, a.Node}
	p.mu.Lock()
	if old, dup := p.jobs[k]; dup {
		p.mu.Unlock()
		if old.a.Restarts != a.Restarts {
			// An earlier run of this requeued job is still ending
			// here: this run cannot have the node's share yet.
			p.cfg.Log.Warn("a new run arrived while the last is ending", "job", a.JobID, "run", a.Restarts)
			report(api.Report{Kind: api.ReportEnd, JobID: a.JobID, Node: a.Node, Restart: a.Restarts, State: job.NodeFail,
				ExitCode: 1, Message: "an earlier run of this job is still ending on " + a.Node})
		}
		return
	}
	j := &pjob{a: a, report: report, start: time.Now(), stop: make(chan struct{}), release: make(chan struct{})}
	p.jobs[k] = j
	p.mu.Unlock()
	go p.run(k, j)
}

func (p *Process) run(k share, j *pjob) {
	j.mu.Lock()
	j.use = p.baseline(j.a.GPUs)
	j.mu.Unlock()
	j.report(api.Report{Kind: api.ReportStart, JobID: k.id, Node: k.node})
	if !j.a.BatchHost {
		go p.sample(j)
		<-j.release
		p.finish(k, j, api.Report{})
		return
	}
	// A container's image may take long to pull: its time counts
	// against the job's limit, as under Pyxis.
	container := !j.a.Spec.Container.IsZero()
	if container {
		p.arm(j)
	}
	cmd, err := p.launch(j)
	if err != nil {
		p.cfg.Log.Error("cannot start the job", "job", k.id, "err", err)
		end := api.Report{State: job.Failed, ExitCode: 1, Message: err.Error()}
		if j.timedOut.Load() {
			end.State = job.Timeout
		}
		p.finish(k, j, end)
		return
	}
	p.cfg.Log.Info("job started", "job", k.id, "pid", cmd.pid, "gpus", j.a.GPUs, "cgroup", cmd.cgroup)
	go p.sample(j)
	if !container {
		p.arm(j)
	}
	code, sig := cmd.wait()
	end := api.Report{ExitCode: code, Signal: sig}
	if cmd.failure != "" {
		end.State, end.Message = job.Failed, cmd.failure
	}
	if j.timedOut.Load() {
		end.State = job.Timeout
	}
	p.finish(k, j, end)
}

// finish ends a share once: it stops timers and sampling, kills what is
// left of the job, reads the GPU counters and reports the end.
func (p *Process) finish(k share, j *pjob, end api.Report) {
	j.stopOnce.Do(func() { close(j.stop) })
	p.endSteps(k)
	j.mu.Lock()
	for _, t := range j.timers {
		t.Stop()
	}
	// A batch script's background processes end with it, as in Slurm.
	p.killAll(j)
	cg := j.cg
	j.mu.Unlock()
	energy, perGPU, measured, util, mem := p.usage(j)
	if cg != nil {
		if peak := cg.memoryPeak(); peak > 0 {
			p.cfg.Log.Info("job memory", "job", k.id, "peak_mb", peak)
		}
		if err := cg.remove(5 * time.Second); err != nil {
			p.cfg.Log.Warn("job cgroup not removed", "job", k.id, "err", err)
		}
	}
	p.removeContainers(j)
	_ = os.RemoveAll(p.spoolDir(k.id))
	p.mu.Lock()
	delete(p.jobs, k)
	p.mu.Unlock()
	end.Kind, end.JobID, end.Node, end.Restart = api.ReportEnd, k.id, k.node, j.a.Restarts
	end.EnergyJ, end.PerGPUJ, end.Measured, end.GPUUtil, end.GPUMemMB = energy, perGPU, measured, util, mem
	p.cfg.Log.Info("job ended", "job", k.id, "exit", end.ExitCode, "signal", end.Signal, "state", end.State, "energy_j", energy, "measured", measured)
	j.report(end)
}

// arm sets the job's timers: --signal before the time limit, SIGTERM at
// it and SIGKILL KillWait later.
func (p *Process) arm(j *pjob) {
	if j.a.TimeLimit <= 0 {
		return
	}
	limit := time.Duration(j.a.TimeLimit) * time.Second
	if j.a.Spec.Signal != "" {
		if sig, err := job.ParseSignal(j.a.Spec.Signal); err == nil {
			at := max(limit-time.Duration(sig.BeforeS)*time.Second, 0)
			j.after(at, func() {
				p.cfg.Log.Info("sending --signal", "job", j.a.JobID, "signal", sig.String())
				if sig.BatchOnly {
					j.mu.Lock()
					pid := j.pid
					j.mu.Unlock()
					if pid > 0 {
						_ = syscall.Kill(pid, syscall.Signal(sig.Num))
					}
					return
				}
				p.signalAll(j, syscall.Signal(sig.Num))
			})
		} else {
			p.cfg.Log.Warn("ignoring an invalid --signal", "job", j.a.JobID, "signal", j.a.Spec.Signal, "err", err)
		}
	}
	j.after(limit, func() {
		p.cfg.Log.Info("time limit reached", "job", j.a.JobID, "limit", limit)
		j.timedOut.Store(true)
		p.terminate(j, syscall.SIGTERM, p.cfg.KillWait)
	})
}

// after runs f after d unless the share has ended.
func (j *pjob) after(d time.Duration, f func()) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.timers = append(j.timers, time.AfterFunc(d, func() {
		select {
		case <-j.stop:
		default:
			f()
		}
	}))
}

// terminate sends sig to the whole job (with SIGCONT, so that a stopped
// job can handle it) and kills it grace later.
func (p *Process) terminate(j *pjob, sig syscall.Signal, grace time.Duration) {
	j.mu.Lock()
	j.ended = true
	if j.cancelStart != nil {
		j.cancelStart()
	}
	j.mu.Unlock()
	if sig == syscall.SIGKILL {
		j.mu.Lock()
		p.killAll(j)
		j.mu.Unlock()
		return
	}
	if sig == syscall.SIGTERM {
		p.signalAll(j, syscall.SIGCONT)
	}
	p.signalAll(j, sig)
	if grace > 0 {
		j.after(grace, func() {
			j.mu.Lock()
			p.killAll(j)
			j.mu.Unlock()
		})
	}
}

// signalAll sends sig to every process of the job: its cgroup's, else its
// process group's.
func (p *Process) signalAll(j *pjob, sig syscall.Signal) {
	j.mu.Lock()
	defer j.mu.Unlock()
	// The cgroup holds the process group and whatever left it; signal
	// one set, never both, so that no process gets a signal twice.
	switch {
	case j.cg != nil:
		j.cg.signal(sig)
	case j.ctr != nil:
		// The batch script's container leads a process group of its
		// own; runc passes on what reaches it before.
		j.ctr.signal(sig)
	case j.pid > 0:
		_ = syscall.Kill(-j.pid, sig)
	}
}

// killAll kills every process of the job; j.mu is held.
func (p *Process) killAll(j *pjob) {
	if j.cg != nil {
		j.cg.kill()
	}
	if j.ctr != nil {
		j.ctr.signal(syscall.SIGKILL)
	}
	if j.pid > 0 {
		_ = syscall.Kill(-j.pid, syscall.SIGKILL)
	}
}

// Signal signals or stops a job's share. Release frees a share whose job
// ended elsewhere: what still runs here is killed; a share without a batch
// script reports its end (and its GPUs' energy) at once.
func (p *Process) Signal(s api.Signal, report func(api.Report)) {
	k := share{s.JobID, s.Node}
	p.mu.Lock()
	j := p.jobs[k]
	p.mu.Unlock()
	if j == nil {
		return
	}
	if s.Release {
		if !j.a.BatchHost {
			j.releaseOnce.Do(func() { close(j.release) })
			return
		}
		j.mu.Lock()
		p.killAll(j)
		j.mu.Unlock()
		return
	}
	name := s.Signal
	if name == "" {
		name = "TERM"
	}
	num, _, err := job.SignalNumber(name)
	if err != nil {
		p.cfg.Log.Warn("ignoring an unknown signal from the controller", "job", s.JobID, "signal", s.Signal)
		return
	}
	p.cfg.Log.Info("signalling the job", "job", s.JobID, "signal", name, "grace_s", s.GraceS, "reason", s.Reason)
	if !j.a.BatchHost {
		return // nothing runs here outside the batch script's steps
	}
	p.terminate(j, syscall.Signal(num), time.Duration(s.GraceS)*time.Second)
}

// Running lists the shares that have not ended.
func (p *Process) Running() []api.RunningOnNode {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]api.RunningOnNode, 0, len(p.jobs))
	for k := range p.jobs {
		out = append(out, api.RunningOnNode{JobID: k.id, Node: k.node})
	}
	return out
}

// Watch reports GPU faults that take the node out of service (once per
// GPU and fault) until ctx ends. The executor starts it itself with its
// first job if the agent has not.
func (p *Process) Watch(ctx context.Context, report func(api.Report)) {
	p.mu.Lock()
	if p.watching || p.gpus.Health == nil {
		p.mu.Unlock()
		return
	}
	p.watching = true
	p.mu.Unlock()
	go func() {
		err := p.gpus.Health.WatchHealth(ctx, func(e HealthEvent) {
			drain, msg := HealthVerdict(e, p.cfg.DrainXIDs)
			if !drain {
				p.cfg.Log.Info("GPU error left to the job", "event", msg)
				return
			}
			p.mu.Lock()
			seen := p.drained[msg]
			p.drained[msg] = true
			p.mu.Unlock()
			if seen {
				return
			}
			p.cfg.Log.Error("GPU fault: asking to drain the node", "node", p.cfg.Node, "event", msg)
			report(api.Report{Kind: api.ReportHealth, Node: p.cfg.Node, Drain: true, Message: msg, GPU: e.GPU})
		})
		if err != nil && ctx.Err() == nil {
			p.cfg.Log.Warn("GPU faults are not watched", "err", err)
		}
	}()
}

// baseline reads the GPUs' energy counters at the start of a share.
func (p *Process) baseline(gpus []int) []*gpuUse {
	use := make([]*gpuUse, len(gpus))
	for i, g := range gpus {
		use[i] = &gpuUse{gpu: g}
		if p.gpus.Meter == nil {
			continue
		}
		if s, err := p.gpus.Meter.Sample(g); err == nil && s.HasEnergy {
			use[i].startMJ, use[i].hasEnergy = s.EnergyMJ, true
		}
	}
	return use
}

// sample reads the job's GPUs every SampleEvery until the share ends and
// reports a GPU idle for IdleAfter.
func (p *Process) sample(j *pjob) {
	if p.gpus.Meter == nil || len(j.a.GPUs) == 0 {
		return
	}
	t := time.NewTicker(p.cfg.SampleEvery)
	defer t.Stop()
	for {
		select {
		case <-j.stop:
			return
		case now := <-t.C:
			j.mu.Lock()
			var idle []int
			for _, u := range j.use {
				s, err := p.gpus.Meter.Sample(u.gpu)
				if err != nil {
					continue
				}
				if u.observe(s, now, p.cfg.IdleAfter) {
					idle = append(idle, u.gpu)
				}
			}
			j.mu.Unlock()
			for _, g := range idle {
				p.cfg.Log.Warn("allocated GPU idle", "job", j.a.JobID, "gpu", g, "for", p.cfg.IdleAfter)
				j.report(api.Report{Kind: api.ReportIdle, JobID: j.a.JobID, Node: j.a.Node, GPU: g,
					Message: fmt.Sprintf("0%% utilisation for %s", p.cfg.IdleAfter)})
			}
		}
	}
}

// usage reads the GPUs a last time and returns the share's energy (total
// and per GPU, joules), whether it was measured on every GPU, the average
// utilisation and the largest memory use seen.
func (p *Process) usage(j *pjob) (energy float64, perGPU []float64, measured bool, util float64, memMB int64) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if p.gpus.Meter == nil || len(j.use) == 0 {
		return 0, nil, false, 0, 0
	}
	measured = true
	perGPU = make([]float64, len(j.use))
	var utilSum float64
	var utilN int
	for i, u := range j.use {
		s, err := p.gpus.Meter.Sample(u.gpu)
		if err == nil {
			u.observe(s, time.Now(), 0)
		}
		if err != nil || !u.hasEnergy || !s.HasEnergy || s.EnergyMJ < u.startMJ {
			measured = false
		} else {
			perGPU[i] = float64(s.EnergyMJ-u.startMJ) / 1000
			energy += perGPU[i]
		}
		if u.samples > 0 {
			utilSum += u.utilSum / float64(u.samples)
			utilN++
		}
		memMB = max(memMB, u.maxMemMB)
	}
	if utilN > 0 {
		util = utilSum / float64(utilN)
	}
	if !measured {
		// A partial sum would read as a measurement; report none.
		return 0, nil, false, util, memMB
	}
	return energy, perGPU, measured, util, memMB
}

func (p *Process) spoolDir(id job.ID) string {
	return filepath.Join(p.cfg.StateDir, "job"+strconv.FormatInt(int64(id), 10))
}
