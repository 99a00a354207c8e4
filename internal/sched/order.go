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
// deterministic. Each priority is Factors.Priority of the factors
// prioCalc.factors computes, the same code PriorityFactors shows.
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
	c := newPrioCalc(s, p, qos)
	var f Factors
	for i := range s.Pending {
		j := &s.Pending[i]
		it := baseItem(j, i, tiers)
		c.factors(j, it.elig, &f)
		it.prio = f.Priority()
		items[i] = it
	}
	return items
}

// Factors are one pending job's priority factors as the core computes
// them to order the queue. Each Norm field is a factor in [0, 1] before
// its weight; the field of the same name without Norm is the weighted
// term (weight x factor). Nice is subtracted. Priority sums them.
type Factors struct {
	Age       float64 `json:"age"`
	FairShare float64 `json:"fair_share"`
	JobSize   float64 `json:"job_size"`
	Partition float64 `json:"partition"`
	QOS       float64 `json:"qos"`
	// ShortJob and Slowdown are Gefion's own terms (see Weights).
	ShortJob float64 `json:"short_job"`
	Slowdown float64 `json:"slowdown"`
	Nice     int     `json:"nice"`

	NormAge       float64 `json:"norm_age"`
	NormFairShare float64 `json:"norm_fair_share"`
	NormJobSize   float64 `json:"norm_job_size"`
	NormPartition float64 `json:"norm_partition"`
	NormQOS       float64 `json:"norm_qos"`
	NormShortJob  float64 `json:"norm_short_job"`
	NormSlowdown  float64 `json:"norm_slowdown"`
}

// Priority is the priority the queue is ordered by: the weighted terms
// summed in a fixed order, less nice, kept finite.
func (f *Factors) Priority() float64 {
	return saturate(f.Age + f.FairShare + f.JobSize + f.Partition + f.QOS + f.ShortJob + f.Slowdown - float64(f.Nice))
}

// JobPriority is a pending job's priority and the factors it is made of.
type JobPriority struct {
	ID       job.ID  `json:"id"`
	Priority float64 `json:"priority"`
	Factors  Factors `json:"factors"`
}

// PriorityFactors returns every pending job's priority factors at s.Now,
// in the order of s.Pending, computed by the code that orders a pass's
// queue (Schedule's priorities), so that what sprio shows is what the
// core orders by. It returns nil under a FIFO policy, which orders by
// eligible time and has no factors.
func PriorityFactors(s *Snapshot, p Policy) []JobPriority {
	if p.FIFO {
		return nil
	}
	qos := make(map[string]*QOS, len(s.QOS))
	for i := range s.QOS {
		qos[s.QOS[i].Name] = &s.QOS[i]
	}
	c := newPrioCalc(s, &p, qos)
	out := make([]JobPriority, len(s.Pending))
	for i := range s.Pending {
		j := &s.Pending[i]
		o := &out[i]
		o.ID = j.ID
		c.factors(j, eligible(j), &o.Factors)
		o.Priority = o.Factors.Priority()
	}
	return out
}

// prioCalc holds what every job's factors share in one pass: the fair
// share of each project, the largest QOS priority, the weights' scales.
type prioCalc struct {
	w      *Weights
	p      *Policy
	qos    map[string]*QOS
	now    Time
	fs     map[assocKey]float64
	fsProj map[string]float64 // when users carry no usage of their own
	maxQOS int
	total  float64
	maxAge float64
	ref    float64
	// slowCap is the slowdown at which its factor reaches 1, less 1.
	slowCap float64
	// Jobs of one project usually share its name's storage, so comparing
	// with the last one found is cheaper than hashing.
	lastProj string
	lastFS   float64
	// The short-job factor depends on the time limit alone, and limits
	// repeat (users write round ones): remember the last few.
	shortCache [64]struct {
		est  float64
		norm float64
		v    float64
	}
}

func newPrioCalc(s *Snapshot, p *Policy, qos map[string]*QOS) *prioCalc {
	w := &p.Weights
	c := &prioCalc{w: w, p: p, qos: qos, now: s.Now, total: 1}
	if w.FairShare != 0 {
		if c.fsProj = flatProjects(s); c.fsProj == nil {
			c.fs = fairTree(s)
			if len(s.Users) == 0 {
				c.fsProj = make(map[string]float64, len(c.fs))
				for k, v := range c.fs {
					c.fsProj[k.project] = v
				}
			}
		}
	}
	for _, q := range qos {
		c.maxQOS = max(c.maxQOS, q.Priority)
	}
	if w.JobSize != 0 {
		c.total = float64(max(s.Cluster.TotalGPUs(), 1))
	}
	if c.fsProj != nil {
		c.lastFS = c.fsProj[""]
	}
	c.maxAge = float64(w.MaxAgeS)
	if c.maxAge <= 0 {
		c.maxAge = 7 * 24 * 3600
	}
	c.ref = float64(max(w.ShortJobRefS, 1))
	c.slowCap = math.Max(w.SlowdownCap, 2) - 1
	return c
}

// factors fills f with pending job j's factors; elig is its eligible
// time. A factor whose weight is 0 is left 0 and not computed.
func (c *prioCalc) factors(j *Pending, elig Time, f *Factors) {
	w := c.w
	*f = Factors{Nice: clampNice(j.Nice)}
	wait := float64(max(c.now-elig, 0))
	if w.Age != 0 {
		f.NormAge = math.Min(wait/c.maxAge, 1)
		f.Age = w.Age * f.NormAge
	}
	switch {
	case c.fsProj != nil:
		if j.Project != c.lastProj {
			c.lastProj, c.lastFS = j.Project, c.fsProj[j.Project]
		}
		f.NormFairShare = c.lastFS
		f.FairShare = w.FairShare * f.NormFairShare
	case c.fs != nil:
		f.NormFairShare = c.fs[assocKey{j.Project, j.User}]
		f.FairShare = w.FairShare * f.NormFairShare
	}
	if w.JobSize != 0 {
		size := float64(j.Req.GPUs()) / c.total
		if w.FavorSmall {
			size = 1 - size
		}
		f.NormJobSize = size
		f.JobSize = w.JobSize * size
	}
	// One partition tier: the factor is 1.
	f.NormPartition = 1
	f.Partition = w.Partition
	if w.QOS != 0 && c.maxQOS > 0 {
		if q := c.qos[j.QOS]; q != nil {
			f.NormQOS = float64(q.Priority) / float64(c.maxQOS)
			f.QOS = w.QOS * f.NormQOS
		}
	}
	if w.ShortJob != 0 || w.Slowdown != 0 {
		est := float64(j.Req.TimeLimitS)
		if c.p.UseRuntimeEstimate && j.RuntimeEstimateS > 0 {
			est = math.Min(est, float64(j.RuntimeEstimateS))
		}
		est = math.Max(est, 60)
		if w.ShortJob != 0 {
			// Limits are round numbers (multiples of a minute or
			// an hour), so the slot comes from a multiplicative hash.
			sc := &c.shortCache[uint64(est)*0x9E3779B97F4A7C15>>58]
			if sc.est != est {
				d := 1 + math.Sqrt(est/c.ref)
				sc.est, sc.norm, sc.v = est, 1/d, w.ShortJob/d
			}
			f.NormShortJob, f.ShortJob = sc.norm, sc.v
		}
		if w.Slowdown != 0 {
			f.NormSlowdown = math.Min((wait/est)/c.slowCap, 1)
			f.Slowdown = w.Slowdown * f.NormSlowdown
		}
	}
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
