package sched

import (
	"math/bits"
	"slices"

	"github.com/gefion-hpc/gefion/internal/job"
)

// release is a running job's hold on a node ending at t.
type release struct {
	t    Time
	gpus int
	cpus int
	mem  int64
	id   job.ID
}

// hold is a reservation's claim on a node over [start, end).
type hold struct {
	start, end Time
	gpus       int
	cpus       int
	mem        int64
	id         job.ID
}

// need is what a job asks of each of its nodes.
type need struct {
	gpus  int
	cpus  int
	mem   int64
	whole bool
}

// nodes is the pass's mutable view of every node: free resources now, the
// releases of running jobs and the holds of reservations. The snapshot is
// never written.
type nodes struct {
	n       int
	maxGPUs int
	capGPU  []int
	capCPU  []int
	capMem  []int64
	su      []int
	free    []uint64 // free GPU bitmask
	freeCPU []int
	freeMem []int64
	usable  bitset   // up, so new work may start
	byFree  []bitset // byFree[f]: usable nodes with exactly f free GPUs
	idle    bitset   // usable nodes with nothing allocated
	idleSU  []int    // count of idle nodes per SU
	rel     [][]release
	holds   [][]hold
	nHolds  int
	// minRel is the earliest release on each node (Never if none): a
	// search for the earliest start skips nodes that cannot beat its best.
	// maxRel is the latest (0 if none): when a node without holds is
	// wholly free.
	minRel []Time
	maxRel []Time
	// unsorted marks nodes whose releases are not yet in time order: most
	// passes never look at most nodes' releases, so they are sorted on
	// first use.
	unsorted bitset
	// totalFree is the free GPUs on usable nodes.
	totalFree int
	// takes counts allocations made in the pass (see take): what is free
	// changes only then.
	takes int
}

func (ns *nodes) freeGPUs(i int) int { return bits.OnesCount64(ns.free[i]) }

// anyFits reports whether any node could still hold a single-node job of
// gpus GPUs, or enough nodes are idle for a whole-node job of whole nodes,
// as far as free resources now go (reservations aside). False means no
// pending job can start in this pass any more.
func (ns *nodes) anyFits(gpus, whole int) bool {
	return ns.idleCount() >= whole || ns.totalFree >= gpus && ns.maxFree() >= gpus
}

// maxFree is the most free GPUs on any usable node.
func (ns *nodes) maxFree() int {
	for f := ns.maxGPUs; f > 0; f-- {
		for _, w := range ns.byFree[f] {
			if w != 0 {
				return f
			}
		}
	}
	return 0
}

// idleCount is the number of usable nodes with nothing allocated.
func (ns *nodes) idleCount() int {
	idle := 0
	for _, k := range ns.idleSU {
		idle += k
	}
	return idle
}

func (ns *nodes) isIdle(i int) bool {
	return ns.free[i] == fullMask(ns.capGPU[i]) && ns.freeCPU[i] == ns.capCPU[i] && ns.freeMem[i] == ns.capMem[i]
}

func fullMask(n int) uint64 {
	if n >= 64 {
		return ^uint64(0)
	}
	return 1<<uint(n) - 1
}

// Scratch holds buffers that successive passes may reuse, so that a driver
// calling the core many times a second (the twin's replay) does not
// allocate them each time. Hand one to Snapshot.Scratch; one Scratch must
// not serve two passes at once. A plan never points into it.
type Scratch struct {
	ns     nodes
	items  []qitem
	evs    []event
	keys   []uint64
	ivs    []interval
	cand   []uint64
	byFree []bitset
	bits   []uint64
	// cursors are a pass's positions in a PendingIndex's classes.
	cursors []int32
}

// reuse returns buf resized to n and zeroed, reallocating only if needed.
func reuse[T any](buf []T, n int) []T {
	if cap(buf) < n {
		return make([]T, n)
	}
	buf = buf[:n]
	clear(buf)
	return buf
}

// emptied returns lists resized to n lists, each emptied but keeping its
// space: a node's releases and holds are about as many pass after pass.
func emptied[T any](lists [][]T, n int) [][]T {
	if cap(lists) < n {
		lists = append(lists[:cap(lists)], make([][]T, n-cap(lists))...)
	}
	lists = lists[:n]
	for i := range lists {
		lists[i] = lists[i][:0]
	}
	return lists
}

func newNodes(s *Snapshot, sc *Scratch) *nodes {
	c := s.Cluster
	n := len(c.Nodes)
	// Bitsets come from one zeroed array: usable, idle, unsorted, and one
	// per free-GPU count.
	maxG := 0
	for i := range c.Nodes {
		maxG = max(maxG, c.Nodes[i].Model.GPUs)
	}
	words := (n + 63) / 64
	sc.bits = reuse(sc.bits, words*(3+maxG+1))
	bs := func(k int) bitset { return bitset(sc.bits[k*words : (k+1)*words : (k+1)*words]) }
	ns := &sc.ns
	*ns = nodes{
		n: n, capGPU: reuse(ns.capGPU, n), capCPU: reuse(ns.capCPU, n), capMem: reuse(ns.capMem, n),
		su: reuse(ns.su, n), free: reuse(ns.free, n), freeCPU: reuse(ns.freeCPU, n), freeMem: reuse(ns.freeMem, n),
		usable: bs(0), idle: bs(1), unsorted: bs(2), idleSU: reuse(ns.idleSU, len(c.SUs)),
		rel: emptied(ns.rel, n), holds: emptied(ns.holds, n), minRel: reuse(ns.minRel, n), maxRel: reuse(ns.maxRel, n),
	}
	sc.byFree = reuse(sc.byFree, maxG+1)
	for f := range sc.byFree {
		sc.byFree[f] = bs(3 + f)
	}
	ns.byFree = sc.byFree
	for i := range c.Nodes {
		m := c.Nodes[i].Model
		ns.capGPU[i], ns.capCPU[i], ns.capMem[i] = m.GPUs, m.CPUs, m.MemoryBytes>>20
		ns.maxGPUs = max(ns.maxGPUs, m.GPUs)
		ns.su[i] = c.Nodes[i].SU
		ns.free[i] = fullMask(m.GPUs)
		ns.freeCPU[i], ns.freeMem[i] = m.CPUs, ns.capMem[i]
		if s.Nodes == nil || s.Nodes[i].Avail == Up {
			ns.usable.set(i)
		}
	}
	for ri := range s.Running {
		r := &s.Running[ri]
		end := max(r.EndS, s.Now+1) // an overdue job still holds its resources now
		for _, a := range r.Allocs {
			if a.Node < 0 || a.Node >= n {
				continue
			}
			ns.free[a.Node] &^= a.GPUs
			ns.freeCPU[a.Node] -= a.CPUs
			ns.freeMem[a.Node] -= a.MemMB
			ns.rel[a.Node] = append(ns.rel[a.Node], release{t: end, gpus: bits.OnesCount64(a.GPUs), cpus: a.CPUs, mem: a.MemMB, id: r.ID})
			if len(ns.rel[a.Node]) == 1 || end < ns.minRel[a.Node] {
				ns.minRel[a.Node] = end
			}
			ns.maxRel[a.Node] = max(ns.maxRel[a.Node], end)
		}
	}
	for i := 0; i < n; i++ {
		if len(ns.rel[i]) == 0 {
			ns.minRel[i] = Never
		}
		if len(ns.rel[i]) > 1 {
			ns.unsorted.set(i)
		}
		if ns.usable.has(i) {
			ns.totalFree += ns.freeGPUs(i)
			ns.byFree[ns.freeGPUs(i)].set(i)
			if ns.isIdle(i) {
				ns.idle.set(i)
				ns.idleSU[ns.su[i]]++
			}
		}
	}
	return ns
}

func cmpTime(a, b Time) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func cmpID(a, b job.ID) int { return cmpTime(Time(a), Time(b)) }

// take allocates on node i: the lowest free GPU indexes, CPUs and memory.
func (ns *nodes) take(i int, nd need, id job.ID, end Time) Alloc {
	g, cpus, mem := nd.gpus, nd.cpus, nd.mem
	if nd.whole {
		g, cpus, mem = ns.freeGPUs(i), ns.freeCPU[i], ns.freeMem[i]
	}
	ns.takes++
	wasIdle := ns.idle.has(i)
	ns.byFree[ns.freeGPUs(i)].clear(i)
	var mask uint64
	f := ns.free[i]
	for k := 0; k < g; k++ {
		b := f & -f
		mask |= b
		f &^= b
	}
	ns.free[i] &^= mask
	ns.totalFree -= g
	ns.freeCPU[i] -= cpus
	ns.freeMem[i] -= mem
	ns.byFree[ns.freeGPUs(i)].set(i)
	if wasIdle {
		ns.idle.clear(i)
		ns.idleSU[ns.su[i]]--
	}
	ns.rel[i] = append(ns.rel[i], release{t: end, gpus: g, cpus: cpus, mem: mem, id: id})
	ns.minRel[i] = min(ns.minRel[i], end)
	ns.maxRel[i] = max(ns.maxRel[i], end)
	if len(ns.rel[i]) > 1 {
		ns.unsorted.set(i)
	}
	return Alloc{Node: i, GPUs: mask, CPUs: cpus, MemMB: mem}
}

// releases returns node i's releases in time order (then job ID).
func (ns *nodes) releases(i int) []release {
	if ns.unsorted.has(i) {
		sortReleases(ns.rel[i])
		ns.unsorted.clear(i)
	}
	return ns.rel[i]
}

// sortReleases orders a node's releases by time, then job ID. A node holds
// a few jobs at most (one per GPU, or a few CPU-only ones), so insertion
// sort with the comparison inline is the fastest way.
func sortReleases(rs []release) {
	if len(rs) > 32 {
		slices.SortFunc(rs, func(a, b release) int {
			if a.t != b.t {
				return cmpTime(a.t, b.t)
			}
			return cmpID(a.id, b.id)
		})
		return
	}
	for k := 1; k < len(rs); k++ {
		r := rs[k]
		m := k
		for m > 0 && (rs[m-1].t > r.t || rs[m-1].t == r.t && rs[m-1].id > r.id) {
			rs[m] = rs[m-1]
			m--
		}
		rs[m] = r
	}
}

// addHold records a reservation on node i.
func (ns *nodes) addHold(i int, h hold) {
	if h.gpus == 0 && h.cpus == 0 && h.mem == 0 {
		return
	}
	ns.holds[i] = append(ns.holds[i], h)
	ns.nHolds++
}

// wholeNeed is what a whole-node job needs of node i.
func (ns *nodes) wholeNeed(i int) need {
	return need{gpus: ns.capGPU[i], cpus: ns.capCPU[i], mem: ns.capMem[i], whole: true}
}

func (ns *nodes) needOn(i int, nd need) need {
	if nd.whole {
		return ns.wholeNeed(i)
	}
	return nd
}

// availAt returns what node i has free at time t >= now: free now, plus
// releases at or before t, minus holds covering t.
func (ns *nodes) availAt(i int, t Time) (gpus, cpus int, mem int64) {
	gpus, cpus, mem = ns.freeGPUs(i), ns.freeCPU[i], ns.freeMem[i]
	for _, r := range ns.releases(i) {
		if r.t > t {
			break
		}
		gpus += r.gpus
		cpus += r.cpus
		mem += r.mem
	}
	for _, h := range ns.holds[i] {
		if h.start <= t && t < h.end {
			gpus -= h.gpus
			cpus -= h.cpus
			mem -= h.mem
		}
	}
	return
}

// fitsAt reports whether node i can give nd over [t, t+l). Availability
// only falls at hold starts, so the window's minimum is at t or at a hold
// start inside it.
func (ns *nodes) fitsAt(i int, nd need, t, l Time) bool {
	nd = ns.needOn(i, nd)
	if g, c, m := ns.availAt(i, t); g < nd.gpus || c < nd.cpus || m < nd.mem {
		return false
	}
	for _, h := range ns.holds[i] {
		if h.start > t && h.start < t+l {
			if g, c, m := ns.availAt(i, h.start); g < nd.gpus || c < nd.cpus || m < nd.mem {
				return false
			}
		}
	}
	return true
}

// fitsNow reports whether node i can start a job needing nd now for l
// seconds without taking what a reservation holds.
func (ns *nodes) fitsNow(i int, nd need, now, l Time) bool {
	nd = ns.needOn(i, nd)
	if ns.freeGPUs(i) < nd.gpus || ns.freeCPU[i] < nd.cpus || ns.freeMem[i] < nd.mem {
		return false
	}
	if len(ns.holds[i]) == 0 {
		return true
	}
	return ns.fitsAt(i, nd, now, l)
}

// earliest returns the first time >= now at which node i can run nd for l
// seconds, and the job whose release makes the room (0 if none), or Never.
func (ns *nodes) earliest(i int, nd need, now, l Time) (Time, job.ID) {
	nd = ns.needOn(i, nd)
	if nd.gpus > ns.capGPU[i] || nd.cpus > ns.capCPU[i] || nd.mem > ns.capMem[i] {
		return Never, 0
	}
	if len(ns.holds[i]) == 0 {
		// No holds: availability only rises, so the first time the
		// cumulative releases cover the need is the answer.
		g, c, m := ns.freeGPUs(i), ns.freeCPU[i], ns.freeMem[i]
		if g >= nd.gpus && c >= nd.cpus && m >= nd.mem {
			return now, 0
		}
		rs := ns.releases(i)
		for k := 0; k < len(rs); k++ {
			g += rs[k].gpus
			c += rs[k].cpus
			m += rs[k].mem
			// Several releases at one instant count together.
			if k+1 < len(rs) && rs[k+1].t == rs[k].t {
				continue
			}
			if g >= nd.gpus && c >= nd.cpus && m >= nd.mem {
				return rs[k].t, rs[k].id
			}
		}
		return Never, 0
	}
	if ns.fitsAt(i, nd, now, l) {
		return now, 0
	}
	best, by := Never, job.ID(0)
	for _, r := range ns.releases(i) {
		if r.t < best && ns.fitsAt(i, nd, r.t, l) {
			best, by = r.t, r.id
			break // releases are sorted; later ones are later
		}
	}
	for _, h := range ns.holds[i] {
		if h.end < best && ns.fitsAt(i, nd, h.end, l) {
			best, by = h.end, h.id
		}
	}
	return best, by
}

// interval is a half-open span of start times [from, to).
type interval struct{ from, to Time }

// feasible returns the start times >= now at which node i can run nd for l
// seconds, as sorted disjoint intervals (the last may reach Never).
func (ns *nodes) feasible(i int, nd need, now, l Time, buf []interval) []interval {
	buf = buf[:0]
	if len(ns.holds[i]) == 0 && nd.whole {
		// Without holds a node is wholly free once its last job ends.
		return append(buf, interval{max(ns.maxRel[i], now), Never})
	}
	if len(ns.holds[i]) == 0 {
		t, _ := ns.earliest(i, nd, now, l)
		if t == Never {
			return buf
		}
		return append(buf, interval{t, Never})
	}
	// Feasibility changes only at releases, hold ends (up) and one second
	// after a hold start enters the window (down).
	cands := []Time{now}
	for _, r := range ns.releases(i) {
		cands = append(cands, r.t)
	}
	for _, h := range ns.holds[i] {
		cands = append(cands, h.end)
		if s := h.start - l + 1; s > now {
			cands = append(cands, s)
		}
	}
	slices.Sort(cands)
	cands = slices.Compact(cands)
	open := false
	var from Time
	for _, t := range cands {
		if t < now {
			continue
		}
		ok := ns.fitsAt(i, nd, t, l)
		switch {
		case ok && !open:
			open, from = true, t
		case !ok && open:
			open = false
			buf = append(buf, interval{from, t})
		}
	}
	if open {
		buf = append(buf, interval{from, Never})
	}
	return buf
}
