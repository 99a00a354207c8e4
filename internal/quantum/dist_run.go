package quantum

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"
)

// RunDistributed simulates c with its state vector split over the tasks
// of comm (see dist.go); every task calls it with the same circuit and
// options. Task 0 returns the result, with the same fields as Run's; the
// other tasks return nil once their part is done. The exact probabilities
// (Options.Probabilities) are the single-node Run's, and in double
// precision the same seed draws the same shots. In single precision the
// slices' gates round differently from the whole state's (the cache
// blocks differ), which shifts the running sum of probabilities by about
// 1e-7: a shot can then land on a neighbouring basis state. The
// distribution is the same.
func RunDistributed(c *Circuit, opt Options, comm *Comm) (*Result, error) {
	if _, err := AmplitudeBytes(opt.Precision); err != nil {
		return nil, err
	}
	if err := c.CheckDistributed(comm.Size); err != nil {
		return nil, err
	}
	if canonPrecision(opt.Precision) == Single {
		return runDistT[float32](c, opt, comm)
	}
	return runDistT[float64](c, opt, comm)
}

// distRun is one task's run: its state, the shared random source and the
// counts it has drawn.
type distRun[F Float] struct {
	c      *Circuit
	rng    *rand.Rand
	counts map[uint64]int
	// overflow says the counts passed maxCountOutcomes.
	overflow  bool
	copies    int
	maxCopies int
	scratch   *distState[F]
	// terminalFrom[i] says c.Ops[i:] is terminal.
	terminalFrom []bool
}

func (r *distRun[F]) tally(k uint64, n int) {
	if _, ok := r.counts[k]; !ok && len(r.counts) >= maxCountOutcomes {
		r.overflow = true
		return
	}
	r.counts[k] += n
}

func runDistT[F Float](c *Circuit, opt Options, comm *Comm) (*Result, error) {
	start := time.Now()
	shots := opt.Shots
	if shots == 0 {
		shots = DefaultShots
	}
	if shots < 0 || shots > MaxShots {
		return nil, fmt.Errorf("shots must be between 1 and %d, got %d", MaxShots, shots)
	}
	d, err := newDistState[F](c.Qubits, comm)
	if err != nil {
		return nil, err
	}
	r := &distRun[F]{c: c, counts: map[uint64]int{},
		rng: rand.New(rand.NewPCG(opt.Seed, opt.Seed^0x9e3779b97f4a7c15))}
	r.maxCopies = int(exactCopyBytes / d.s.bytes())
	var probs map[uint64]float64
	if c.terminal() {
		meas := c.measureMap()
		var gates []*Gate
		for _, op := range c.Ops {
			if op.Kind == OpGate {
				gates = append(gates, op.Gate)
			}
		}
		if err := d.applyGates(gates); err != nil {
			return nil, err
		}
		key := func(i uint64) uint64 {
			var cl uint64
			for _, m := range meas {
				cl = cl&^(1<<m.clbit) | (i>>m.qubit&1)<<m.clbit
			}
			return cl
		}
		if !c.hasMeasure() {
			key = func(i uint64) uint64 { return i }
		}
		if opt.Probabilities {
			if probs, err = d.probabilities(key); err != nil {
				return nil, err
			}
		}
		if err := d.drawShots(shots, r.rng, key, r.tally); err != nil {
			return nil, err
		}
	} else {
		if opt.Probabilities {
			er := &exactRun{probs: map[uint64]float64{}, maxCopies: int(max(1, exactCopyBytes/d.s.bytes()))}
			if err := distExact(d, nil, c.Ops, 0, 1, er); err != nil {
				return nil, err
			}
			// Every task followed the same branches with the same
			// all-reduced weights: task 0's sums are everyone's.
			probs = er.probs
			d.reset()
		}
		r.terminalFrom = make([]bool, len(c.Ops)+1)
		r.terminalFrom[len(c.Ops)] = true
		for i := len(c.Ops) - 1; i >= 0 && terminalOps(c.Ops[i:]); i-- {
			r.terminalFrom[i] = true
		}
		if err := r.run(d, nil, 0, 0, shots); err != nil {
			return nil, err
		}
	}
	counts, overflow, err := gatherCounts(comm, r.counts, r.overflow)
	if err != nil || comm.Rank != 0 {
		return nil, err
	}
	if overflow {
		return nil, fmt.Errorf("the shots gave more than %d distinct outcomes: take fewer shots or measure fewer qubits", maxCountOutcomes)
	}
	format := c.formatter()
	res := &Result{Qubits: c.Qubits, Shots: shots, Counts: map[string]int{}, Precision: canonPrecision(opt.Precision), Sampled: c.terminal()}
	for k, n := range counts {
		res.Counts[format(k)] = n
	}
	if probs != nil {
		res.Probabilities = map[string]float64{}
		for k, p := range probs {
			if p > 1e-12 {
				res.Probabilities[format(k)] += p
			}
		}
	}
	res.WallS = time.Since(start).Seconds()
	return res, nil
}

// probabilities sums the probability of every key over the whole state;
// task 0 gets the sums, the others nil.
func (d *distState[F]) probabilities(key func(uint64) uint64) (map[uint64]float64, error) {
	mine := map[uint64]float64{}
	over := false
	for i := 0; i < d.s.Len(); i++ {
		if p := d.s.Probability(i); p > 0 {
			mine[key(d.logical(uint64(i)))] += p
			if len(mine) > maxProbabilityOutcomes {
				over = true
				break
			}
		}
	}
	blob := make([]byte, 1, 1+16*len(mine))
	if over {
		blob[0] = 1
	}
	for k, p := range mine {
		blob = binary.LittleEndian.AppendUint64(blob, k)
		blob = binary.LittleEndian.AppendUint64(blob, math.Float64bits(p))
	}
	all, err := d.comm.Gather(blob)
	if err != nil || all == nil {
		return nil, err
	}
	// Sum in rank order, so the figures do not depend on arrival order.
	out := map[uint64]float64{}
	for _, b := range all {
		over = over || b[0] == 1
		for k := 1; k+16 <= len(b); k += 16 {
			out[binary.LittleEndian.Uint64(b[k:])] += math.Float64frombits(binary.LittleEndian.Uint64(b[k+8:]))
		}
		if len(out) > maxProbabilityOutcomes {
			over = true
		}
	}
	if over {
		return nil, fmt.Errorf("more than %d outcomes have non-zero probability: measure fewer qubits, or sample shots instead", maxProbabilityOutcomes)
	}
	return out, nil
}

// gatherCounts merges every task's counts at task 0.
func gatherCounts(comm *Comm, counts map[uint64]int, overflow bool) (map[uint64]int, bool, error) {
	blob := make([]byte, 1, 1+16*len(counts))
	if overflow {
		blob[0] = 1
	}
	for k, n := range counts {
		blob = binary.LittleEndian.AppendUint64(blob, k)
		blob = binary.LittleEndian.AppendUint64(blob, uint64(n))
	}
	all, err := comm.Gather(blob)
	if err != nil || all == nil {
		return nil, false, err
	}
	out := map[uint64]int{}
	for _, b := range all {
		overflow = overflow || b[0] == 1
		for k := 1; k+16 <= len(b); k += 16 {
			out[binary.LittleEndian.Uint64(b[k:])] += int(binary.LittleEndian.Uint64(b[k+8:]))
		}
		if len(out) > maxCountOutcomes {
			overflow = true
		}
	}
	return out, overflow, nil
}

// drawShots draws shots from the whole state: every task draws the same
// sorted uniform numbers, keeps those in its share of the running sum of
// weights (tasks in rank order) and finds them in its slice. The layout
// is restored first, so the walk follows the single-node order.
func (d *distState[F]) drawShots(shots int, rng *rand.Rand, key func(uint64) uint64, tally func(uint64, int)) error {
	if err := d.restoreLayout(); err != nil {
		return err
	}
	w := make([]float64, d.comm.Size)
	w[d.comm.Rank] = d.s.Norm()
	if err := d.comm.AllReduce(w); err != nil {
		return err
	}
	var norm, lo float64
	for r, x := range w {
		if r == d.comm.Rank {
			lo = norm
		}
		norm += x
	}
	hi := lo + w[d.comm.Rank]
	lastWeighted := 0
	for r, x := range w {
		if x > 0 {
			lastWeighted = r
		}
	}
	us := make([]float64, 0, min(shots, sampleChunk))
	for left := shots; left > 0; left -= sampleChunk {
		us = us[:0]
		for range min(left, sampleChunk) {
			us = append(us, rng.Float64()*norm)
		}
		slices.Sort(us)
		a, _ := slices.BinarySearch(us, lo)
		b, _ := slices.BinarySearch(us, hi)
		if d.comm.Rank == lastWeighted {
			b = len(us) // rounding leaves the top few past the sum
		}
		if d.comm.Rank > lastWeighted || a >= b {
			continue
		}
		mine := us[a:b]
		k, last := 0, 0
		var cum float64
		emit := func(i, n int) {
			if n > 0 {
				tally(key(d.logical(uint64(i))), n)
			}
		}
		for i := 0; i < d.s.Len() && k < len(mine); i++ {
			p := d.s.Probability(i)
			if p == 0 {
				continue
			}
			last = i
			cum += p
			n := 0
			for k < len(mine) && mine[k]-lo < cum {
				k++
				n++
			}
			emit(i, n)
		}
		emit(last, len(mine)-k)
	}
	return nil
}

// run takes shots from state d (which it changes) through front and then
// c.Ops[at:], with classical register cl: shotTree.run on a distributed
// state. Every task makes the same choices, from all-reduced
// probabilities and the shared random source.
func (r *distRun[F]) run(d *distState[F], front []Op, at int, cl uint64, shots int) error {
	ops := r.c.Ops
	for {
		if len(front) == 0 && r.terminalFrom[at] {
			return r.sampleRest(d, ops[at:], cl, shots)
		}
		var op Op
		if len(front) > 0 {
			n, err := d.applyGateRun(front)
			if err != nil {
				return err
			}
			if n > 0 {
				front = front[n:]
				continue
			}
			op, front = front[0], front[1:]
		} else {
			n, err := d.applyGateRun(ops[at:])
			if err != nil {
				return err
			}
			if n > 0 {
				at += n
				continue
			}
			op = ops[at]
			at++
		}
		if op.Kind == OpIf {
			if op.Cond.holds(cl) {
				front = op.Then
			}
			continue
		}
		p1, err := d.probabilityOne(op.Qubit)
		if err != nil {
			return err
		}
		p1 = math.Min(1, math.Max(0, p1))
		ps := [2]float64{1 - p1, p1}
		outcome := func(st *distState[F], out int) (uint64, error) {
			st.collapse(op.Qubit, out, ps[out])
			if op.Kind == OpMeasure {
				return cl&^(1<<op.Clbit) | uint64(out)<<op.Clbit, nil
			}
			if out == 1 {
				return cl, st.flipAfterCollapse(op.Qubit)
			}
			return cl, nil
		}
		out := -1
		switch {
		case ps[1] < 1e-12:
			out = 0
		case ps[0] < 1e-12:
			out = 1
		default:
			n0 := binomial(r.rng, shots, ps[0])
			if n0 == shots {
				out = 0
			} else if n0 == 0 {
				out = 1
			} else if r.copies >= r.maxCopies {
				return r.oneByOne(d, op, front, at, cl, shots)
			} else {
				r.copies++
				b := d.clone()
				cl0, err := outcome(b, 0)
				if err != nil {
					return err
				}
				if err := r.run(b, front, at, cl0, n0); err != nil {
					return err
				}
				r.copies--
				out, shots = 1, shots-n0
			}
		}
		if cl, err = outcome(d, out); err != nil {
			return err
		}
	}
}

// distExact is exact (run.go) on a distributed state: it follows every
// measurement outcome and adds the probability of each final classical
// register to er.probs, the same on every task.
func distExact[F Float](d *distState[F], front, ops []Op, cl uint64, w float64, er *exactRun) error {
	for {
		cur := &ops
		if len(front) > 0 {
			cur = &front
		} else if len(ops) == 0 {
			break
		}
		op := (*cur)[0]
		switch op.Kind {
		case OpGate:
			n, err := d.applyGateRun(*cur)
			if err != nil {
				return err
			}
			*cur = (*cur)[n:]
			continue
		case OpIf:
			*cur = (*cur)[1:]
			if op.Cond.holds(cl) {
				front = op.Then
			}
			continue
		}
		*cur = (*cur)[1:]
		er.branches++
		if er.branches > maxBranches {
			return fmt.Errorf("%w: the exact distribution needs more than %d; sample shots instead", errTooManyBranches, maxBranches)
		}
		p1, err := d.probabilityOne(op.Qubit)
		if err != nil {
			return err
		}
		p1 = math.Min(1, math.Max(0, p1))
		ps := [2]float64{1 - p1, p1}
		outcome := func(st *distState[F], out int) (uint64, error) {
			st.collapse(op.Qubit, out, ps[out])
			if op.Kind == OpMeasure {
				return cl&^(1<<op.Clbit) | uint64(out)<<op.Clbit, nil
			}
			if out == 1 {
				return cl, st.flipAfterCollapse(op.Qubit)
			}
			return cl, nil
		}
		if ps[0] >= 1e-12 && ps[1] >= 1e-12 {
			er.copies++
			if er.copies > er.maxCopies {
				return fmt.Errorf("%w: the exact distribution would hold more than %d copies of each task's slice at once (%s); sample shots instead", errTooManyBranches, er.maxCopies, HumanBytes(int64(er.maxCopies)*d.s.bytes()))
			}
			b := d.clone()
			cl0, err := outcome(b, 0)
			if err != nil {
				return err
			}
			if err := distExact(b, front, ops, cl0, w*ps[0], er); err != nil {
				return err
			}
			er.copies--
			w *= ps[1]
			if cl, err = outcome(d, 1); err != nil {
				return err
			}
			continue
		}
		out := 0
		if ps[0] < 1e-12 {
			if ps[1] < 1e-12 {
				return nil
			}
			out = 1
		}
		w *= ps[out]
		if cl, err = outcome(d, out); err != nil {
			return err
		}
	}
	er.probs[cl] += w
	return nil
}

// applyGateRun applies the gates at the start of ops and returns how many.
func (d *distState[F]) applyGateRun(ops []Op) (int, error) {
	n := 0
	for n < len(ops) && ops[n].Kind == OpGate {
		n++
	}
	if n == 0 {
		return 0, nil
	}
	gates := make([]*Gate, n)
	for k, op := range ops[:n] {
		gates[k] = op.Gate
	}
	return n, d.applyGates(gates)
}

// sampleRest applies the gates of a terminal rest and draws shots.
func (r *distRun[F]) sampleRest(d *distState[F], rest []Op, cl uint64, shots int) error {
	gates, register := terminalRest(rest, cl)
	if err := d.applyGates(gates); err != nil {
		return err
	}
	return d.drawShots(shots, r.rng, register, r.tally)
}

// oneByOne simulates each shot separately from d, which is about to
// apply op before front and c.Ops[at:].
func (r *distRun[F]) oneByOne(d *distState[F], op Op, front []Op, at int, cl uint64, shots int) error {
	if r.scratch == nil {
		r.scratch = d.clone()
	}
	rest := append(append([]Op{op}, front...), r.c.Ops[at:]...)
	for range shots {
		r.scratch.copyFrom(d)
		k, err := r.scratch.runShot(rest, cl, r.rng)
		if err != nil {
			return err
		}
		if d.comm.Rank == 0 {
			r.tally(k, 1)
		}
	}
	return nil
}

// runShot runs ops on d with classical register cl and returns the final
// register, the same on every task.
func (d *distState[F]) runShot(ops []Op, cl uint64, rng *rand.Rand) (uint64, error) {
	for i := 0; i < len(ops); i++ {
		op := ops[i]
		switch op.Kind {
		case OpGate:
			n, err := d.applyGateRun(ops[i:])
			if err != nil {
				return 0, err
			}
			i += n - 1
		case OpMeasure, OpReset:
			p1, err := d.probabilityOne(op.Qubit)
			if err != nil {
				return 0, err
			}
			out := 0
			if rng.Float64() < p1 {
				out = 1
			}
			p := p1
			if out == 0 {
				p = 1 - p1
			}
			d.collapse(op.Qubit, out, p)
			if op.Kind == OpMeasure {
				cl = cl&^(1<<op.Clbit) | uint64(out)<<op.Clbit
			} else if out == 1 {
				if err := d.flipAfterCollapse(op.Qubit); err != nil {
					return 0, err
				}
			}
		case OpIf:
			if op.Cond.holds(cl) {
				var err error
				if cl, err = d.runShot(op.Then, cl, rng); err != nil {
					return 0, err
				}
			}
		}
	}
	return cl, nil
}
