package twin

import (
	"time"

	"github.com/gefion-hpc/gefion/internal/sched"
)

// Replay runs a live snapshot forward as Forecast does (the same engine,
// core and policy, running jobs ending at their expected ends) but on to
// the end of every job or the horizon, and returns it as a replay that
// Summarize and WriteReport read. Its workload holds the snapshot's
// pending jobs, with times counted from the snapshot's Now: a job's
// SubmitS is negative by the time it has already waited, so waits are
// from submission. The running jobs are not in the workload (every policy
// lets them run out) but hold their GPUs in the time series and the
// energy. Utilisation is over the whole replay. The snapshot is not
// modified.
func Replay(s *sched.Snapshot, p sched.Policy, opt ForecastOptions) (*Result, error) {
	wall := time.Now()
	e, err := forecastEngine(s, p, opt)
	if err != nil {
		return nil, err
	}
	e.untilEnd = true
	e.series = Series{origin: s.Now}
	e.series.init(0, 0)
	e.loop()
	res := e.result()
	now := s.Now
	rel := func(t int64) int64 {
		if t < 0 {
			return t
		}
		return t - now
	}
	w := &Workload{Cluster: s.Cluster, Jobs: make([]Job, 0, len(s.Pending))}
	projIdx := make(map[string]int, len(s.Projects))
	for _, pr := range s.Projects {
		projIdx[pr.Name] = len(w.Projects)
		w.Projects = append(w.Projects, ProjectInfo{Name: pr.Name, Shares: pr.Shares})
	}
	outcomes := make([]Outcome, 0, len(s.Pending))
	for k := range s.Pending {
		pd := &s.Pending[k]
		pi, ok := projIdx[pd.Project]
		if !ok {
			// A project without a grant: it shows, with no share.
			pi = len(w.Projects)
			projIdx[pd.Project] = pi
			w.Projects = append(w.Projects, ProjectInfo{Name: pd.Project})
		}
		i := e.idIndex[pd.ID]
		w.Jobs = append(w.Jobs, Job{ID: pd.ID, SubmitS: pd.SubmitS - now, RunS: e.jobs[i].runS, GPUs: pd.Req.GPUs(),
			Req: pd.Req, Project: pi, User: pd.User})
		o := e.outcome[i]
		o.StartS, o.EndS, o.FirstStartS = rel(o.StartS), rel(o.EndS), rel(o.FirstStartS)
		outcomes = append(outcomes, o)
	}
	res.Policy = p.Name
	res.Workload = w
	res.Jobs = outcomes
	res.EndS = e.now - now
	w.SpanS = res.EndS
	res.WindowBusyGPUS = res.BusyGPUS
	res.WallS = time.Since(wall).Seconds()
	return res, nil
}
