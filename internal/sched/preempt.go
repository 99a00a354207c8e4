package sched

import (
	"math/bits"
	"slices"
)

// canPreempt reports whether the job's QOS may preempt any other.
func (ps *pass) canPreempt(j *Pending) bool {
	q := ps.qos[j.QOS]
	return q != nil && len(q.Preempt) > 0
}

// preemptGrace is the longest grace time of the QOSes the job may preempt:
// a job that will start within it anyway does not preempt more.
func (ps *pass) preemptGrace(j *Pending) Time {
	var g Time
	for _, name := range ps.qos[j.QOS].Preempt {
		if q := ps.qos[name]; q != nil {
			g = max(g, q.GraceS)
		}
	}
	return g
}

type preemptResult struct {
	ok    bool
	at    Time
	nodes []int
	su    int
}

// preempt chooses running jobs of preemptible QOSes whose resources let the
// job start, fewest GPUs first and most recently started first (least work
// lost), adds the preemptions to the plan, and returns the nodes the job
// will start on once their grace time has passed.
func (ps *pass) preempt(j *Pending, sh shape, e *eligSet, limit Time) preemptResult {
	s := ps.s
	ns := ps.ns
	if ps.runningOn == nil {
		ps.runningOn = make([][]int, ns.n)
		for ri := range s.Running {
			for _, a := range s.Running[ri].Allocs {
				if a.Node >= 0 && a.Node < ns.n {
					ps.runningOn[a.Node] = append(ps.runningOn[a.Node], ri)
				}
			}
		}
	}
	allowed := map[string]bool{}
	for _, name := range ps.qos[j.QOS].Preempt {
		allowed[name] = true
	}
	preemptible := func(ri int) bool {
		r := &s.Running[ri]
		return allowed[r.QOS] && !ps.victim[r.ID]
	}
	// victimsOn returns the jobs to preempt on node i so that nd fits, or
	// ok=false.
	victimsOn := func(i int, nd need) (vs []int, ok bool) {
		nd = ns.needOn(i, nd)
		if len(ns.holds[i]) > 0 {
			return nil, false // keep clear of nodes others hold
		}
		g, c, m := ns.freeGPUs(i), ns.freeCPU[i], ns.freeMem[i]
		var cand []int
		for _, ri := range ps.runningOn[i] {
			if ps.victim[s.Running[ri].ID] {
				continue // already going: it frees anyway, but not now
			}
			if !preemptible(ri) {
				if nd.whole {
					return nil, false
				}
				continue
			}
			cand = append(cand, ri)
		}
		slices.SortFunc(cand, func(a, b int) int {
			if d := cmpTime(s.Running[b].StartS, s.Running[a].StartS); d != 0 {
				return d
			}
			return cmpID(s.Running[a].ID, s.Running[b].ID)
		})
		for _, ri := range cand {
			if g >= nd.gpus && c >= nd.cpus && m >= nd.mem {
				break
			}
			for _, a := range s.Running[ri].Allocs {
				if a.Node == i {
					g += bits.OnesCount64(a.GPUs)
					c += a.CPUs
					m += a.MemMB
				}
			}
			vs = append(vs, ri)
		}
		if g < nd.gpus || c < nd.cpus || m < nd.mem {
			return nil, false
		}
		if nd.whole && len(vs) < len(cand) {
			vs = cand // a whole node must be emptied
		}
		return vs, true
	}

	var chosen []int
	victims := map[int]bool{}
	if !sh.nd.whole {
		best, bestCost := -1, 1<<30
		var bestVs []int
		for i := ns.usable.next(0, e.mask); i >= 0; i = ns.usable.next(i+1, e.mask) {
			vs, ok := victimsOn(i, sh.nd)
			if !ok || len(vs) == 0 {
				continue
			}
			cost := 0
			for _, ri := range vs {
				cost += jobGPUs(&s.Running[ri])
			}
			if cost < bestCost {
				best, bestCost, bestVs = i, cost, vs
			}
		}
		if best < 0 {
			return preemptResult{}
		}
		chosen = []int{best}
		for _, ri := range bestVs {
			victims[ri] = true
		}
	} else {
		clear(ps.counts)
		per := map[int][]int{}
		for i := ns.usable.next(0, e.mask); i >= 0; i = ns.usable.next(i+1, e.mask) {
			vs, ok := victimsOn(i, sh.nd)
			if !ok {
				continue
			}
			per[i] = vs
			ps.counts[ns.su[i]]++
		}
		sus := chooseSUs(ps.counts, sh.nodes, sh.suMax)
		if sus == nil {
			return preemptResult{}
		}
		for _, su := range sus {
			// Prefer nodes that need the fewest victims.
			var nodesInSU []int
			for _, i := range s.Cluster.SUs[su].Nodes {
				if _, ok := per[i]; ok {
					nodesInSU = append(nodesInSU, i)
				}
			}
			slices.SortStableFunc(nodesInSU, func(a, b int) int { return len(per[a]) - len(per[b]) })
			for _, i := range nodesInSU {
				if len(chosen) == sh.nodes {
					break
				}
				chosen = append(chosen, i)
				for _, ri := range per[i] {
					victims[ri] = true
				}
			}
		}
		slices.Sort(chosen)
	}
	if len(victims) == 0 {
		return preemptResult{}
	}
	vs := make([]int, 0, len(victims))
	for ri := range victims {
		vs = append(vs, ri)
	}
	slices.Sort(vs)
	at := ps.now
	for _, ri := range vs {
		r := &s.Running[ri]
		q := ps.qos[r.QOS]
		sig, grace, requeue := "TERM", Time(0), false
		if q != nil {
			grace, requeue = q.GraceS, q.Requeue
			if q.Signal != "" {
				sig = q.Signal
			}
		}
		end := ps.now + max(grace, 1)
		at = max(at, end)
		ps.victim[r.ID] = true
		ps.plan.Preemptions = append(ps.plan.Preemptions, Preemption{ID: r.ID, By: j.ID, Signal: sig, GraceS: grace, Requeue: requeue})
		ps.plan.Stats.Preempted++
		// The victim now releases at the end of its grace time.
		for _, a := range r.Allocs {
			if a.Node >= 0 && a.Node < ns.n {
				rs := ns.rel[a.Node]
				for k := range rs {
					if rs[k].id == r.ID {
						rs[k].t = min(rs[k].t, end)
						ns.minRel[a.Node] = min(ns.minRel[a.Node], rs[k].t)
					}
				}
				if len(rs) > 1 {
					ns.unsorted.set(a.Node)
				}
				ns.maxRel[a.Node] = 0
				for _, x := range rs {
					ns.maxRel[a.Node] = max(ns.maxRel[a.Node], x.t)
				}
			}
		}
	}
	return preemptResult{ok: true, at: at, nodes: chosen, su: ps.suOf(chosen)}
}

func jobGPUs(r *Running) int {
	g := 0
	for _, a := range r.Allocs {
		g += bits.OnesCount64(a.GPUs)
	}
	return g
}
