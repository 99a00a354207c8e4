package quantum

import (
	"errors"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
	"unsafe"
)

// Options configures Run. The zero value runs 1024 shots in single
// precision with seed 0.
type Options struct {
	// Shots is the number of samples; 0 means 1024.
	Shots int
	// Seed seeds the random source: the same seed gives the same counts.
	Seed uint64
	// Precision is "single" (default) or "double".
	Precision string
	// Probabilities asks for the exact outcome distribution instead of
	// (as well as) samples.
	Probabilities bool
}

// DefaultShots is the number of shots when Options.Shots is 0.
const DefaultShots = 1024

// MaxShots is the most shots one run may take. Memory does not grow with
// shots (they are drawn in chunks of sampleChunk and only distinct outcomes
// are kept, at most maxCountOutcomes of them); the bound keeps the time of
// a run in reason and its counts within an int on every platform.
const MaxShots = 100_000_000

// sampleChunk is how many shots are drawn from a state at a time.
const sampleChunk = 1 << 20

// maxCountOutcomes bounds how many distinct outcomes the counts of a run
// may list: a wide uniform distribution sampled a hundred million times
// would otherwise give as many entries.
const maxCountOutcomes = 1 << 20

// maxBranches bounds the exact distribution of a circuit with mid-circuit
// measurements, which is computed by following every outcome.
const maxBranches = 1 << 12

// maxProbabilityOutcomes bounds how many outcomes an exact distribution may
// list.
const maxProbabilityOutcomes = 1 << 20

// Result is the outcome of running a circuit.
type Result struct {
	Qubits int `json:"qubits"`
	Shots  int `json:"shots"`
	// Counts maps outcome bitstrings to how many shots gave them.
	Counts map[string]int `json:"counts"`
	// Probabilities maps outcomes to their exact probabilities, when
	// asked for; outcomes below 1e-12 are left out.
	Probabilities map[string]float64 `json:"probabilities,omitempty"`
	// Sampled is true when all measurements were at the end, so shots
	// were drawn from one simulation; false when each shot was simulated.
	Sampled bool `json:"sampled"`
	// Precision is the precision used.
	Precision string `json:"precision"`
	// WallS is the wall time of the run in seconds.
	WallS float64 `json:"wall_s"`
}

// MemoryBytes returns the memory Run needs for the state vectors of c in
// the given precision: one state, or two when shots are simulated one by
// one (the state before the first measurement is kept for every shot).
func (c *Circuit) MemoryBytes(precision string) (int64, error) {
	ab, err := AmplitudeBytes(precision)
	if err != nil {
		return 0, err
	}
	copies := int64(1)
	if !c.terminal() {
		copies = 2
	}
	// The product would overflow an int64 from 59 qubits on.
	if shift := bits.Len64(uint64(copies*ab)) - 1; c.Qubits+shift > 62 {
		return 0, fmt.Errorf("the state vectors of %d qubits in %s precision need 2^%d bytes, more than any machine holds", c.Qubits, canonPrecision(precision), c.Qubits+shift)
	}
	return copies * ab << c.Qubits, nil
}

// terminal reports whether every measurement can be moved to the end: no
// reset, no conditional, and no gate on a qubit after it is measured.
func (c *Circuit) terminal() bool {
	measured := make([]bool, c.Qubits)
	for _, op := range c.Ops {
		switch op.Kind {
		case OpReset, OpIf:
			return false
		case OpMeasure:
			measured[op.Qubit] = true
		case OpGate:
			for _, q := range op.Gate.Qubits() {
				if measured[q] {
					return false
				}
			}
		}
	}
	return true
}

// hasMeasure reports whether the circuit measures anything.
func (c *Circuit) hasMeasure() bool {
	var walk func([]Op) bool
	walk = func(ops []Op) bool {
		for _, op := range ops {
			if op.Kind == OpMeasure || (op.Kind == OpIf && walk(op.Then)) {
				return true
			}
		}
		return false
	}
	return walk(c.Ops)
}

// Run simulates c. When every measurement is terminal, the state is
// simulated once and the shots are sampled from it; otherwise the shots
// follow the circuit's branch tree (shots.go), with measurement collapse
// and classical control. A circuit without measurements is
// sampled as if every qubit were measured (qubit 0 rightmost).
func Run(c *Circuit, opt Options) (*Result, error) {
	switch canonPrecision(opt.Precision) {
	case Single:
		if _, err := AmplitudeBytes(opt.Precision); err != nil {
			return nil, err
		}
		return runT[float32](c, opt)
	default:
		if _, err := AmplitudeBytes(opt.Precision); err != nil {
			return nil, err
		}
		return runT[float64](c, opt)
	}
}

func runT[F Float](c *Circuit, opt Options) (*Result, error) {
	start := time.Now()
	shots := opt.Shots
	if shots == 0 {
		shots = DefaultShots
	}
	if shots < 0 || shots > MaxShots {
		return nil, fmt.Errorf("shots must be between 1 and %d, got %d", MaxShots, shots)
	}
	counts := map[uint64]int{}
	tally := func(k uint64, n int) error {
		if _, ok := counts[k]; !ok && len(counts) >= maxCountOutcomes {
			return fmt.Errorf("the shots gave more than %d distinct outcomes: take fewer shots or measure fewer qubits", maxCountOutcomes)
		}
		counts[k] += n
		return nil
	}
	res := &Result{Qubits: c.Qubits, Shots: shots, Counts: map[string]int{}, Precision: canonPrecision(opt.Precision)}
	rng := rand.New(rand.NewPCG(opt.Seed, opt.Seed^0x9e3779b97f4a7c15))
	s, err := NewState[F](c.Qubits)
	if err != nil {
		return nil, err
	}
	format := c.formatter()
	if c.terminal() {
		res.Sampled = true
		meas := c.measureMap()
		var gates []*Gate
		for _, op := range c.Ops {
			if op.Kind == OpGate {
				gates = append(gates, op.Gate)
			}
		}
		s.ApplyGates(gates)
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
			probs := map[uint64]float64{}
			for i := 0; i < s.Len(); i++ {
				if p := s.Probability(i); p > 0 {
					probs[key(uint64(i))] += p
					if len(probs) > maxProbabilityOutcomes {
						return nil, fmt.Errorf("more than %d outcomes have non-zero probability: measure fewer qubits, or sample shots instead", maxProbabilityOutcomes)
					}
				}
			}
			res.Probabilities = map[string]float64{}
			for k, p := range probs {
				if p > 1e-12 {
					res.Probabilities[format(k)] = p
				}
			}
		}
		if err := drawShots(s, shots, rng, key, tally); err != nil {
			return nil, err
		}
		for k, n := range counts {
			res.Counts[format(k)] = n
		}
		res.WallS = time.Since(start).Seconds()
		return res, nil
	}
	if opt.Probabilities {
		er := &exactRun{probs: map[uint64]float64{}, maxCopies: int(max(1, exactCopyBytes/s.bytes()))}
		if err := exact(s, nil, c.Ops, 0, 1, er); err != nil {
			return nil, err
		}
		res.Probabilities = map[string]float64{}
		for k, p := range er.probs {
			if p > 1e-12 {
				res.Probabilities[format(k)] += p
			}
		}
		s.Reset()
	}
	if err := newShotTree(c, s, rng, tally).run(s, nil, 0, 0, shots); err != nil {
		return nil, err
	}
	for k, n := range counts {
		res.Counts[format(k)] = n
	}
	res.WallS = time.Since(start).Seconds()
	return res, nil
}

type measurement struct{ qubit, clbit uint64 }

// measureMap lists the measurements in program order.
func (c *Circuit) measureMap() []measurement {
	var out []measurement
	for _, op := range c.Ops {
		if op.Kind == OpMeasure {
			out = append(out, measurement{uint64(op.Qubit), uint64(op.Clbit)})
		}
	}
	return out
}

// formatter returns the function that prints a classical outcome in
// Qiskit's order: registers from the last declared to the first, separated
// by spaces, each from its highest bit to bit 0. Without measurements the
// outcome is a qubit bitstring, qubit 0 rightmost.
func (c *Circuit) formatter() func(uint64) string {
	if !c.hasMeasure() {
		n := c.Qubits
		return func(x uint64) string {
			b := make([]byte, n)
			for i := range n {
				b[n-1-i] = '0' + byte(x>>i&1)
			}
			return string(b)
		}
	}
	regs := c.CRegs
	return func(x uint64) string {
		var sb strings.Builder
		for r := len(regs) - 1; r >= 0; r-- {
			if r != len(regs)-1 {
				sb.WriteByte(' ')
			}
			for i := regs[r].Size - 1; i >= 0; i-- {
				sb.WriteByte('0' + byte(x>>(regs[r].Offset+i)&1))
			}
		}
		return sb.String()
	}
}

// measure measures qubit q with the random source and returns the outcome.
func (s *State[F]) measure(q int, rng *rand.Rand) int {
	p1 := s.outcomeOne(q)
	out := 0
	if rng.Float64() < p1 {
		out = 1
	}
	p := p1
	if out == 0 {
		p = 1 - p1
	}
	s.Collapse(q, out, p)
	return out
}

// Measure measures qubit q, collapsing the state, and returns 0 or 1.
func (s *State[F]) Measure(q int, rng *rand.Rand) int { return s.measure(q, rng) }

// ResetQubit measures qubit q and flips it to |0> if it was 1.
func (s *State[F]) ResetQubit(q int, rng *rand.Rand) {
	if s.measure(q, rng) == 1 {
		s.flipAfterCollapse(q)
	}
}

// applyGateRun applies the gates at the start of ops, up to the first
// other operation, and returns how many it applied: blocked (ApplyGates)
// when the state is larger than a block, one by one otherwise.
func (s *State[F]) applyGateRun(ops []Op) int {
	n := 0
	for n < len(ops) && ops[n].Kind == OpGate {
		n++
	}
	if local, _ := blockShape[F](); s.n <= local || n < 2 {
		for _, op := range ops[:n] {
			s.Apply(op.Gate)
		}
		return n
	}
	gates := make([]*Gate, n)
	for k, op := range ops[:n] {
		gates[k] = op.Gate
	}
	s.ApplyGates(gates)
	return n
}

// runShot runs ops on s with classical register cl and returns the final
// classical register.
func (s *State[F]) runShot(ops []Op, cl uint64, rng *rand.Rand) uint64 {
	for i := 0; i < len(ops); i++ {
		op := ops[i]
		switch op.Kind {
		case OpGate:
			i += s.applyGateRun(ops[i:]) - 1
		case OpMeasure:
			b := uint64(s.measure(op.Qubit, rng))
			cl = cl&^(1<<op.Clbit) | b<<op.Clbit
		case OpReset:
			s.ResetQubit(op.Qubit, rng)
		case OpIf:
			if op.Cond.holds(cl) {
				cl = s.runShot(op.Then, cl, rng)
			}
		}
	}
	return cl
}

var errTooManyBranches = errors.New("too many measurement branches")

// exactCopyBytes bounds the memory of the copies of the state that the
// exact distribution holds at once (one for every measurement on the
// current path that has two possible outcomes and whose first outcome is
// being followed); one copy is always allowed. Tests lower it.
var exactCopyBytes int64 = 1 << 30

// exactRun is the state of one exact-distribution computation.
type exactRun struct {
	probs     map[uint64]float64
	branches  int
	copies    int
	maxCopies int
}

// exact follows every measurement outcome of front and then ops from
// state s (which it changes) with weight w, adding the probability of each
// final classical register to the run's probs. A measurement with one
// possible outcome collapses s in place; one with two follows the first
// outcome on a copy and the second in place.
func exact[F Float](s *State[F], front, ops []Op, cl uint64, w float64, er *exactRun) error {
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
			*cur = (*cur)[s.applyGateRun(*cur):]
			continue
		case OpIf:
			*cur = (*cur)[1:]
			// A conditional block holds no conditional (OpenQASM 2 does
			// not nest if), so it is only ever entered from ops.
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
		if ps[0] >= 1e-12 && ps[1] >= 1e-12 {
			er.copies++
			if er.copies > er.maxCopies {
				return fmt.Errorf("%w: the exact distribution would hold more than %d copies of the state at once (%s); sample shots instead", errTooManyBranches, er.maxCopies, HumanBytes(int64(er.maxCopies)*s.bytes()))
			}
			b := s.Clone()
			if err := exact(b, front, ops, outcome(b, 0), w*ps[0], er); err != nil {
				return err
			}
			er.copies--
			w *= ps[1]
			cl = outcome(s, 1)
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
		cl = outcome(s, out)
	}
	er.probs[cl] += w
	return nil
}

// bytes is the size of the state's amplitudes.
func (s *State[F]) bytes() int64 { return int64(len(s.v)) * int64(unsafe.Sizeof(s.v[0])) }

// Sample draws shots basis-state indexes from the state's distribution
// without changing the state: sorted uniform numbers are matched against
// the running sum of probabilities in one pass, so no table of the state's
// size is built.
func (s *State[F]) Sample(shots int, rng *rand.Rand) []uint64 {
	out := s.sampleSorted(shots, rng)
	// Shuffle so that callers who read shots in order see no sorting.
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// sampleSorted is Sample without the shuffle: the indexes come in
// increasing order. The probabilities are summed per piece of
// samplePiece amplitudes in parallel, and only the pieces that some of
// the sorted numbers fall in are scanned amplitude by amplitude: a
// thousand shots of a 28-qubit state scan a few million amplitudes on one
// core instead of all 2^28 (about a second).
func (s *State[F]) sampleSorted(shots int, rng *rand.Rand) []uint64 {
	n := s.Len()
	pieces := (n + samplePiece - 1) / samplePiece
	sums := make([]float64, pieces)
	s.parallel(pieces, func(lo, hi int) {
		for c := lo; c < hi; c++ {
			var sum float64
			for _, x := range s.v[2*c*samplePiece : 2*min(n, (c+1)*samplePiece)] {
				sum += float64(x) * float64(x)
			}
			sums[c] = sum
		}
	})
	var norm float64
	for _, p := range sums {
		norm += p
	}
	us := make([]float64, shots)
	for i := range us {
		us[i] = rng.Float64() * norm
	}
	slices.Sort(us)
	out := make([]uint64, 0, shots)
	var cum float64
	k := 0
	last := -1
	for c := 0; c < pieces && k < len(us); c++ {
		if us[k] >= cum+sums[c] {
			cum += sums[c]
			if sums[c] > 0 {
				last = -(c + 2) // some amplitude of piece c has weight
			}
			continue
		}
		for i := c * samplePiece; i < min(n, (c+1)*samplePiece) && k < len(us); i++ {
			p := s.Probability(i)
			if p == 0 {
				continue
			}
			last = i
			cum += p
			for k < len(us) && us[k] < cum {
				out = append(out, uint64(i))
				k++
			}
		}
	}
	// Rounding can leave the last few numbers just above the sum: they
	// belong to the last outcome with weight.
	if k < len(us) {
		if last < -1 {
			// Find it in the last skipped piece with weight.
			c := -last - 2
			for i := min(n, (c+1)*samplePiece) - 1; i >= c*samplePiece; i-- {
				if s.Probability(i) > 0 {
					last = i
					break
				}
			}
		}
		last = max(last, 0)
		for ; k < len(us); k++ {
			out = append(out, uint64(last))
		}
	}
	return out
}

// samplePiece is the number of amplitudes sampleSorted sums as one.
const samplePiece = 1 << 12
