package twin

import (
	"math"
	"slices"

	"github.com/gefion-hpc/gefion/internal/job"
)

// BoundedSlowdownTauS is the run time below which a job's slowdown is
// bounded (Feitelson's bounded slowdown), so that a one-second job that
// waits a minute does not count as a slowdown of 61.
const BoundedSlowdownTauS = 10

// Metrics are a replay's figures. Definitions, over the jobs that completed
// (C of them) unless said otherwise; job j was submitted at s_j, ran for
// r_j seconds and its last run ended at e_j:
//
//   - JCT (job completion time) is e_j - s_j.
//   - Wait is JCT - r_j: all the time the job spent not running its
//     completing run (queueing, plus runs lost to preemption or failures).
//     For a job that started once, it is start - submit.
//   - avg_* is the arithmetic mean; p50_* and p99_* are nearest-rank
//     percentiles: the value at rank ceil(p/100 x C) of the sorted values.
//   - Bounded slowdown is max(1, JCT / max(r_j, 10 s)).
//   - makespan_s is the end of the last job minus the first submission.
//   - utilization is the GPU-seconds held by jobs while jobs arrive (from
//     the first to the last submission) over the machine's GPUs times that
//     span; utilization_makespan is the same over the whole makespan.
//   - jain_fairness is Jain's index over projects p with a completed job of
//     x_p, the mean over p's completed jobs of the speed
//     max(r_j, 10 s) / max(JCT_j, 10 s) (the inverse of bounded
//     slowdown, in (0, 1]): J = (sum x_p)^2 / (n x sum x_p^2). It is 1 when
//     every project's jobs are slowed alike and 1/n when one project gets
//     all the service; a starved project pulls it down.
//   - multi_node_in_one_su is, over starts of multi-node jobs at which
//     some scalable unit had enough wholly idle nodes to hold the job, the
//     fraction placed within one SU (1 when there was none);
//     multi_node_in_one_su_all is the fraction over all starts of
//     multi-node jobs no larger than an SU, including those started
//     across SUs because no single SU had room at the time.
//   - energy_kwh is facility energy over the makespan (see EnergyModel);
//     co2_kg is location-based, co2_market_kg market-based.
type Metrics struct {
	Policy              string  `json:"policy"`
	Load                float64 `json:"load"`
	NativeLoad          float64 `json:"native_load"`
	Jobs                int     `json:"jobs"`
	Completed           int     `json:"completed"`
	Unfinished          int     `json:"unfinished"`
	GPUs                int     `json:"gpus"`
	MakespanS           float64 `json:"makespan_s"`
	AvgJCTS             float64 `json:"avg_jct_s"`
	P50JCTS             float64 `json:"p50_jct_s"`
	P99JCTS             float64 `json:"p99_jct_s"`
	AvgWaitS            float64 `json:"avg_wait_s"`
	P50WaitS            float64 `json:"p50_wait_s"`
	P99WaitS            float64 `json:"p99_wait_s"`
	MaxWaitS            float64 `json:"max_wait_s"`
	Utilization         float64 `json:"utilization"`
	UtilizationMakespan float64 `json:"utilization_makespan"`
	AvgBoundedSlowdown  float64 `json:"avg_bounded_slowdown"`
	JainFairness        float64 `json:"jain_fairness"`
	MultiNodeInOneSU    float64 `json:"multi_node_in_one_su"`
	MultiNodeInOneSUAll float64 `json:"multi_node_in_one_su_all"`
	MultiNodeStarts     int     `json:"multi_node_starts"`
	EnergyKWh           float64 `json:"energy_kwh"`
	CO2Kg               float64 `json:"co2_kg"`
	CO2MarketKg         float64 `json:"co2_market_kg"`
	// Oversized counts trace jobs larger than the machine (not replayed),
	// Timeouts jobs cut at the maximum time limit, SkippedBadRows rows of
	// the trace that could not be read (set by the caller).
	Oversized      int     `json:"oversized_jobs"`
	Timeouts       int     `json:"timeouts"`
	SkippedBadRows int     `json:"skipped_bad_rows"`
	Preemptions    int     `json:"preemptions"`
	Requeues       int     `json:"requeues"`
	NodeFailures   int     `json:"node_failures"`
	Passes         int     `json:"sched_passes"`
	WallS          float64 `json:"wall_s"`
	// Projects and SizeClasses break the figures down.
	Projects    []ProjectMetrics `json:"projects"`
	SizeClasses []ClassMetrics   `json:"size_classes"`
}

// ProjectMetrics are one project's figures. GPUHours counts every run,
// restarts included; UseShare is its part of all projects' GPU-hours and
// GrantShare its shares over all shares.
type ProjectMetrics struct {
	Name       string  `json:"name"`
	Jobs       int     `json:"jobs"`
	Completed  int     `json:"completed"`
	GPUHours   float64 `json:"gpu_hours"`
	UseShare   float64 `json:"use_share"`
	GrantShare float64 `json:"grant_share"`
	AvgWaitS   float64 `json:"avg_wait_s"`
	AvgJCTS    float64 `json:"avg_jct_s"`
	// Speed is x_p of Jain's index.
	Speed float64 `json:"speed"`
}

// ClassMetrics are the figures of jobs of one size class.
type ClassMetrics struct {
	Class     string  `json:"class"`
	Jobs      int     `json:"jobs"`
	Completed int     `json:"completed"`
	AvgWaitS  float64 `json:"avg_wait_s"`
	P99WaitS  float64 `json:"p99_wait_s"`
	AvgJCTS   float64 `json:"avg_jct_s"`
	AvgBSld   float64 `json:"avg_bounded_slowdown"`
}

// SizeClasses are the job-size classes, by GPUs: up to the class's bound.
var SizeClasses = []struct {
	Name    string
	MaxGPUs int
}{
	{"cpu", 0}, {"1", 1}, {"2-4", 4}, {"5-8", 8}, {"9-64", 64}, {"65+", math.MaxInt},
}

func sizeClass(gpus int) int {
	for i, c := range SizeClasses {
		if gpus <= c.MaxGPUs {
			return i
		}
	}
	return len(SizeClasses) - 1
}

// Percentile returns the nearest-rank p-th percentile of sorted values: the
// value at rank ceil(p/100 x n), 1-based; 0 for no values.
func Percentile(sorted []float64, p float64) float64 {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	k := int(math.Ceil(p / 100 * float64(n)))
	return sorted[min(max(k, 1), n)-1]
}

// Jain returns Jain's fairness index of xs: (sum x)^2 / (n sum x^2), in
// [1/n, 1]; 1 for no values or all zeros.
func Jain(xs []float64) float64 {
	var s, s2 float64
	for _, x := range xs {
		s += x
		s2 += x * x
	}
	if len(xs) == 0 || s2 == 0 {
		return 1
	}
	return s * s / (float64(len(xs)) * s2)
}

// BoundedSlowdown returns max(1, jct / max(run, tau)).
func BoundedSlowdown(jct, run float64) float64 {
	return max(1, jct/max(run, BoundedSlowdownTauS))
}

func mean(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	var s float64
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// Summarize computes the figures of a replay.
func Summarize(r *Result) Metrics {
	w := r.Workload
	gpus := w.Cluster.TotalGPUs()
	m := Metrics{
		Policy: r.Policy, Load: round(w.Load, 4), NativeLoad: round(w.NativeLoad, 4),
		Jobs: len(w.Jobs), GPUs: gpus,
		MakespanS: float64(r.EndS), Preemptions: r.Preemptions, Requeues: r.Requeues,
		NodeFailures: r.NodeFailures, Passes: r.Passes, WallS: round(r.WallS, 3),
		EnergyKWh: r.EnergyJ / 3.6e6, CO2Kg: r.CO2LocationG / 1000, CO2MarketKg: r.CO2MarketG / 1000,
		MultiNodeInOneSU: 1, MultiNodeInOneSUAll: 1, MultiNodeStarts: r.MultiNodeStarts,
		Oversized: w.Oversized, Timeouts: w.Timeouts,
	}
	if r.MultiNodeFit > 0 {
		m.MultiNodeInOneSU = float64(r.MultiNodeFitOneSU) / float64(r.MultiNodeFit)
	}
	if r.MultiNodeStarts > 0 {
		m.MultiNodeInOneSUAll = float64(r.MultiNodeOneSU) / float64(r.MultiNodeStarts)
	}
	if w.SpanS > 0 {
		m.Utilization = r.WindowBusyGPUS / (float64(gpus) * float64(w.SpanS))
	}
	if r.EndS > 0 {
		m.UtilizationMakespan = r.BusyGPUS / (float64(gpus) * float64(r.EndS))
	}

	np := len(w.Projects)
	type acc struct {
		jobs, done  int
		gpus        float64
		wait, jct   []float64
		speed, bsld []float64
	}
	projs := make([]acc, np)
	classes := make([]acc, len(SizeClasses))
	var jcts, waits, bslds []float64
	var totalGPUS float64
	for i := range w.Jobs {
		wj, o := &w.Jobs[i], &r.Jobs[i]
		p, c := &projs[wj.Project], &classes[sizeClass(wj.GPUs)]
		p.jobs++
		c.jobs++
		held := o.LostGPUS
		if o.State == job.Completed {
			held += float64(wj.GPUs) * float64(wj.RunS)
		}
		p.gpus += held
		totalGPUS += held
		if o.State != job.Completed {
			m.Unfinished++
			continue
		}
		m.Completed++
		p.done++
		c.done++
		jct := float64(o.EndS - wj.SubmitS)
		wait := jct - float64(wj.RunS)
		bs := BoundedSlowdown(jct, float64(wj.RunS))
		jcts = append(jcts, jct)
		waits = append(waits, wait)
		bslds = append(bslds, bs)
		p.wait = append(p.wait, wait)
		p.jct = append(p.jct, jct)
		p.speed = append(p.speed, 1/bs)
		c.wait = append(c.wait, wait)
		c.jct = append(c.jct, jct)
		c.bsld = append(c.bsld, bs)
	}
	m.AvgJCTS, m.AvgWaitS, m.AvgBoundedSlowdown = mean(jcts), mean(waits), mean(bslds)
	slices.Sort(jcts)
	slices.Sort(waits)
	m.P50JCTS, m.P99JCTS = Percentile(jcts, 50), Percentile(jcts, 99)
	m.P50WaitS, m.P99WaitS = Percentile(waits, 50), Percentile(waits, 99)
	if len(waits) > 0 {
		m.MaxWaitS = waits[len(waits)-1]
	}
	var shares float64
	for _, p := range w.Projects {
		shares += p.Shares
	}
	var xs []float64
	for i, p := range projs {
		pm := ProjectMetrics{
			Name: w.Projects[i].Name, Jobs: p.jobs, Completed: p.done,
			GPUHours: p.gpus / 3600, GrantShare: w.Projects[i].Shares / shares,
			AvgWaitS: mean(p.wait), AvgJCTS: mean(p.jct), Speed: mean(p.speed),
		}
		if totalGPUS > 0 {
			pm.UseShare = p.gpus / totalGPUS
		}
		if p.done > 0 {
			xs = append(xs, pm.Speed)
		}
		m.Projects = append(m.Projects, pm)
	}
	m.JainFairness = Jain(xs)
	for i, c := range classes {
		if c.jobs == 0 {
			continue
		}
		slices.Sort(c.wait)
		m.SizeClasses = append(m.SizeClasses, ClassMetrics{
			Class: SizeClasses[i].Name, Jobs: c.jobs, Completed: c.done,
			AvgWaitS: mean(c.wait), P99WaitS: Percentile(c.wait, 99),
			AvgJCTS: mean(c.jct), AvgBSld: mean(c.bsld),
		})
	}
	return m
}

func round(x float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(x*p) / p
}
