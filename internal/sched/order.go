package sched

import (
	"math"
	"slices"
)

// priorities computes every pending job's priority under the policy and
// returns the pending indexes, unordered, with the priorities and the
// scheduling order's comparison: priority descending, then eligible time,
// then ID, so the order is total and deterministic.
func priorities(s *Snapshot, p *Policy, qos map[string]*QOS) ([]int, []float64, func(a, b int) int) {
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
		var fsProj map[string]float64 // when users carry no usage of their own
		if w.FairShare != 0 {
			fs = fairTree(s)
			if len(s.Users) == 0 {
				fsProj = make(map[string]float64)
				for k, v := range fs {
					fsProj[k.project] = max(fsProj[k.project], v)
				}
			}
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
			switch {
			case fsProj != nil:
				v += w.FairShare * fsProj[j.Project]
			case fs != nil:
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
					v += w.ShortJob / (1 + math.Sqrt(est/ref))
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
	// The comparison is total (IDs are unique), so an unstable sort or a
	// heap gives one order.
	cmp := func(a, b int) int {
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
	}
	return order, prio, cmp
}

// queue yields pending indexes in scheduling order: sorted at once, or, when
// a pass may stop early, from a binary heap so that the jobs never reached
// cost no ordering work.
type queue struct {
	idx  []int
	cmp  func(a, b int) int
	heap bool
	pos  int
}

func newQueue(idx []int, cmp func(a, b int) int, lazy bool) *queue {
	q := &queue{idx: idx, cmp: cmp, heap: lazy}
	if !lazy {
		slices.SortFunc(idx, cmp)
		return q
	}
	for i := len(idx)/2 - 1; i >= 0; i-- {
		q.down(i, len(idx))
	}
	return q
}

// next returns the next job in order, or false.
func (q *queue) next() (int, bool) {
	if !q.heap {
		if q.pos == len(q.idx) {
			return 0, false
		}
		q.pos++
		return q.idx[q.pos-1], true
	}
	n := len(q.idx)
	if n == 0 {
		return 0, false
	}
	top := q.idx[0]
	q.idx[0] = q.idx[n-1]
	q.idx = q.idx[:n-1]
	q.down(0, n-1)
	return top, true
}

func (q *queue) down(i, n int) {
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && q.cmp(q.idx[r], q.idx[l]) < 0 {
			m = r
		}
		if q.cmp(q.idx[m], q.idx[i]) >= 0 {
			return
		}
		q.idx[i], q.idx[m] = q.idx[m], q.idx[i]
		i = m
	}
}

func eligible(j *Pending) Time {
	if j.EligibleS != 0 {
		return j.EligibleS
	}
	return j.SubmitS
}
