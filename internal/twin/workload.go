package twin

import (
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/gefion-hpc/gefion/internal/cluster"
	"github.com/gefion-hpc/gefion/internal/job"
	"github.com/gefion-hpc/gefion/internal/twin/trace"
)

// Job is one trace job mapped onto the machine.
type Job struct {
	ID   job.ID
	Name string
	// SubmitS is the submit time in virtual seconds; the first job of a
	// workload is submitted at 0.
	SubmitS int64
	// RunS is the job's true run time, at least 1 s and at most its time
	// limit. Only the twin knows it.
	RunS int64
	// GPUs is the GPU count the trace gives (the request may hold whole
	// nodes beyond it).
	GPUs int
	// Req is what the scheduling core places, with the modelled time limit.
	Req job.Request
	// Project indexes Workload.Projects.
	Project int
	User    string
}

// ProjectInfo is a tenant of the trace as a project of the machine.
type ProjectInfo struct {
	Name   string
	Shares float64
}

// Workload is a trace mapped onto a machine, ready to replay.
type Workload struct {
	Cluster  *cluster.Cluster
	Jobs     []Job // by submit time, then trace order; Jobs[i].ID == i+1
	Projects []ProjectInfo
	// Oversized are trace jobs larger than the machine (skipped), with the
	// first few described in OversizedNotes.
	Oversized      int
	OversizedNotes []string
	// Timeouts counts jobs whose trace run time exceeded the maximum time
	// limit (MapOptions.MaxTimeS); they run up to their limit and end.
	Timeouts int
	// NativeLoad is the trace's offered load on this machine before
	// rescaling, Load after; see OfferedLoad.
	NativeLoad float64
	Load       float64
	// SpanS is the time from the first to the last submission, after
	// rescaling.
	SpanS int64
}

// TimeLimitModel says how a job's time limit is drawn from its true run time,
// since traces record no user limits. Limits never fall below the run time
// (jobs end on their own) nor below MinTimeLimitS.
type TimeLimitModel struct {
	// Kind is one of:
	//   exact    limit = run time (perfect users; backfill is then an oracle)
	//   factor   limit = run time x Factor
	//   uniform  limit = run time x U(1, Factor), the "f-model" of Mu'alem
	//            and Feitelson (2001)
	//   user     (default) limit = run time / a with accuracy a ~ U(0.1, 1),
	//            rounded up to the next limit users commonly write (5, 10,
	//            15, 30 min; 1, 2, 4, 6, 8, 12, 18 h; 1, 2, 3, 4, 5, 7 days;
	//            then whole weeks), after Tsafrir, Etsion and Feitelson (2005):
	//            estimates are modal and most jobs use a fraction of them.
	//   trace    the trace's own limit where it has one (gefion export),
	//            else as user.
	Kind   string
	Factor float64
}

// MinTimeLimitS is the shortest limit the twin models: Slurm's limits have a
// minute's resolution.
const MinTimeLimitS = 60

// ParseTimeLimitModel reads --time-limit-model: exact, user, trace,
// factor:F or uniform:F.
func ParseTimeLimitModel(s string) (TimeLimitModel, error) {
	kind, arg, hasArg := strings.Cut(strings.TrimSpace(s), ":")
	m := TimeLimitModel{Kind: kind}
	switch kind {
	case "", "user":
		m.Kind = "user"
	case "exact", "trace":
	case "factor", "uniform":
		f, err := strconv.ParseFloat(arg, 64)
		if !hasArg || err != nil || !(f >= 1) || math.IsInf(f, 0) {
			return m, fmt.Errorf("--time-limit-model %s: write %s:F with F >= 1 (for example %s:3)", s, kind, kind)
		}
		m.Factor = f
		return m, nil
	default:
		return m, fmt.Errorf("--time-limit-model %q: choose exact, user, trace, factor:F or uniform:F", s)
	}
	if hasArg {
		return m, fmt.Errorf("--time-limit-model %s: %s takes no argument", s, kind)
	}
	return m, nil
}

// commonLimits are time limits users commonly write, in seconds.
var commonLimits = []int64{
	300, 600, 900, 1800, 3600, 2 * 3600, 4 * 3600, 6 * 3600, 8 * 3600, 12 * 3600, 18 * 3600,
	86400, 2 * 86400, 3 * 86400, 4 * 86400, 5 * 86400, 7 * 86400,
}

// roundUpLimit returns the smallest common limit >= s (whole weeks past a
// week).
func roundUpLimit(s int64) int64 {
	i := sort.Search(len(commonLimits), func(i int) bool { return commonLimits[i] >= s })
	if i < len(commonLimits) {
		return commonLimits[i]
	}
	const week = 7 * 86400
	return (s + week - 1) / week * week
}

// limit draws the time limit of a job of true run time run.
func (m TimeLimitModel) limit(run, traceLimit int64, rng *rand.Rand) int64 {
	var l int64
	switch m.Kind {
	case "exact":
		l = run
	case "factor":
		l = int64(math.Ceil(float64(run) * m.Factor))
	case "uniform":
		l = int64(math.Ceil(float64(run) * (1 + rng.Float64()*(m.Factor-1))))
	case "trace":
		if traceLimit > 0 {
			l = traceLimit
			break
		}
		fallthrough
	default: // user
		a := 0.1 + 0.9*rng.Float64()
		l = roundUpLimit(int64(math.Ceil(float64(run) / a)))
	}
	return max(l, run, MinTimeLimitS)
}

// MapOptions says how a trace becomes a workload. The zero value keeps the
// trace's load, gives every tenant one share and draws "user" time limits
// with seed 0.
type MapOptions struct {
	// Load, when > 0, rescales inter-arrival times so that the offered load
	// is Load (see OfferedLoad).
	Load      float64
	TimeLimit TimeLimitModel
	// Shares gives projects (trace tenants) their raw shares; tenants not
	// named get one share. Naming a tenant the trace lacks is an error.
	Shares map[string]float64
	// MaxTimeS caps time limits; a job whose true run time is longer is cut
	// at the cap (Slurm's TIMEOUT). 0 is no cap: the twin lifts the
	// partitions' limits so that long trace jobs replay whole.
	MaxTimeS int64
	// Seed seeds the time-limit draws.
	Seed uint64
	// MaxJobs, when > 0, keeps only the first MaxJobs jobs by submit time.
	MaxJobs int
}

// ErrEmptyTrace is a trace with no job that fits the machine.
var ErrEmptyTrace = errors.New("the trace holds no job to replay")

// OfferedLoad is the GPU-seconds that jobs ask for divided by the
// GPU-seconds the machine offers while they arrive:
//
//	sum over jobs of GPUs_j x RunS_j / (machine GPUs x (last submit - first submit))
//
// A trace whose jobs all arrive at once has an undefined load (0 here).
func OfferedLoad(jobs []Job, gpus int) float64 {
	if len(jobs) < 2 || gpus <= 0 {
		return 0
	}
	var work float64
	lo, hi := jobs[0].SubmitS, jobs[0].SubmitS
	for i := range jobs {
		work += float64(jobs[i].GPUs) * float64(jobs[i].RunS)
		lo, hi = min(lo, jobs[i].SubmitS), max(hi, jobs[i].SubmitS)
	}
	if hi == lo {
		return 0
	}
	return work / (float64(gpus) * float64(hi-lo))
}

// Map reads every record of r and maps it onto the machine c. A record of a
// size the machine cannot hold is counted in Oversized and skipped.
func Map(r trace.Reader, c *cluster.Cluster, opt MapOptions) (*Workload, error) {
	var recs []trace.Record
	for {
		rec, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		recs = append(recs, rec)
	}
	return MapRecords(recs, c, opt)
}

// MapRecords is Map over records already read. recs is reordered.
func MapRecords(recs []trace.Record, c *cluster.Cluster, opt MapOptions) (*Workload, error) {
	if c == nil || len(c.Nodes) == 0 {
		return nil, errors.New("twin: no cluster to map the trace onto")
	}
	if opt.MaxJobs < 0 {
		return nil, fmt.Errorf("%w: --max-jobs %d: give a number of jobs, or 0 for all", ErrConfig, opt.MaxJobs)
	}
	if !(opt.Load >= 0) || math.IsInf(opt.Load, 0) {
		return nil, fmt.Errorf("%w: --load %v: give an offered load > 0, or 0 for the trace's own", ErrConfig, opt.Load)
	}
	// The twin's copy of the machine lifts partition time limits (or sets
	// the asked cap): trace jobs ran under other limits.
	cc := *c
	cc.Partitions = slices.Clone(c.Partitions)
	for i := range cc.Partitions {
		cc.Partitions[i].MaxTimeS = opt.MaxTimeS
	}
	w := &Workload{Cluster: &cc}
	part := cc.DefaultPartition()
	var model *cluster.NodeModel
	for _, ni := range cc.Partitions[part].Nodes {
		if m := cc.Nodes[ni].Model; model == nil || m.GPUs > model.GPUs {
			model = m
		}
	}
	if model == nil {
		return nil, errors.New("twin: the default partition has no nodes")
	}
	partNodes := len(cc.Partitions[part].Nodes)
	nodeMemMB := model.MemoryBytes >> 20

	slices.SortStableFunc(recs, func(a, b trace.Record) int {
		switch {
		case a.SubmitS < b.SubmitS:
			return -1
		case a.SubmitS > b.SubmitS:
			return 1
		}
		return 0
	})
	if opt.MaxJobs > 0 && len(recs) > opt.MaxJobs {
		recs = recs[:opt.MaxJobs]
	}

	projIndex := map[string]int{}
	var projNames []string
	jobs := make([]Job, 0, len(recs))
	for _, rec := range recs {
		g := rec.GPUs
		var req job.Request
		switch {
		case g == 0:
			// CPU-only pods: their own CPUs and memory on one node.
			cpus := max(1, int(math.Ceil(rec.CPUs)))
			if cpus > model.CPUs {
				w.oversized(fmt.Sprintf("line %d: %d CPUs on no GPU; nodes have %d CPUs", rec.Line, cpus, model.CPUs))
				continue
			}
			mem := rec.MemMB
			if mem <= 0 {
				mem = nodeMemMB * int64(cpus) / int64(model.CPUs)
			}
			req = job.Request{Nodes: 1, CPUsPerNode: cpus, MemPerNodeMB: min(mem, nodeMemMB)}
		case g <= model.GPUs:
			// One node, a GPU-proportional share of its CPUs and memory.
			req = job.Request{
				Nodes: 1, GPUsPerNode: g,
				CPUsPerNode:  max(1, model.CPUs*g/model.GPUs),
				MemPerNodeMB: nodeMemMB * int64(g) / int64(model.GPUs),
			}
		default:
			nodes := (g + model.GPUs - 1) / model.GPUs
			if nodes > partNodes {
				w.oversized(fmt.Sprintf("line %d: %d GPUs need %d nodes; the machine has %d", rec.Line, g, nodes, partNodes))
				continue
			}
			req = job.Request{
				Nodes: nodes, GPUsPerNode: (g + nodes - 1) / nodes,
				CPUsPerNode: model.CPUs, MemPerNodeMB: nodeMemMB, WholeNodes: true,
			}
		}
		req.Partition = part
		tenant := rec.Tenant
		if tenant == "" {
			tenant = "default"
		}
		pi, ok := projIndex[tenant]
		if !ok {
			pi = len(projNames)
			projIndex[tenant] = pi
			projNames = append(projNames, tenant)
		}
		user := rec.User
		if user == "" {
			user = tenant
		}
		jobs = append(jobs, Job{
			Name: rec.Name, SubmitS: int64(math.Round(rec.SubmitS)),
			RunS: max(1, int64(math.Round(rec.DurationS))), GPUs: g, Req: req,
			Project: pi, User: user,
			// TimeLimitS holds the trace's limit until limits are drawn.
		})
		jobs[len(jobs)-1].Req.TimeLimitS = rec.TimeLimitS
	}
	if len(jobs) == 0 {
		return nil, fmt.Errorf("%w (%d records, %d larger than the machine)", ErrEmptyTrace, len(recs), w.Oversized)
	}

	// Projects are numbered by name so that the result does not depend on
	// the order tenants first appear in.
	sorted := slices.Clone(projNames)
	sort.Strings(sorted)
	renum := make([]int, len(projNames))
	for newIdx, name := range sorted {
		renum[projIndex[name]] = newIdx
	}
	for _, name := range sorted {
		w.Projects = append(w.Projects, ProjectInfo{Name: name, Shares: 1})
	}
	var unknown []string
	for name, sh := range opt.Shares {
		i := sort.SearchStrings(sorted, name)
		if i == len(sorted) || sorted[i] != name {
			unknown = append(unknown, name)
			continue
		}
		w.Projects[i].Shares = sh
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		show := sorted
		if len(show) > 20 {
			show = append(slices.Clone(show[:20]), "...")
		}
		return nil, fmt.Errorf("--shares names %s, which the trace lacks: its projects are %s", strings.Join(unknown, ", "), strings.Join(show, ", "))
	}

	gpus := cc.TotalGPUs()
	t0 := jobs[0].SubmitS
	rng := rand.New(rand.NewPCG(opt.Seed, 0x7e1e11))
	for i := range jobs {
		j := &jobs[i]
		j.ID = job.ID(i + 1)
		j.Project = renum[j.Project]
		j.SubmitS -= t0
		lim := opt.TimeLimit.limit(j.RunS, j.Req.TimeLimitS, rng)
		if opt.MaxTimeS > 0 && lim > opt.MaxTimeS {
			lim = opt.MaxTimeS
		}
		if j.RunS > lim {
			j.RunS = lim
			w.Timeouts++
		}
		j.Req.TimeLimitS = lim
	}
	w.NativeLoad = OfferedLoad(jobs, gpus)
	w.Load = w.NativeLoad
	if opt.Load > 0 && w.NativeLoad > 0 {
		k := w.NativeLoad / opt.Load
		// A tiny load stretches arrivals past what int64 seconds hold,
		// and the conversion would wrap them to nonsense.
		if span := float64(jobs[len(jobs)-1].SubmitS-jobs[0].SubmitS) * k; span > maxSpanS {
			return nil, fmt.Errorf("%w: --load %v stretches the trace's arrivals over %.3g years; give a load nearer the trace's own (%.3f)",
				ErrConfig, opt.Load, span/(365*86400), w.NativeLoad)
		}
		for i := range jobs {
			jobs[i].SubmitS = int64(math.Round(float64(jobs[i].SubmitS) * k))
		}
		w.Load = OfferedLoad(jobs, gpus)
	}
	w.Jobs = jobs
	w.SpanS = jobs[len(jobs)-1].SubmitS - jobs[0].SubmitS
	return w, nil
}

func (w *Workload) oversized(note string) {
	w.Oversized++
	if len(w.OversizedNotes) < 5 {
		w.OversizedNotes = append(w.OversizedNotes, note)
	}
}

// maxSpanS bounds a workload's arrival window after rescaling: a thousand
// years, far past any replay and far below int64 seconds.
const maxSpanS = 1000 * 365 * 86400

// ParseShares reads --shares: "name=weight,name=weight". A project named
// twice is refused, since which weight was meant is a guess.
func ParseShares(s string) (map[string]float64, error) {
	m := map[string]float64{}
	if strings.TrimSpace(s) == "" {
		return m, nil
	}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		k = strings.TrimSpace(k)
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if !ok || k == "" || err != nil || !(f > 0) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("--shares entry %q: write project=weight with a weight > 0", kv)
		}
		if _, dup := m[k]; dup {
			return nil, fmt.Errorf("--shares names project %s twice: give each project one weight", k)
		}
		m[k] = f
	}
	return m, nil
}
