package sched

import (
	"math"
	"slices"
)

// priorities computes every pending job's priority under the policy and
// returns the pending indexes in scheduling order: priority descending, then
// eligible time, then ID, so the order is total and deterministic.
func priorities(s *Snapshot, p *Policy, qos map[string]*QOS) ([]int, []float64) {
	n := len(s.Pending)
	prio := make([]float64, n)
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	if p.FIFO {
		for i := range s.Pending {
			prio[i] = -float64(eligible(&s.Pending[i]))
		}
	} else {
		w := &p.Weights
		var fs map[assocKey]float64
		if w.FairShare != 0 {
			fs = fairTree(s)
		}
		maxQOS := 0
		for _, q := range qos {
			maxQOS = max(maxQOS, q.Priority)
		}
		total := float64(max(s.Cluster.TotalGPUs(), 1))
		maxAge := float64(w.MaxAgeS)
		if maxAge <= 0 {
			maxAge = 7 * 24 * 3600
		}
		for i := range s.Pending {
			j := &s.Pending[i]
			var v float64
			wait := float64(max(s.Now-eligible(j), 0))
			if w.Age != 0 {
				v += w.Age * math.Min(wait/maxAge, 1)
			}
			if fs != nil {
				v += w.FairShare * fs[assocKey{j.Project, j.User}]
			}
			if w.JobSize != 0 {
				size := float64(j.Req.GPUs()) / total
				if w.FavorSmall {
					size = 1 - size
				}
				v += w.JobSize * size
			}
			v += w.Partition // one partition tier: the factor is 1
			if w.QOS != 0 && maxQOS > 0 {
				if q := qos[j.QOS]; q != nil {
					v += w.QOS * float64(q.Priority) / float64(maxQOS)
				}
			}
			if w.ShortJob != 0 || w.Slowdown != 0 {
				est := float64(j.Req.TimeLimitS)
				if p.UseRuntimeEstimate && j.RuntimeEstimateS > 0 {
					est = math.Min(est, float64(j.RuntimeEstimateS))
				}
				est = math.Max(est, 60)
				if w.ShortJob != 0 {
					ref := float64(max(w.ShortJobRefS, 1))
					v += w.ShortJob / (1 + math.Log2(1+est/ref))
				}
				if w.Slowdown != 0 {
					cap := math.Max(w.SlowdownCap, 2)
					v += w.Slowdown * math.Min((wait/est)/(cap-1), 1)
				}
			}
			v -= float64(j.Nice)
			prio[i] = v
		}
	}
	// The comparison is total (IDs are unique), so an unstable sort is
	// deterministic.
	slices.SortFunc(order, func(a, b int) int {
		pa, pb := prio[a], prio[b]
		switch {
		case pa > pb:
			return -1
		case pa < pb:
			return 1
		}
		ja, jb := &s.Pending[a], &s.Pending[b]
		if ea, eb := eligible(ja), eligible(jb); ea != eb {
			return cmpTime(ea, eb)
		}
		return cmpID(ja.ID, jb.ID)
	})
	return order, prio
}

func eligible(j *Pending) Time {
	if j.EligibleS != 0 {
		return j.EligibleS
	}
	return j.SubmitS
}
