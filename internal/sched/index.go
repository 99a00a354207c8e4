package sched

import (
	"math"
	"slices"

	"github.com/gefion-hpc/gefion/internal/job"
)

// PendingIndex lets a driver that schedules the same deep queue pass after
// pass (the twin) keep the queue's order from one pass to the next, so that
// a starts-only pass costs about the number of priority classes, not the
// number of pending jobs.
//
// Jobs whose priority factors differ only in their eligible time form a
// class: the same project (and user, where fair share is per user), QOS,
// nice, GPU count and expected run time, as far as the policy weighs
// them. Within a class the priority never rises with a later eligible
// time (the age and slowdown factors only grow with the wait, and every
// sum is monotone in each term), and the order breaks ties by eligible
// time and ID, so a class sorted once by eligible time and ID stays in
// scheduling order whatever the time. A pass then merges the classes'
// heads: it computes one priority per class, with the same code as a full
// pass, and yields the jobs in exactly the order the full queue would.
//
// The driver mirrors every change of Snapshot.Pending: Append after it
// appends an entry, SwapRemove after it moves the last entry into a
// removed one's place. An entry must not change while it is pending; to
// change one, remove it and append it again. The index is a cache: a pass
// checks it against the snapshot (length and a few IDs) and rebuilds it
// when they disagree, and uses it only where the order it keeps is exact
// (a starts-only pass that may stop early under a policy with finite
// weights and age and slowdown weights not negative). The zero value is
// an empty index; one index must not serve two passes at once.
//
// Once an EASY pass may add no more reservations, only the jobs that
// start matter. The index also groups jobs by placement class (shape and
// time limit): the pass then passes over, without computing their
// priorities, the jobs that do not fit what was free and those whose
// shape already failed at no longer a limit in this pass (the full pass
// reaches them and skips them by shape). Stats.EarlyStop counts them.
type PendingIndex struct {
	ents []ixEnt // by handle; handles are not reused until a rebuild
	slot []int32 // pending index -> handle
	// fits counts jobs by qitem.fit; cpuOnly counts jobs asking for no
	// GPU per node.
	fits    map[int32]int
	cpuOnly int

	built bool
	mode  ixMode
	byKey map[classKey]int32
	cls   []ixClass

	// Placement classes: jobs of one shape (all a placement reads) and
	// time limit start or fail together; places by shape, any limit.
	placeOf map[placeKey]int32
	places  []placeKey
	shapes  map[shapeKey][]int32
	excl    []bool // a pass's placement classes known not to start
}

// shapeKey is what shapeOf reads of a request; jobs whose MaxSUs depends
// on how long they waited have no fixed shape (varies).
type shapeKey struct {
	nodes, gpus, cpus int
	mem               int64
	whole             bool
	part              int
	gtype             string
	maxSUs            int
	varies            bool
}

type placeKey struct {
	shape shapeKey
	limit Time
}

type ixEnt struct {
	id      job.ID
	elig    Time
	fit     int32
	pend    int32 // index in Snapshot.Pending
	cls     int32 // -1: not in a class yet
	place   int32 // placement class (placeKey)
	cpuOnly bool  // asks for no GPU per node
	dead    bool
}

// ixClass is one priority class: handles sorted by eligible time, then ID,
// with removed ones left in place until they are many.
type ixClass struct {
	list []int32
	head int // no live entry before it
	dead int
	// rep is the first job classified here: what a priority reads of a
	// job besides its eligible time and ID is the same for every job of
	// the class, and reading it here keeps a pass off the pending list.
	rep Pending
}

// ixMode is what a class key holds under a policy and snapshot.
type ixMode struct {
	policy Policy
	users  bool // fair share per (project, user)
}

type classKey struct {
	project, user, qos string
	nice               int
	gpus               int
	est                float64
}

// Append records that p was appended to the pending jobs.
func (x *PendingIndex) Append(p *Pending) {
	h := int32(len(x.ents))
	e := ixEnt{id: p.ID, elig: eligible(p), fit: fitOf(&p.Req), pend: int32(len(x.slot)), cls: -1, place: x.placeID(p),
		cpuOnly: p.Req.GPUsPerNode == 0}
	x.ents = append(x.ents, e)
	x.slot = append(x.slot, h)
	if x.fits == nil {
		x.fits = map[int32]int{}
	}
	x.fits[e.fit]++
	if e.cpuOnly {
		x.cpuOnly++
	}
	if x.built {
		x.classify(h, p)
	}
}

// SwapRemove records that pending entry k was removed and the last entry
// moved into its place.
func (x *PendingIndex) SwapRemove(k int) {
	h := x.slot[k]
	e := &x.ents[h]
	e.dead = true
	if x.fits[e.fit]--; x.fits[e.fit] == 0 {
		delete(x.fits, e.fit)
	}
	if e.cpuOnly {
		x.cpuOnly--
	}
	last := len(x.slot) - 1
	x.slot[k] = x.slot[last]
	x.ents[x.slot[k]].pend = int32(k)
	x.slot = x.slot[:last]
	if e.cls >= 0 {
		c := &x.cls[e.cls]
		if c.dead++; c.dead > 32 && c.dead*2 > len(c.list) {
			c.compact(x.ents)
		}
	}
}

// placeID is p's placement class, added if new.
func (x *PendingIndex) placeID(p *Pending) int32 {
	r := &p.Req
	sk := shapeKey{nodes: r.Nodes, gpus: r.GPUsPerNode, cpus: r.CPUsPerNode, mem: r.MemPerNodeMB,
		whole: r.WholeNodes || r.Nodes > 1, part: r.Partition, gtype: r.GPUType, maxSUs: r.MaxSUs,
		varies: r.MaxSUs > 0 && r.MaxSUsWaitS > 0}
	limit := r.TimeLimitS
	if limit <= 0 {
		limit = math.MaxInt32 // as the pass takes it
	}
	k := placeKey{sk, limit}
	if id, ok := x.placeOf[k]; ok {
		return id
	}
	if x.placeOf == nil {
		x.placeOf, x.shapes = map[placeKey]int32{}, map[shapeKey][]int32{}
	}
	id := int32(len(x.places))
	x.placeOf[k] = id
	x.places = append(x.places, k)
	x.shapes[sk] = append(x.shapes[sk], id)
	return id
}

// anyPreemptor is pass.anyPreemptor over the classes: a class's jobs
// share their QOS.
func (x *PendingIndex) anyPreemptor(qos map[string]*QOS) bool {
	some := false
	for _, q := range qos {
		some = some || len(q.Preempt) > 0
	}
	if !some {
		return false
	}
	for i := range x.cls {
		c := &x.cls[i]
		if q := qos[c.rep.QOS]; q != nil && len(q.Preempt) > 0 && len(c.list) > c.dead {
			return true
		}
	}
	return false
}

// Len is the number of pending jobs recorded.
func (x *PendingIndex) Len() int { return len(x.slot) }

// SmallestAsks is SmallestAsks of the recorded pending jobs.
func (x *PendingIndex) SmallestAsks() (gpus, wholeNodes int) {
	gpus, wholeNodes = 1<<30, 1<<30
	for f := range x.fits {
		addAsk(&gpus, &wholeNodes, f)
	}
	return gpus, wholeNodes
}

func (c *ixClass) compact(ents []ixEnt) {
	keep := c.list[:0]
	for _, h := range c.list {
		if !ents[h].dead {
			keep = append(keep, h)
		}
	}
	clear(c.list[len(keep):])
	c.list, c.head, c.dead = keep, 0, 0
}

// reset rebuilds the records from the snapshot's pending jobs.
func (x *PendingIndex) reset(s *Snapshot) {
	*x = PendingIndex{ents: x.ents[:0], slot: x.slot[:0]}
	for i := range s.Pending {
		x.Append(&s.Pending[i])
	}
}

// inSync checks the records against the snapshot: the length and the IDs
// of a few entries.
func (x *PendingIndex) inSync(s *Snapshot) bool {
	n := len(s.Pending)
	if len(x.slot) != n {
		return false
	}
	if n == 0 {
		return true
	}
	for _, k := range [...]int{0, n / 3, n / 2, n - 1} {
		if x.ents[x.slot[k]].id != s.Pending[k].ID {
			return false
		}
	}
	return true
}

// indexable says whether the order within a class is exact under p: every
// weight finite, and the weights of the factors that grow with the wait
// (age, slowdown) not negative.
func indexable(p *Policy) bool {
	if p.FIFO {
		return true
	}
	w := &p.Weights
	for _, v := range [...]float64{w.Age, w.FairShare, w.JobSize, w.Partition, w.QOS, w.ShortJob, w.Slowdown, w.SlowdownCap} {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return false
		}
	}
	return w.Age >= 0 && w.Slowdown >= 0
}

// sync brings the index up to date with the snapshot under p, rebuilding
// what no longer applies.
func (x *PendingIndex) sync(s *Snapshot, p *Policy) {
	if !x.inSync(s) {
		x.reset(s)
	}
	m := ixMode{policy: *p, users: len(s.Users) > 0}
	if x.built && x.mode == m {
		return
	}
	x.built, x.mode = true, m
	x.byKey = map[classKey]int32{}
	for i := range x.cls {
		x.cls[i].list = x.cls[i].list[:0]
	}
	x.cls = x.cls[:0]
	for k, h := range x.slot {
		x.ents[h].cls = -1
		x.classify(h, &s.Pending[k])
	}
	for i := range x.cls {
		c := &x.cls[i]
		slices.SortFunc(c.list, func(a, b int32) int { return x.cmpEnt(a, b) })
		c.head, c.dead = 0, 0
	}
	// Entries removed before the rebuild are in no class.
	for h := range x.ents {
		if x.ents[h].dead {
			x.ents[h].cls = -1
		}
	}
}

func (x *PendingIndex) cmpEnt(a, b int32) int {
	ea, eb := &x.ents[a], &x.ents[b]
	if c := cmpTime(ea.elig, eb.elig); c != 0 {
		return c
	}
	return cmpID(ea.id, eb.id)
}

// classify puts live handle h (pending entry p) in its class. A class
// built by sync is sorted afterwards; one added to later keeps its order
// by inserting.
func (x *PendingIndex) classify(h int32, p *Pending) {
	k := x.keyOf(p)
	ci, ok := x.byKey[k]
	if !ok {
		ci = int32(len(x.cls))
		x.byKey[k] = ci
		if len(x.cls) < cap(x.cls) {
			x.cls = x.cls[:len(x.cls)+1]
			x.cls[ci].head, x.cls[ci].dead = 0, 0
		} else {
			x.cls = append(x.cls, ixClass{})
		}
		x.cls[ci].rep = *p
	}
	x.ents[h].cls = ci
	c := &x.cls[ci]
	n := len(c.list)
	if n == 0 || x.cmpEnt(c.list[n-1], h) < 0 {
		c.list = append(c.list, h)
		return
	}
	at, _ := slices.BinarySearchFunc(c.list, h, func(a, b int32) int { return x.cmpEnt(a, b) })
	c.list = slices.Insert(c.list, at, h)
	if at < c.head {
		c.head = at
	}
}

// keyOf is p's class under the index's mode: what prioCalc.factors and
// baseItem read of a job besides its eligible time and ID.
func (x *PendingIndex) keyOf(p *Pending) classKey {
	k := classKey{qos: p.QOS}
	pol := &x.mode.policy
	if pol.FIFO {
		return k
	}
	w := &pol.Weights
	k.nice = clampNice(p.Nice)
	if w.FairShare != 0 {
		k.project = p.Project
		if x.mode.users {
			k.user = p.User
		}
	}
	if w.JobSize != 0 {
		k.gpus = p.Req.GPUs()
	}
	if w.ShortJob != 0 || w.Slowdown != 0 {
		est := float64(p.Req.TimeLimitS)
		if pol.UseRuntimeEstimate && p.RuntimeEstimateS > 0 {
			est = math.Min(est, float64(p.RuntimeEstimateS))
		}
		k.est = math.Max(est, 60)
	}
	return k
}

// mergeQueue yields the index's jobs in scheduling order by merging the
// classes' heads; narrowing (see queue.narrow) skips jobs as they come.
type mergeQueue struct {
	x     *PendingIndex
	s     *Snapshot
	calc  *prioCalc
	fifo  bool
	tiers map[string]int8
	heap  queue // of class heads
	cur   []int32
	// narrowed: yield only jobs with fit within maxFree or idle.
	narrowed      bool
	maxFree, idle int
	f             Factors
}

func newMergeQueue(ps *pass, x *PendingIndex, tiers map[string]int8) *mergeQueue {
	s := ps.s
	m := &mergeQueue{x: x, s: s, fifo: ps.p.FIFO, tiers: tiers}
	if !m.fifo {
		m.calc = newPrioCalc(s, ps.p, ps.qos)
	}
	x.excl = reuse(x.excl, len(x.places))
	m.cur = reuse(ps.sc.cursors, len(x.cls))
	ps.sc.cursors = m.cur
	items := ps.sc.items[:0]
	for ci := range x.cls {
		c := &x.cls[ci]
		for c.head < len(c.list) && x.ents[c.list[c.head]].dead {
			c.head++
		}
		// A cursor stands just after its class's job in the heap.
		m.cur[ci] = int32(c.head + 1)
		if c.head < len(c.list) {
			items = append(items, m.item(c.list[c.head]))
		}
	}
	ps.sc.items = items
	m.heap = queue{items: items, heap: true}
	for i := (len(items)+2)/4 - 1; i >= 0; i-- {
		m.heap.down(i, len(items))
	}
	return m
}

// item is handle h's queue entry, its priority computed as priorities
// computes it.
func (m *mergeQueue) item(h int32) qitem {
	e := &m.x.ents[h]
	rep := &m.x.cls[e.cls].rep
	it := qitem{elig: e.elig, id: e.id, idx: int(e.pend), fit: e.fit}
	if m.tiers != nil {
		it.tier = m.tiers[rep.QOS]
	}
	if m.fifo {
		it.prio = -float64(it.elig)
		return it
	}
	m.calc.factors(rep, it.elig, &m.f)
	it.prio = m.f.Priority()
	return it
}

// keeps says whether the walk still yields entry e: before narrowing,
// every job; after, only those that fit what was free then and whose
// placement class has not failed in this pass.
func (m *mergeQueue) keeps(e *ixEnt) bool {
	if !m.narrowed {
		return true
	}
	return (e.fit >= 0 && int(e.fit) <= m.maxFree || e.fit < 0 && int(-e.fit) <= m.idle) && !m.x.excl[e.place]
}

// failed records that pending job pi could not start now, its shape
// failing at time limits from limit up: once the pass has narrowed, a job
// of that shape and such a limit would be skipped by shape (see
// pass.failNow) and start nothing, so the walk passes it over unseen.
// A shape that no eligible node can hold fails at every limit.
func (m *mergeQueue) failed(pi int, limit Time) {
	x := m.x
	pl := &x.places[x.ents[x.slot[pi]].place]
	if pl.shape.varies {
		return
	}
	for _, id := range x.shapes[pl.shape] {
		if x.places[id].limit >= limit {
			x.excl[id] = true
		}
	}
}

// advance returns the next live job of class ci that narrowing keeps, at
// or after the cursor, and moves the cursor past it; -1 if none.
func (m *mergeQueue) advance(ci int32) int32 {
	c := &m.x.cls[ci]
	for p := int(m.cur[ci]); p < len(c.list); p++ {
		h := c.list[p]
		if e := &m.x.ents[h]; !e.dead && m.keeps(e) {
			m.cur[ci] = int32(p + 1)
			return h
		}
	}
	m.cur[ci] = int32(len(c.list))
	return -1
}

// next is queue.next.
func (m *mergeQueue) next() (int, float64, bool) {
	q := &m.heap
	for {
		n := len(q.items)
		if n == 0 {
			return 0, 0, false
		}
		top := q.items[0]
		e := &m.x.ents[m.x.slot[top.idx]]
		if h := m.advance(e.cls); h >= 0 {
			q.items[0] = m.item(h)
		} else {
			q.items[0] = q.items[n-1]
			q.items = q.items[:n-1]
			n--
		}
		q.down(0, n)
		// A head whose placement class failed after it was queued is
		// passed over as the jobs behind it are.
		if m.keeps(e) {
			return top.idx, top.prio, true
		}
	}
}

// narrow is queue.narrow: from now on only jobs that fit are yielded. The
// jobs dropped are counted as the pass ends (Stats.EarlyStop).
func (m *mergeQueue) narrow(maxFree, idle int) int {
	m.narrowed, m.maxFree, m.idle = true, maxFree, idle
	q := &m.heap
	keep := q.items[:0]
	for _, it := range q.items {
		if m.keeps(&m.x.ents[m.x.slot[it.idx]]) {
			keep = append(keep, it)
			continue
		}
		ci := m.x.ents[m.x.slot[it.idx]].cls
		if h := m.advance(ci); h >= 0 {
			keep = append(keep, m.item(h))
		}
	}
	q.items = keep
	for i := (len(keep)+2)/4 - 1; i >= 0; i-- {
		q.down(i, len(keep))
	}
	return 0
}

// left is not used: a pass over an index counts the jobs it did not reach
// as it ends.
func (m *mergeQueue) left() int { return 0 }
