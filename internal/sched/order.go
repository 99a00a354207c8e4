package sched

import (
	"math"
	"slices"

	"github.com/gefion-hpc/gefion/internal/job"
)

// priorities computes every pending job's priority under the policy and
// returns the pending indexes, unordered, with the priorities, in buf's
// space when it has room. The scheduling order is priority descending,
// then eligible time, then ID (see qitem), so it is total and
// deterministic.
func priorities(s *Snapshot, p *Policy, qos map[string]*QOS, buf []qitem) []qitem {
	n := len(s.Pending)
	tiers := preemptTiers(s)
	items := buf[:0]
	if cap(items) < n {
		items = make([]qitem, n)
	}
	items = items[:n]
	if p.FIFO {
		for i := range s.Pending {
			items[i] = baseItem(&s.Pending[i], i, tiers)
			items[i].prio = -float64(items[i].elig)
		}
		return items
	}
	w := &p.Weights
	var fs map[assocKey]float64
	var fsProj map[string]float64 // when users carry no usage of their own
	if w.FairShare != 0 {
		if fsProj = flatProjects(s); fsProj == nil {
			fs = fairTree(s)
			if len(s.Users) == 0 {
				fsProj = make(map[string]float64, len(fs))
				for k, v := range fs {
					fsProj[k.project] = v
				}
			}
		}
	}
	maxQOS := 0
	for _, q := range qos {
		maxQOS = max(maxQOS, q.Priority)
	}
	total := 1.0
	if w.JobSize != 0 {
		total = float64(max(s.Cluster.TotalGPUs(), 1))
	}
	// Jobs of one project usually share its name's storage, so comparing
	// with the last one found is cheaper than hashing.
	lastProj, lastFS := "", 0.0
	if fsProj != nil {
		lastFS = fsProj[""]
	}
	maxAge := float64(w.MaxAgeS)
	if maxAge <= 0 {
		maxAge = 7 * 24 * 3600
	}
	ref := float64(max(w.ShortJobRefS, 1))
	slowCap := math.Max(w.SlowdownCap, 2) - 1
	// The short-job term depends on the time limit alone, and limits
	// repeat (users write round ones): remember the last few.
	var shortCache [64]struct {
		est float64
		v   float64
	}
	for i := range s.Pending {
		j := &s.Pending[i]
		it := baseItem(j, i, tiers)
		var v float64
		wait := float64(max(s.Now-it.elig, 0))
		if w.Age != 0 {
			v += w.Age * math.Min(wait/maxAge, 1)
		}
		switch {
		case fsProj != nil:
			if j.Project != lastProj {
				lastProj, lastFS = j.Project, fsProj[j.Project]
			}
			v += w.FairShare * lastFS
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
				// Limits are round numbers (multiples of a minute or
				// an hour), so the slot comes from a multiplicative hash.
				c := &shortCache[uint64(est)*0x9E3779B97F4A7C15>>58]
				if c.est != est {
					c.est, c.v = est, w.ShortJob/(1+math.Sqrt(est/ref))
				}
				v += c.v
			}
			if w.Slowdown != 0 {
				v += w.Slowdown * math.Min((wait/est)/slowCap, 1)
			}
		}
		v -= float64(clampNice(j.Nice))
		it.prio = saturate(v)
		items[i] = it
	}
	return items
}

// qitem is a pending job's place in the scheduling order.
type qitem struct {
	// tier puts jobs that may preempt first and jobs that may be
	// preempted last, whatever their priority: otherwise a requeued
	// victim could outrank its preemptor and take the freed GPUs back,
	// over and over.
	tier int8
	// fit is what the job needs to start now, for a quick test: GPUs on
	// one node if not negative, that many idle whole nodes if negative.
	fit  int32
	prio float64
	elig Time
	id   job.ID
	idx  int
}

// before reports whether a comes before b: priority descending, then
// eligible time, then ID. The order is total (IDs are unique).
func (a *qitem) before(b *qitem) bool {
	if a.tier != b.tier {
		return a.tier > b.tier
	}
	if a.prio != b.prio {
		return a.prio > b.prio
	}
	if a.elig != b.elig {
		return a.elig < b.elig
	}
	return a.id < b.id
}

// queue yields pending indexes in scheduling order: sorted at once, or, when
// a pass may stop early, from a binary heap so that the jobs never reached
// cost no ordering work.
type queue struct {
	items []qitem
	heap  bool
	pos   int
}

func newQueue(items []qitem, lazy bool) *queue {
	q := &queue{items: items, heap: lazy}
	if !lazy {
		slices.SortFunc(items, func(a, b qitem) int {
			if a.before(&b) {
				return -1
			}
			return 1
		})
		return q
	}
	for i := (len(items)+2)/4 - 1; i >= 0; i-- {
		q.down(i, len(items))
	}
	return q
}

// preemptTiers gives QOSes that may preempt tier 1 and QOSes that may be
// preempted tier -1; nil when no QOS preempts.
func preemptTiers(s *Snapshot) map[string]int8 {
	var t map[string]int8
	for i := range s.QOS {
		if len(s.QOS[i].Preempt) == 0 {
			continue
		}
		if t == nil {
			t = map[string]int8{}
		}
		for _, v := range s.QOS[i].Preempt {
			if t[v] == 0 {
				t[v] = -1
			}
		}
	}
	for i := range s.QOS {
		if len(s.QOS[i].Preempt) > 0 {
			t[s.QOS[i].Name] = 1
		}
	}
	return t
}

// left is how many jobs the queue has not yielded.
func (q *queue) left() int {
	if q.heap {
		return len(q.items)
	}
	return len(q.items) - q.pos
}

// next returns the next job in order (its pending index and priority), or
// false.
func (q *queue) next() (int, float64, bool) {
	if !q.heap {
		if q.pos == len(q.items) {
			return 0, 0, false
		}
		q.pos++
		it := &q.items[q.pos-1]
		return it.idx, it.prio, true
	}
	n := len(q.items)
	if n == 0 {
		return 0, 0, false
	}
	top, prio := q.items[0].idx, q.items[0].prio
	q.items[0] = q.items[n-1]
	q.items = q.items[:n-1]
	q.down(0, n-1)
	return top, prio, true
}

// down sifts item i down the heap of the first n items. The heap is 4-ary:
// half as deep as a binary one, so a pop moves items fewer times.
func (q *queue) down(i, n int) {
	if i >= n {
		return
	}
	it := q.items
	x := it[i]
	for {
		c := 4*i + 1
		if c >= n {
			break
		}
		m := c
		for k := c + 1; k < min(c+4, n); k++ {
			if it[k].before(&it[m]) {
				m = k
			}
		}
		if !it[m].before(&x) {
			break
		}
		it[i] = it[m]
		i = m
	}
	it[i] = x
}

// baseItem is pending job j's (at index i) place in the queue, all but its
// priority.
func baseItem(j *Pending, i int, tiers map[string]int8) qitem {
	it := qitem{elig: eligible(j), id: j.ID, idx: i, fit: fitOf(&j.Req)}
	if tiers != nil {
		it.tier = tiers[j.QOS]
	}
	return it
}

// SmallestAsks returns the fewest GPUs any single-node job of pending asks
// for and the fewest whole nodes any whole-node job asks for (1<<30: none
// such). No job can start on a machine where no node has that many GPUs
// free and fewer nodes than that are idle: a driver may skip a pass then.
func SmallestAsks(pending []Pending) (gpus, wholeNodes int) {
	gpus, wholeNodes = 1<<30, 1<<30
	for i := range pending {
		addAsk(&gpus, &wholeNodes, fitOf(&pending[i].Req))
	}
	return gpus, wholeNodes
}

// addAsk lowers the smallest asks by a job's qitem.fit.
func addAsk(gpus, whole *int, fit int32) {
	if f := int(fit); f >= 0 {
		*gpus = min(*gpus, f)
	} else {
		*whole = min(*whole, -f)
	}
}

// fitOf is a request's qitem.fit.
func fitOf(r *job.Request) int32 {
	if r.WholeNodes || r.Nodes > 1 {
		return -int32(min(r.Nodes, 1<<30))
	}
	return int32(min(r.GPUsPerNode, 1<<30))
}

// narrow drops from the queue the jobs that cannot start with maxFree GPUs
// free on the fullest node and idle whole nodes, keeping the rest in order: what
// a pass does once it may add no more reservations, when only jobs that
// can start now still matter.
func (q *queue) narrow(maxFree, idle int) (dropped int) {
	rest := q.items[q.pos:]
	keep := rest[:0]
	for _, it := range rest {
		if it.fit >= 0 && int(it.fit) <= maxFree || it.fit < 0 && int(-it.fit) <= idle {
			keep = append(keep, it)
		}
	}
	dropped = len(rest) - len(keep)
	q.items, q.pos = keep, 0
	if q.heap {
		for i := (len(keep)+2)/4 - 1; i >= 0; i-- {
			q.down(i, len(keep))
		}
	}
	return dropped
}

func eligible(j *Pending) Time {
	if j.EligibleS != 0 {
		return j.EligibleS
	}
	return j.SubmitS
}

// clampNice bounds a nice value to Slurm's range, job.MaxNice either way:
// drivers check it, but a trace or an old record must not let one job
// jump the whole queue.
func clampNice(n int) int {
	return min(max(n, -job.MaxNice), job.MaxNice)
}

// saturate keeps a priority finite and ordered: huge weights may sum to
// an infinity, and infinities to NaN, which compares false both ways and
// would break the queue's total order.
func saturate(v float64) float64 {
	switch {
	case math.IsNaN(v):
		return 0
	case v > math.MaxFloat64:
		return math.MaxFloat64
	case v < -math.MaxFloat64:
		return -math.MaxFloat64
	}
	return v
}
