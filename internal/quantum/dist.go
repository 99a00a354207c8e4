package quantum

import (
	"fmt"
	"math"
	"math/bits"
	"slices"
	"unsafe"
)

// One state across many tasks.
//
// A distributed run splits the state vector of n qubits over 2^g tasks,
// each holding 2^(n-g) amplitudes in an ordinary State: the low n-g bits
// of an amplitude's index are its place in a task's slice (the local
// qubits) and the top g bits are the task's rank (the global qubits).
// Which circuit qubit sits at which bit is a permutation that changes as
// the run goes:
//
//   - A gate whose targets are all local runs on every slice with the
//     single-node engine (cache-blocked passes and all), its qubits
//     renamed to their bit positions. A control on a global bit needs no
//     data: a task whose rank has the bit clear skips the gate, the others
//     apply it without that control.
//   - A diagonal gate (rz, cz, phases) with a target on a global bit needs
//     no data either: the rank fixes that bit, which leaves a smaller
//     diagonal on the local targets, or a phase.
//   - Any other gate with a target on a global bit first swaps that bit
//     with a local one: the local qubit chosen is the one next needed on
//     a local bit (as a target of a non-diagonal gate) furthest ahead
//     (Belady's rule), so that the next swaps come as late as possible. A
//     swap exchanges half of each slice between the two tasks whose ranks
//     differ in that bit, in pipelined chunks, both ways at once
//     (Comm.ExchangeStream). Nothing is swapped back between gates: the
//     permutation is carried along.
//   - A measurement or reset needs the probability of an outcome over the
//     whole state: each task sums its slice and the sums are all-reduced,
//     bit-identically on every task. Every task holds the same random
//     source with the same seed and draws from it in the same order, so
//     every task takes the same branch without asking task 0.
//   - Sampling: the qubits are first put back in their own places
//     (restoreLayout: at most two exchanges per misplaced rank bit, and
//     one local pass), so the slices, in rank order, are the single
//     state's amplitudes in order. Each task sums its slice's weight;
//     every task draws the same sorted uniform numbers and keeps those
//     that fall in its own share of the running sum, then walks its slice
//     as the single-node sampler does. The counts are gathered at task 0.
//     So the same seed gives the same shots as a single-node run, up to
//     rounding (RunDistributed says how much).

// exchangeChunk is how many bytes of a half-slice travel in one round of
// a swap: big enough that the network is kept busy, small enough that
// the buffers cost nothing beside the state.
const exchangeChunk = 4 << 20

// distState is one task's part of a distributed state.
type distState[F Float] struct {
	s    *State[F] // the local slice, of n - g qubits
	comm *Comm
	n, g int
	// pos[q] is the bit position of circuit qubit q (0..n-1; n-g and up
	// are rank bits); qubit[p] is its inverse.
	pos, qubit []int
	// swaps counts the remaps, for tests and reports.
	swaps int
}

// newDistState returns n qubits in |0...0> spread over comm's tasks.
func newDistState[F Float](n int, comm *Comm) (*distState[F], error) {
	g := comm.Bits()
	if n-g < 1 {
		return nil, fmt.Errorf("%d qubits cannot be split over %d tasks: each task must hold at least one qubit", n, comm.Size)
	}
	s, err := NewState[F](n - g)
	if err != nil {
		return nil, err
	}
	if comm.Rank != 0 {
		s.v[0] = 0
	}
	d := &distState[F]{s: s, comm: comm, n: n, g: g, pos: make([]int, n), qubit: make([]int, n)}
	for q := range n {
		d.pos[q], d.qubit[q] = q, q
	}
	return d, nil
}

// reset puts the state back to |0...0> with every qubit in its place.
func (d *distState[F]) reset() {
	clear(d.s.v)
	if d.comm.Rank == 0 {
		d.s.v[0] = 1
	}
	for q := range d.n {
		d.pos[q], d.qubit[q] = q, q
	}
}

// local is the number of local qubits.
func (d *distState[F]) local() int { return d.n - d.g }

// rankBit says whether this task's rank has global position p set.
func (d *distState[F]) rankBit(p int) bool { return d.comm.Rank>>(p-d.local())&1 == 1 }

// clone copies the task's slice and layout (the communicator is shared).
func (d *distState[F]) clone() *distState[F] {
	c := *d
	c.s = d.s.Clone()
	c.pos, c.qubit = append([]int(nil), d.pos...), append([]int(nil), d.qubit...)
	return &c
}

// copyFrom makes d a copy of o, layout included.
func (d *distState[F]) copyFrom(o *distState[F]) {
	d.s.CopyFrom(o.s)
	copy(d.pos, o.pos)
	copy(d.qubit, o.qubit)
}

// applyGates applies gates in order, remapping qubits as it goes.
func (d *distState[F]) applyGates(gates []*Gate) error {
	var batch []*Gate
	flush := func() {
		if len(batch) == 1 {
			d.s.Apply(batch[0])
		} else if len(batch) > 1 {
			d.s.ApplyGates(batch)
		}
		batch = batch[:0]
	}
	var uses [][]int32 // built at the first remap
	for i, g := range gates {
		if lg, ok, done := d.diagonalGate(g); done {
			if ok {
				batch = append(batch, lg)
			}
			continue
		}
		for _, t := range g.Targets {
			if d.pos[t] >= d.local() {
				flush()
				if uses == nil {
					uses = localUses(gates, d.n)
				}
				if err := d.remap(t, g, i, uses); err != nil {
					return err
				}
			}
		}
		lg, ok := d.localGate(g)
		if ok {
			batch = append(batch, lg)
		}
	}
	flush()
	return nil
}

// localGate renames g's qubits to their positions; false means this task
// skips it (a global control is clear in its rank). Every target must be
// local.
func (d *distState[F]) localGate(g *Gate) (*Gate, bool) {
	targets := make([]int, len(g.Targets))
	same := true
	for k, t := range g.Targets {
		targets[k] = d.pos[t]
		same = same && targets[k] == t
	}
	var controls []int
	for _, c := range g.Controls {
		p := d.pos[c]
		if p >= d.local() {
			if !d.rankBit(p) {
				return nil, false
			}
			same = false
			continue
		}
		controls = append(controls, p)
		same = same && p == c
	}
	if same {
		return g, true
	}
	return NewGate(g.Name, targets, controls, g.M), true
}

// diagonalGate handles a diagonal gate with a target on a global
// position without moving data: on each task the rank bits fix those
// targets, which leaves a smaller diagonal on the local targets, or a
// phase (on the local controls, or on the whole slice). done is false
// when g is not such a gate; ok false means this task skips it.
func (d *distState[F]) diagonalGate(g *Gate) (lg *Gate, ok, done bool) {
	dim := 1 << len(g.Targets)
	fixed, fixedMask := 0, 0
	var lt []int // local target positions
	var ltBit []int
	for j, t := range g.Targets {
		if p := d.pos[t]; p >= d.local() {
			fixedMask |= 1 << j
			if d.rankBit(p) {
				fixed |= 1 << j
			}
		} else {
			lt = append(lt, p)
			ltBit = append(ltBit, j)
		}
	}
	if fixedMask == 0 {
		return nil, false, false
	}
	if !isDiagonalMatrix(g) {
		return nil, false, false
	}
	var lc []int
	for _, c := range g.Controls {
		p := d.pos[c]
		if p < d.local() {
			lc = append(lc, p)
		} else if !d.rankBit(p) {
			return nil, false, true
		}
	}
	if len(lt) > 0 {
		k := 1 << len(lt)
		m := make([]complex128, k*k)
		for x := range k {
			idx := fixed
			for b, j := range ltBit {
				idx |= (x >> b & 1) << j
			}
			m[x*k+x] = g.M[idx*dim+idx]
		}
		return NewGate(g.Name, lt, lc, m), true, true
	}
	ph := g.M[fixed*dim+fixed]
	if ph == 1 {
		return nil, false, true
	}
	if len(lc) > 0 {
		return NewGate(g.Name, lc[:1], lc[1:], []complex128{1, 0, 0, ph}), true, true
	}
	// A phase on the whole slice, relative to the other tasks'.
	return NewGate(g.Name, []int{0}, nil, []complex128{ph, 0, 0, ph}), true, true
}

// localUses lists, for each circuit qubit, the indexes of the gates that
// need it on a local position, in order: those it is a target of, unless
// the gate is diagonal (a control, or a target of a diagonal gate, can
// stay on a rank bit).
func localUses(gates []*Gate, n int) [][]int32 {
	uses := make([][]int32, n)
	for i, g := range gates {
		if isDiagonalMatrix(g) {
			continue
		}
		for _, t := range g.Targets {
			uses[t] = append(uses[t], int32(i))
		}
	}
	return uses
}

// isDiagonalMatrix reports whether g's target matrix is diagonal.
func isDiagonalMatrix(g *Gate) bool {
	dim := 1 << len(g.Targets)
	for r := range dim {
		for c := range dim {
			if r != c && g.M[r*dim+c] != 0 {
				return false
			}
		}
	}
	return true
}

// remap moves circuit qubit q (on a global position), a target of gate
// number at, to a local position: the one whose qubit is not a target of
// that gate and is next needed locally furthest ahead (Belady's rule).
func (d *distState[F]) remap(q int, g *Gate, at int, uses [][]int32) error {
	best, bestAt := -1, -1
	for p := d.local() - 1; p >= 0; p-- {
		x := d.qubit[p]
		if slices.Contains(g.Targets, x) {
			continue
		}
		u := uses[x]
		k, _ := slices.BinarySearch(u, int32(at+1))
		next := math.MaxInt32 // never again
		if k < len(u) {
			next = int(u[k])
		}
		if next > bestAt {
			best, bestAt = p, next
		}
	}
	if best < 0 {
		return fmt.Errorf("gate %s needs more local qubits than the %d each task holds: use fewer tasks", g.Name, d.local())
	}
	return d.swap(best, d.pos[q])
}

// swap exchanges local position l with global position p: the tasks whose
// ranks differ in p's bit trade the halves of their slices where bit l
// differs from that rank bit.
func (d *distState[F]) swap(l, p int) error {
	j := p - d.local()
	b := 0
	if d.rankBit(p) {
		b = 1
	}
	// The half to send: local bit l == 1-b. It is replaced, in the same
	// places, by the partner's half where its bit l == b (its own rank bit
	// is 1-b): the two are each other's missing amplitudes.
	// Amplitudes move as 64-bit words: one complex64, half a complex128.
	var f F
	words := unsafe.Slice((*uint64)(unsafe.Pointer(&d.s.v[0])), len(d.s.v)*int(unsafe.Sizeof(f))/8)
	run := (1 << l) * 2 * int(unsafe.Sizeof(f)) / 8 // words in one run of the half
	half := len(words) / 2
	words8 := func(buf []byte) []uint64 {
		return unsafe.Slice((*uint64)(unsafe.Pointer(&buf[0])), len(buf)/8)
	}
	err := d.comm.ExchangeStream(j, 8*half, min(exchangeChunk, 8*half),
		func(off int, buf []byte) { moveHalf(words, words8(buf), off/8, run, b, true) },
		func(off int, buf []byte) { moveHalf(words, words8(buf), off/8, run, b, false) })
	if err != nil {
		return err
	}
	ql, qp := d.qubit[l], d.qubit[p]
	d.qubit[l], d.qubit[p] = qp, ql
	d.pos[qp], d.pos[ql] = l, p
	d.swaps++
	d.comm.Remaps++
	return nil
}

// swapMatrix exchanges its two targets.
var swapMatrix = []complex128{1, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1}

// restoreLayout puts every qubit back on its own bit position, so that
// the slices lie in the order of a single state: task r holds amplitudes
// r*2^(n-g) onwards. Each misplaced global position costs one or two
// exchanges; the local positions are then sorted by swap gates in one
// cache-blocked pass, with no exchange. Sampling afterwards walks the
// amplitudes in the single-node order, so the same seed draws the same
// shots.
func (d *distState[F]) restoreLayout() error {
	for p := d.local(); p < d.n; p++ {
		x := d.pos[p]
		if x == p {
			continue
		}
		if x >= d.local() {
			// Through a local position: global to global is no exchange
			// between one pair of tasks.
			if err := d.swap(0, x); err != nil {
				return err
			}
			x = 0
		}
		if err := d.swap(x, p); err != nil {
			return err
		}
	}
	var gates []*Gate
	for p := range d.local() {
		x := d.pos[p]
		if x == p {
			continue
		}
		gates = append(gates, NewGate("swap", []int{p, x}, nil, swapMatrix))
		qp := d.qubit[p]
		d.qubit[p], d.qubit[x] = p, qp
		d.pos[p], d.pos[qp] = p, x
	}
	if len(gates) == 1 {
		d.s.Apply(gates[0])
	} else if len(gates) > 1 {
		d.s.ApplyGates(gates)
	}
	return nil
}

// moveHalf copies between buf and the words of one half of a slice: the
// runs of run words that start at (2k+1-b)*run, from word off of the half
// on. out copies from the slice into buf, else back.
func moveHalf(words, buf []uint64, off, run, b int, out bool) {
	if run == 1 {
		// Every other word: a strided loop, no runs to track.
		w := words[2*off+1-b:]
		if out {
			for i := range buf {
				buf[i] = w[2*i]
			}
		} else {
			for i, x := range buf {
				w[2*i] = x
			}
		}
		return
	}
	k, r := off/run, off%run
	base := (2*k + 1 - b) * run
	for i := 0; i < len(buf); {
		n := min(len(buf)-i, run-r)
		w, x := words[base+r:base+r+n], buf[i:i+n]
		switch {
		case n <= 4 && out:
			for t := range x {
				x[t] = w[t]
			}
		case n <= 4:
			for t := range x {
				w[t] = x[t]
			}
		case out:
			copy(x, w)
		default:
			copy(w, x)
		}
		i += n
		r = 0
		base += 2 * run
	}
}

// probabilityOne is the probability that qubit q measures 1, the same on
// every task.
func (d *distState[F]) probabilityOne(q int) (float64, error) {
	// v is this task's part of the probability and of the norm (see
	// State.outcomeOne).
	v := make([]float64, 2)
	if p := d.pos[q]; p < d.local() {
		v[0], v[1] = d.s.outcomeSums(p)
	} else {
		v[1] = d.s.Norm()
		if d.rankBit(p) {
			v[0] = v[1]
		}
	}
	if err := d.comm.AllReduce(v); err != nil {
		return 0, err
	}
	if v[1] > 0 {
		v[0] /= v[1]
	}
	return min(1, max(0, v[0])), nil
}

// collapse projects qubit q onto outcome, whose probability was p.
func (d *distState[F]) collapse(q, outcome int, p float64) {
	pp := d.pos[q]
	if pp < d.local() {
		d.s.Collapse(pp, outcome, p)
		return
	}
	if d.rankBit(pp) == (outcome == 1) {
		d.s.scale(complex(1/math.Sqrt(p), 0))
	} else {
		clear(d.s.v)
	}
}

// flipAfterCollapse moves qubit q's |1> half onto |0>, as reset does after
// a collapse to 1.
func (d *distState[F]) flipAfterCollapse(q int) error {
	if p := d.pos[q]; p < d.local() {
		d.s.flipAfterCollapse(p)
		return nil
	}
	return d.applyGates([]*Gate{NewGate("x", []int{q}, nil, xMatrix)})
}

// amplitude returns the amplitude of circuit basis state i if this task
// holds it.
func (d *distState[F]) amplitude(i uint64) (complex128, bool) {
	var phys uint64
	for q := range d.n {
		phys |= (i >> q & 1) << d.pos[q]
	}
	if int(phys>>d.local()) != d.comm.Rank {
		return 0, false
	}
	return d.s.Amplitude(int(phys & (1<<d.local() - 1))), true
}

// logical turns a local index of this task into the circuit's basis
// state index.
func (d *distState[F]) logical(local uint64) uint64 {
	phys := local | uint64(d.comm.Rank)<<d.local()
	var i uint64
	for p := range d.n {
		i |= (phys >> p & 1) << d.qubit[p]
	}
	return i
}

// CheckDistributed says whether c can run split over tasks tasks: tasks a
// power of two, and each task left with enough local qubits for the
// widest gate.
func (c *Circuit) CheckDistributed(tasks int) error {
	if tasks < 1 || tasks&(tasks-1) != 0 {
		return fmt.Errorf("--nodes must be a power of two (the top log2(N) qubits index the tasks), got %d", tasks)
	}
	g := bits.TrailingZeros(uint(tasks))
	widest := 1
	var walk func([]Op)
	walk = func(ops []Op) {
		for _, op := range ops {
			if op.Kind == OpGate {
				widest = max(widest, len(op.Gate.Targets))
			}
			walk(op.Then)
		}
	}
	walk(c.Ops)
	if c.Qubits-g < widest {
		return fmt.Errorf("a %d-qubit circuit over %d tasks leaves %d qubits on each, fewer than its widest gate's %d targets: use at most %d tasks", c.Qubits, tasks, c.Qubits-g, widest, 1<<max(0, c.Qubits-widest))
	}
	return nil
}
