package sched

import (
	"math"
	"math/bits"
	"slices"

	"github.com/gefion-hpc/gefion/internal/job"
)

// Schedule runs one scheduling pass over the snapshot under the policy and
// returns the plan. It does not modify the snapshot.
func Schedule(s *Snapshot, p Policy) *Plan {
	ps := newPass(s, &p)
	ps.run()
	return ps.plan
}

type eligKey struct {
	part  int
	gtype int
}

// eligSet is the nodes a partition and GPU type allow, and the largest node
// among them, for quick "can this ever fit" answers.
type eligSet struct {
	mask   bitset
	usable int // usable nodes in the set
	maxGPU int
	maxCPU int
	maxMem int64
}

// shape is everything about a request that placement looks at, except the
// time limit: jobs of equal shape fit or fail together.
type shape struct {
	nodes int
	nd    need
	part  int
	gtype int // interned GPU type; 0 is any
	suMax int
}

type estKey struct {
	sh     shape
	bucket int64
}

type pass struct {
	s    *Snapshot
	p    *Policy
	now  Time
	ns   *nodes
	plan *Plan

	qos      map[string]*QOS
	proj     map[string]*Project
	userQOS  map[[2]string]int // running GPUs by (QOS, user)
	projQOS  map[[2]string]int // running GPUs by (QOS, project)
	projGPUs map[string]int    // running GPUs by project
	arrayRun map[job.ID]int
	userJobs map[string]int // running jobs by user, when MaxJobsPerUser is set

	// Quota maps are consulted only when some limit exists.
	projLimits, qosLimits bool

	elig     map[eligKey]*eligSet
	elig0    *eligSet
	gtypes   []string       // interned GPU types; gtypes[0] is ""
	failNow  map[shape]Time // shortest time limit that failed to start now
	blocked  map[int]bool   // partitions whose queue head is blocked (no backfill)
	reserved int

	// preemption state, built on first use
	runningOn [][]int // node -> indexes into s.Running
	victim    map[job.ID]bool

	sc     *Scratch // buffers: the snapshot's, or the pass's own
	cands  []int
	counts []int
}

func newPass(s *Snapshot, p *Policy) *pass {
	sc := s.Scratch
	if sc == nil {
		sc = &Scratch{}
	}
	ps := &pass{
		s: s, p: p, now: s.Now, ns: newNodes(s, sc), sc: sc,
		plan:     &Plan{},
		qos:      make(map[string]*QOS, len(s.QOS)),
		proj:     make(map[string]*Project, len(s.Projects)),
		userQOS:  map[[2]string]int{},
		projQOS:  map[[2]string]int{},
		projGPUs: map[string]int{},
		userJobs: map[string]int{},
		arrayRun: map[job.ID]int{},
		elig:     map[eligKey]*eligSet{},
		gtypes:   []string{""},
		failNow:  map[shape]Time{},
		blocked:  map[int]bool{},
		victim:   map[job.ID]bool{},
		counts:   make([]int, len(s.Cluster.SUs)),
	}
	for i := range s.QOS {
		ps.qos[s.QOS[i].Name] = &s.QOS[i]
	}
	for i := range s.Projects {
		ps.proj[s.Projects[i].Name] = &s.Projects[i]
		if s.Projects[i].GrantGPUS > 0 || s.Projects[i].MaxGPUs > 0 {
			ps.projLimits = true
		}
	}
	for i := range s.QOS {
		if s.QOS[i].MaxGPUsPerUser > 0 || s.QOS[i].MaxGPUsPerProject > 0 {
			ps.qosLimits = true
		}
	}
	for i := range s.Running {
		r := &s.Running[i]
		g := 0
		if ps.qosLimits || ps.projLimits { // else count needs no GPU count
			for _, a := range r.Allocs {
				g += bits.OnesCount64(a.GPUs)
			}
		}
		ps.count(r.QOS, r.User, r.Project, r.ArrayJobID, g)
		if r.Preempting {
			ps.victim[r.ID] = true
		}
	}
	return ps
}

func (ps *pass) count(qos, user, project string, array job.ID, gpus int) {
	if ps.qosLimits {
		ps.userQOS[[2]string{qos, user}] += gpus
		ps.projQOS[[2]string{qos, project}] += gpus
	}
	if ps.projLimits {
		ps.projGPUs[project] += gpus
	}
	if array != 0 {
		ps.arrayRun[array]++
	}
	if ps.s.MaxJobsPerUser > 0 {
		ps.userJobs[user]++
	}
}

func (ps *pass) eligible(part int, gt int) *eligSet {
	if part == 0 && gt == 0 && ps.elig0 != nil {
		return ps.elig0 // most jobs: the first partition, any GPU type
	}
	k := eligKey{part, gt}
	gtype := ps.gtypes[gt]
	if e, ok := ps.elig[k]; ok {
		return e
	}
	c := ps.s.Cluster
	e := &eligSet{mask: newBitset(len(c.Nodes))}
	if part >= 0 && part < len(c.Partitions) {
		for _, ni := range c.Partitions[part].Nodes {
			m := c.Nodes[ni].Model
			if !job.GPUTypeMatches(m.GPU.Name, gtype) {
				continue
			}
			e.mask.set(ni)
			if ps.ns.usable.has(ni) {
				e.usable++
				e.maxGPU = max(e.maxGPU, m.GPUs)
				e.maxCPU = max(e.maxCPU, m.CPUs)
				e.maxMem = max(e.maxMem, m.MemoryBytes>>20)
			}
		}
	}
	ps.elig[k] = e
	if part == 0 && gt == 0 {
		ps.elig0 = e
	}
	return e
}

func (ps *pass) shapeOf(j *Pending) shape {
	r := &j.Req
	sh := shape{
		nodes: r.Nodes,
		nd:    need{gpus: r.GPUsPerNode, cpus: r.CPUsPerNode, mem: r.MemPerNodeMB, whole: r.WholeNodes || r.Nodes > 1},
		part:  r.Partition,
	}
	if r.GPUType != "" {
		sh.gtype = ps.intern(r.GPUType)
	}
	if r.MaxSUs > 0 && (r.MaxSUsWaitS <= 0 || ps.now-eligible(j) < r.MaxSUsWaitS) {
		sh.suMax = r.MaxSUs
	}
	return sh
}

func (ps *pass) intern(t string) int {
	for i, g := range ps.gtypes {
		if g == t {
			return i
		}
	}
	ps.gtypes = append(ps.gtypes, t)
	return len(ps.gtypes) - 1
}

// estReq is a waiting job that needs an estimate.
type estReq struct{ waiting, pending int }

func (ps *pass) run() {
	s := ps.s
	ps.plan.Stats.Pending = len(s.Pending)
	if !s.StartsOnly {
		ps.plan.Waiting = make([]Waiting, 0, len(s.Pending))
	}
	// A starts-only pass may stop once nothing can start any more: the
	// jobs it never reaches would only wait.
	lazy := s.StartsOnly && ps.p.Backfill != Conservative
	ix := s.Index
	if ix != nil && lazy && indexable(ps.p) {
		ix.sync(s, ps.p)
		lazy = ix.cpuOnly == 0 && !ix.anyPreemptor(ps.qos)
	} else {
		ix = nil
		lazy = lazy && !ps.anyPreemptor() && !ps.anyCPUOnly()
	}
	var q interface {
		next() (int, float64, bool)
		narrow(maxFree, idle int) int
		left() int
	}
	var minGPUs, minWhole int
	var mq *mergeQueue
	if ix != nil && lazy {
		mq = newMergeQueue(ps, ix, preemptTiers(s))
		q = mq
		minGPUs, minWhole = ix.SmallestAsks()
	} else {
		ix = nil
		items := priorities(s, ps.p, ps.qos, ps.sc.items)
		ps.sc.items = items
		q = newQueue(items, lazy)
		if lazy {
			minGPUs, minWhole = smallestAsks(items)
		}
	}
	// processed counts the jobs the loop below looked at: a pass over an
	// index did not reach the others (EarlyStop).
	processed := 0
	defer func() {
		if ix != nil {
			ps.plan.Stats.EarlyStop = len(s.Pending) - processed
		}
	}()
	anyFits, fitsAt := true, -1
	// Once an EASY pass may add no more reservations, a job that cannot
	// start now changes nothing: a lazy pass then keeps only the jobs that
	// fit what is free (which only shrinks) and skips ordering the rest.
	narrow := lazy && ps.p.Backfill == EASY
	depth := max(ps.p.ReservationDepth, 1)
	// Without backfill, a partition whose head is blocked starts nothing
	// more in this pass; once every partition is, a lazy pass is done (a
	// FIFO queue of thousands would otherwise be walked to its end for no
	// start at every event).
	parts := max(1, len(s.Cluster.Partitions))
	waitingHead := false // a blocked head may spread over more SUs later
	var estimates []estReq
	for {
		if lazy && ps.p.Backfill == NoBackfill && len(ps.blocked) >= parts {
			ps.plan.Stats.EarlyStop += q.left()
			ps.plan.Stats.HeadsBlocked = !waitingHead
			break
		}
		if narrow && ps.reserved >= depth {
			narrow = false
			ps.plan.Stats.EarlyStop += q.narrow(ps.ns.maxFree(), ps.ns.idleCount())
		}
		pi, prio, ok := q.next()
		if !ok {
			break
		}
		if lazy && fitsAt != ps.ns.takes {
			// Whether anything still fits changes only with an allocation.
			fitsAt, anyFits = ps.ns.takes, ps.ns.anyFits(minGPUs, minWhole)
		}
		if lazy && !anyFits {
			// Nothing left can start: further reservations would only
			// constrain starts that cannot happen.
			ps.plan.Stats.EarlyStop += q.left() + 1
			break
		}
		processed++
		j := &s.Pending[pi]
		sh := ps.shapeOf(j)
		w := Waiting{
			ID: j.ID, Priority: prio, EstimatedStartS: Never, SU: -1,
			Nodes: sh.nodes, GPUsPerNode: sh.nd.gpus, WholeNodes: sh.nd.whole, MaxSUs: sh.suMax,
		}
		if reason, limit := ps.heldBack(j); reason != ReasonNone {
			w.Reason, w.Limit = reason, limit
			if reason == ReasonBeginTime {
				w.EstimatedStartS = j.BeginS
				estimates = ps.needEstimate(estimates, pi)
			}
			ps.addWaiting(w)
			continue
		}
		e := ps.eligible(sh.part, sh.gtype)
		if e.usable < sh.nodes || (!sh.nd.whole && (e.maxGPU < sh.nd.gpus || e.maxCPU < sh.nd.cpus || e.maxMem < sh.nd.mem)) {
			if mq != nil {
				mq.failed(pi, 0)
			}
			w.Reason = ReasonReqNodeNotAvail
			ps.addWaiting(w)
			continue
		}
		if ps.p.Backfill == NoBackfill && ps.blocked[sh.part] {
			w.Reason = ReasonPriority
			estimates = ps.needEstimate(estimates, pi)
			ps.addWaiting(w)
			continue
		}
		limit := j.Req.TimeLimitS
		if limit <= 0 {
			limit = math.MaxInt32 // unlimited: a long window
		}
		if failed, ok := ps.failNow[sh]; ok && limit >= failed {
			ps.plan.Stats.ShapeSkips++
		} else if allocs := ps.placeNow(sh, e, j.ID, limit); allocs != nil {
			ps.started(j, allocs, limit)
			continue
		} else if !ok || limit < failed {
			ps.failNow[sh] = limit
		}
		if mq != nil {
			mq.failed(pi, ps.failNow[sh])
		}
		// Blocked on resources.
		w.Reason = ReasonPriority
		if ps.p.Backfill == NoBackfill {
			ps.blocked[sh.part] = true
			waitingHead = waitingHead || (j.Req.MaxSUs > 0 && j.Req.MaxSUsWaitS > 0)
			if parts == 1 {
				ps.plan.Stats.Head = HeadShape{Nodes: sh.nodes, GPUsPerNode: sh.nd.gpus, Whole: sh.nd.whole}
			}
		}
		preemptor := ps.canPreempt(j)
		wantResv := preemptor || ps.p.Backfill == Conservative ||
			(ps.p.Backfill == EASY && ps.reserved < depth) ||
			(ps.p.Backfill == NoBackfill)
		if wantResv {
			t, chosen, by := ps.earliest(sh, e, limit)
			if preemptor && t > ps.now+ps.preemptGrace(j) {
				if pre := ps.preempt(j, sh, e, limit); pre.ok {
					w.Reason, w.EstimatedStartS, w.Reserved, w.SU = ReasonPreempting, pre.at, true, pre.su
					ps.reserve(j.ID, pre.at, limit, pre.nodes, sh)
					ps.addWaiting(w)
					continue
				}
			}
			if t != Never {
				ps.reserve(j.ID, t, limit, chosen, sh)
				w.Reason, w.EstimatedStartS, w.Reserved, w.BlockerID = ReasonResources, t, true, by
				w.SU = ps.suOf(chosen)
			}
		} else {
			estimates = ps.needEstimate(estimates, pi)
		}
		ps.addWaiting(w)
	}
	ps.estimate(estimates)
}

func (ps *pass) addWaiting(w Waiting) {
	if !ps.s.StartsOnly {
		ps.plan.Waiting = append(ps.plan.Waiting, w)
	}
}

// needEstimate notes that the waiting entry about to be added for pending
// job pi needs an estimate.
func (ps *pass) needEstimate(es []estReq, pi int) []estReq {
	if ps.s.StartsOnly {
		return es
	}
	return append(es, estReq{len(ps.plan.Waiting), pi})
}

func (ps *pass) anyPreemptor() bool {
	for name, q := range ps.qos {
		if len(q.Preempt) == 0 {
			continue
		}
		for i := range ps.s.Pending {
			if ps.s.Pending[i].QOS == name {
				return true
			}
		}
	}
	return false
}

// smallestAsks returns the fewest GPUs any single-node pending job asks for
// and the fewest whole nodes any whole-node job asks for (1<<30: none such).
func smallestAsks(items []qitem) (gpus, whole int) {
	gpus, whole = 1<<30, 1<<30
	for i := range items {
		addAsk(&gpus, &whole, items[i].fit)
	}
	return gpus, whole
}

func (ps *pass) anyCPUOnly() bool {
	for i := range ps.s.Pending {
		if ps.s.Pending[i].Req.GPUsPerNode == 0 {
			return true
		}
	}
	return false
}

// heldBack returns the reason a job may not start whatever the resources,
// or ReasonNone, with the limit that holds it for quota reasons.
func (ps *pass) heldBack(j *Pending) (Reason, int) {
	switch {
	case j.Held:
		return ReasonHeld, 0
	case j.Deps == DepNeverSatisfied:
		return ReasonDependencyNever, 0
	case j.Deps == DepWaiting:
		return ReasonDependency, 0
	case j.BeginS > ps.now:
		return ReasonBeginTime, 0
	case j.ArrayJobID != 0 && j.ArrayMaxRunning > 0 && ps.arrayRun[j.ArrayJobID] >= j.ArrayMaxRunning:
		return ReasonArrayTaskLimit, j.ArrayMaxRunning
	case ps.s.MaxJobsPerUser > 0 && ps.userJobs[j.User] >= ps.s.MaxJobsPerUser:
		return ReasonAssocMaxJobs, ps.s.MaxJobsPerUser
	}
	g := j.Req.GPUs()
	if !ps.projLimits && !ps.qosLimits {
		return ReasonNone, 0
	}
	if p := ps.proj[j.Project]; ps.projLimits && p != nil {
		if p.GrantGPUS > 0 && p.UsedGPUS >= p.GrantGPUS {
			return ReasonProjectGrantUsed, int(p.GrantGPUS / 3600)
		}
		if p.MaxGPUs > 0 && ps.projGPUs[j.Project]+g > p.MaxGPUs {
			return ReasonProjectMaxGPUs, p.MaxGPUs
		}
	}
	if q := ps.qos[j.QOS]; ps.qosLimits && q != nil {
		if q.MaxGPUsPerUser > 0 && ps.userQOS[[2]string{j.QOS, j.User}]+g > q.MaxGPUsPerUser {
			return ReasonQOSMaxGPUsPerUser, q.MaxGPUsPerUser
		}
		if q.MaxGPUsPerProject > 0 && ps.projQOS[[2]string{j.QOS, j.Project}]+g > q.MaxGPUsPerProject {
			return ReasonQOSMaxGPUsPerProj, q.MaxGPUsPerProject
		}
	}
	return ReasonNone, 0
}

func (ps *pass) started(j *Pending, allocs []Alloc, limit Time) {
	end := ps.now + limit
	if j.Req.TimeLimitS <= 0 {
		end = Never
	}
	ps.plan.Starts = append(ps.plan.Starts, Start{ID: j.ID, Allocs: allocs, EndS: end})
	ps.plan.Stats.Started++
	if ps.reserved > 0 {
		ps.plan.Stats.Backfilled++
	}
	ps.count(j.QOS, j.User, j.Project, j.ArrayJobID, j.Req.GPUs())
}

// placeNow finds resources for the shape now that no reservation needs over
// [now, now+limit), allocates them, and returns the allocations (nil if the
// shape does not fit).
func (ps *pass) placeNow(sh shape, e *eligSet, id job.ID, limit Time) []Alloc {
	ns := ps.ns
	end := ps.now + limit
	if !sh.nd.whole {
		for f := sh.nd.gpus; f <= ns.maxGPUs; f++ {
			bs := ns.byFree[f]
			for i := bs.next(0, e.mask); i >= 0; i = bs.next(i+1, e.mask) {
				if ns.fitsNow(i, sh.nd, ps.now, limit) {
					return []Alloc{ns.take(i, sh.nd, id, end)}
				}
			}
		}
		return nil
	}
	// Whole nodes: count idle candidates per SU.
	if popAnd(ns.idle, e.mask) < sh.nodes {
		return nil
	}
	ps.cands = ps.cands[:0]
	clear(ps.counts)
	for i := ns.idle.next(0, e.mask); i >= 0; i = ns.idle.next(i+1, e.mask) {
		if len(ns.holds[i]) > 0 && !ns.fitsNow(i, sh.nd, ps.now, limit) {
			continue
		}
		ps.cands = append(ps.cands, i)
		ps.counts[ns.su[i]]++
	}
	sus := chooseSUs(ps.counts, sh.nodes, sh.suMax)
	if sus == nil {
		return nil
	}
	allocs := make([]Alloc, 0, sh.nodes)
	for _, su := range sus {
		for _, i := range ps.cands {
			if len(allocs) == sh.nodes {
				break
			}
			if ns.su[i] == su {
				allocs = append(allocs, ns.take(i, sh.nd, id, end))
			}
		}
	}
	return allocs
}

func popAnd(a, b bitset) int {
	n := 0
	for i := range a {
		n += bits.OnesCount64(a[i] & b[i])
	}
	return n
}

// chooseSUs picks the scalable units to take k nodes from, given candidate
// counts per SU: the one SU with the fewest candidates that still holds k
// (best fit keeps large free blocks whole), else the fewest SUs, largest
// first. limit > 0 caps the number of SUs. It returns nil if none do.
func chooseSUs(counts []int, k, limit int) []int {
	best := -1
	for su, c := range counts {
		if c >= k && (best < 0 || c < counts[best]) {
			best = su
		}
	}
	if best >= 0 {
		return []int{best}
	}
	if limit == 1 {
		return nil
	}
	idx := make([]int, 0, len(counts))
	for su, c := range counts {
		if c > 0 {
			idx = append(idx, su)
		}
	}
	slices.SortStableFunc(idx, func(a, b int) int { return counts[b] - counts[a] })
	sum := 0
	for n, su := range idx {
		sum += counts[su]
		if sum >= k {
			if limit > 0 && n+1 > limit {
				return nil
			}
			return idx[:n+1]
		}
	}
	return nil
}

// reserve holds the chosen nodes for a job from t for limit seconds.
func (ps *pass) reserve(id job.ID, t, limit Time, chosen []int, sh shape) {
	end := t + limit
	for _, i := range chosen {
		nd := ps.ns.needOn(i, sh.nd)
		ps.ns.addHold(i, hold{start: t, end: end, gpus: nd.gpus, cpus: nd.cpus, mem: nd.mem, id: id})
	}
	ps.plan.Reservations = append(ps.plan.Reservations, Reservation{ID: id, StartS: t, EndS: end, Nodes: chosen})
	ps.reserved++
	ps.plan.Stats.Reserved++
}

func (ps *pass) suOf(chosen []int) int {
	if len(chosen) == 0 {
		return -1
	}
	su := ps.ns.su[chosen[0]]
	for _, i := range chosen[1:] {
		if ps.ns.su[i] != su {
			return -1
		}
	}
	return su
}

// estimate fills the estimated start of waiting jobs without a reservation:
// the earliest time their shape fits around running jobs and every
// reservation, without holding anything. Jobs of one shape and time-limit
// bucket share one computation.
func (ps *pass) estimate(idx []estReq) {
	type result struct {
		t  Time
		su int
		by job.ID
	}
	cache := map[estKey]result{}
	for _, er := range idx {
		w := &ps.plan.Waiting[er.waiting]
		j := &ps.s.Pending[er.pending]
		sh := ps.shapeOf(j)
		limit := j.Req.TimeLimitS
		if limit <= 0 {
			limit = math.MaxInt32
		}
		k := estKey{sh: sh}
		if ps.ns.nHolds > 0 {
			k.bucket = bucket(limit)
			limit = k.bucket
		}
		r, ok := cache[k]
		if !ok {
			e := ps.eligible(sh.part, sh.gtype)
			t, chosen, by := ps.earliest(sh, e, limit)
			r = result{t, ps.suOf(chosen), by}
			cache[k] = r
			ps.plan.Stats.EstimateRuns++
		}
		if w.Reason == ReasonBeginTime {
			w.EstimatedStartS = max(w.EstimatedStartS, r.t)
			continue
		}
		w.EstimatedStartS, w.SU, w.BlockerID = r.t, r.su, r.by
	}
}

// bucket rounds a time limit up to a grid 25% apart, so that estimates for
// similar limits are computed once; rounding up only makes them later.
func bucket(l Time) Time {
	b := Time(60)
	for b < l {
		b += max(b/4, 1)
	}
	return b
}
