package quantum

import (
	"math/rand/v2"
)

// A circuit with mid-circuit measurements, resets or conditionals is run
// by following its branch tree with the shots, not shot by shot. At a
// measurement or reset whose outcome is certain (a probability within
// 1e-12 of 0 or 1, as for an ancilla that was uncomputed) nothing
// branches: the state collapses in place. At one with two possible
// outcomes, the shots that reach it split between them binomially, which
// is exactly how independent shots would fall, and each side goes on with
// its share: an outcome that no shot takes is never simulated. Once what
// is left of the circuit is terminal (gates, then measurements), the
// shots on the path are drawn from the state at once. So a circuit of
// resets on uncomputed ancillas costs one simulation whatever the number
// of shots, and one whose outcomes branch costs at most one simulation of
// the rest per distinct path that some shot takes.
//
// The tree is walked depth first; a branch point whose both sides have
// shots keeps a copy of the state while the first side runs. Copies are
// bounded by memory (exactCopyBytes); past the bound, the shots of that
// subtree are simulated one by one from a single scratch state, as Run
// did for every circuit of this kind before.

// shotTree is one run of a circuit's shots through its branch tree.
type shotTree[F Float] struct {
	c         *Circuit
	rng       *rand.Rand
	tally     func(cl uint64, n int) error
	copies    int
	maxCopies int
	// terminalFrom[i] says c.Ops[i:] is terminal.
	terminalFrom []bool
	// simulations counts the paths simulated to their end, for tests.
	simulations int
	// scratch is the state per-shot fallbacks reuse.
	scratch *State[F]
}

func newShotTree[F Float](c *Circuit, s *State[F], rng *rand.Rand, tally func(uint64, int) error) *shotTree[F] {
	t := &shotTree[F]{c: c, rng: rng, tally: tally, maxCopies: int(exactCopyBytes / s.bytes())}
	t.terminalFrom = make([]bool, len(c.Ops)+1)
	t.terminalFrom[len(c.Ops)] = true
	for i := len(c.Ops) - 1; i >= 0; i-- {
		t.terminalFrom[i] = t.terminalFrom[i+1] && terminalOps(c.Ops[i:])
		if !t.terminalFrom[i] {
			break // every earlier suffix holds this one's offence too
		}
	}
	return t
}

// terminalOps reports whether ops consist of gates and measurements with
// no gate on a qubit after its measurement, and no reset or conditional.
func terminalOps(ops []Op) bool {
	var measured uint64
	var more map[int]bool // qubits past 63
	for _, op := range ops {
		switch op.Kind {
		case OpReset, OpIf:
			return false
		case OpMeasure:
			if op.Qubit < 64 {
				measured |= 1 << op.Qubit
			} else {
				if more == nil {
					more = map[int]bool{}
				}
				more[op.Qubit] = true
			}
		case OpGate:
			for _, q := range op.Gate.Qubits() {
				if (q < 64 && measured>>q&1 == 1) || more[q] {
					return false
				}
			}
		}
	}
	return true
}

// binomial draws the number of successes in n trials of probability p.
func binomial(rng *rand.Rand, n int, p float64) int {
	k := 0
	for range n {
		if rng.Float64() < p {
			k++
		}
	}
	return k
}

// run takes shots from state s (which it changes) through front (the rest
// of a conditional block) and then c.Ops[at:], with classical register cl.
func (t *shotTree[F]) run(s *State[F], front []Op, at int, cl uint64, shots int) error {
	ops := t.c.Ops
	for {
		if len(front) == 0 && t.terminalFrom[at] {
			t.simulations++
			return t.sampleRest(s, ops[at:], cl, shots)
		}
		var op Op
		if len(front) > 0 {
			if n := s.applyGateRun(front); n > 0 {
				front = front[n:]
				continue
			}
			op, front = front[0], front[1:]
		} else {
			if n := s.applyGateRun(ops[at:]); n > 0 {
				at += n
				continue
			}
			op = ops[at]
			at++
		}
		if op.Kind == OpIf {
			// OpenQASM 2 does not nest if: a block is entered from ops.
			if op.Cond.holds(cl) {
				front = op.Then
			}
			continue
		}
		p1 := s.outcomeOne(op.Qubit)
		ps := [2]float64{1 - p1, p1}
		outcome := func(st *State[F], out int) uint64 {
			st.Collapse(op.Qubit, out, ps[out])
			if op.Kind == OpMeasure {
				return cl&^(1<<op.Clbit) | uint64(out)<<op.Clbit
			}
			if out == 1 {
				st.flipAfterCollapse(op.Qubit)
			}
			return cl
		}
		switch {
		case ps[1] < 1e-12:
			cl = outcome(s, 0)
			continue
		case ps[0] < 1e-12:
			cl = outcome(s, 1)
			continue
		}
		n0 := binomial(t.rng, shots, ps[0])
		switch {
		case n0 == shots:
			cl = outcome(s, 0)
			continue
		case n0 == 0:
			cl = outcome(s, 1)
			continue
		}
		if t.copies >= t.maxCopies {
			return t.oneByOne(s, op, front, at, cl, shots)
		}
		t.copies++
		b := s.Clone()
		if err := t.run(b, front, at, outcome(b, 0), n0); err != nil {
			return err
		}
		t.copies--
		cl, shots = outcome(s, 1), shots-n0
	}
}

// sampleRest applies the gates of a terminal rest and draws shots from
// the state, setting each shot's measured bits on top of cl.
func (t *shotTree[F]) sampleRest(s *State[F], rest []Op, cl uint64, shots int) error {
	gates, register := terminalRest(rest, cl)
	s.ApplyGates(gates)
	return drawShots(s, shots, t.rng, register, t.tally)
}

// terminalRest splits a terminal rest (gates, then final measurements)
// into its gates and the map from a sampled basis state to the classical
// register: the measured bits set on top of cl.
func terminalRest(rest []Op, cl uint64) ([]*Gate, func(uint64) uint64) {
	var gates []*Gate
	var meas []measurement
	for _, op := range rest {
		switch op.Kind {
		case OpGate:
			gates = append(gates, op.Gate)
		case OpMeasure:
			meas = append(meas, measurement{uint64(op.Qubit), uint64(op.Clbit)})
		}
	}
	return gates, func(i uint64) uint64 {
		k := cl
		for _, m := range meas {
			k = k&^(1<<m.clbit) | (i>>m.qubit&1)<<m.clbit
		}
		return k
	}
}

// oneByOne simulates each of shots separately from state s, which is
// about to apply op (a measurement or reset) before front and c.Ops[at:].
func (t *shotTree[F]) oneByOne(s *State[F], op Op, front []Op, at int, cl uint64, shots int) error {
	if t.scratch == nil {
		t.scratch = s.Clone()
	}
	rest := append(append([]Op{op}, front...), t.c.Ops[at:]...)
	for range shots {
		t.scratch.CopyFrom(s)
		t.simulations++
		if err := t.tally(t.scratch.runShot(rest, cl, t.rng), 1); err != nil {
			return err
		}
	}
	return nil
}

// drawShots draws shots basis states from s in chunks, each sorted so that
// equal outcomes come together, and tallies key(state) for each.
func drawShots[F Float](s *State[F], shots int, rng *rand.Rand, key func(uint64) uint64, tally func(uint64, int) error) error {
	for left := shots; left > 0; left -= sampleChunk {
		idx := s.sampleSorted(min(left, sampleChunk), rng)
		for j := 0; j < len(idx); {
			n := 1
			for j+n < len(idx) && idx[j+n] == idx[j] {
				n++
			}
			if err := tally(key(idx[j]), n); err != nil {
				return err
			}
			j += n
		}
	}
	return nil
}
