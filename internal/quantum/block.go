package quantum

import (
	"math/bits"
	"slices"
	"sync"
)

// Cache-blocked execution of gate sequences.
//
// Applying gates one by one reads and writes the whole state once per gate:
// past the last-level cache that is one trip through memory per gate, and
// a random circuit of 28 qubits spends nearly all its time waiting for
// memory. ApplyGates instead cuts the sequence into passes. A pass holds a
// set L of "local" qubits: the lowest few qubits plus up to a handful of
// higher ones. For every value of the qubits outside L (a block), the 2^|L|
// amplitudes of the block are gathered into a small buffer that stays in
// the core's cache (the low qubits give contiguous runs, the higher ones
// pick the runs), every gate of the pass is applied there, with its qubits
// renumbered to their positions in L, and the buffer is scattered back.
// A pass therefore costs one trip through memory however many gates it
// holds.
//
// A gate may join a pass when the qubits it mixes (its targets, unless it
// is diagonal) are in L. Controls outside L are constant within a block:
// the gate runs in the blocks where they are 1. A diagonal gate's targets
// outside L are constant too: per block it reduces to a diagonal on its
// qubits in L, or to a phase, both prepared when the pass is planned.
//
// Passes are chosen greedily in program order: a gate that cannot join
// the current pass blocks its qubits, and later gates on a blocked qubit
// wait for a later pass, so gates that share a qubit keep their order
// while gates on disjoint qubits (which commute) may move ahead.

// blockOp is one gate of a pass, renumbered to local qubits.
type blockOp struct {
	// g is the local gate, or nil when the gate has diagonal targets
	// outside the pass (see variants).
	g *Gate
	// ctrl holds the gate's controls outside the pass: it runs in a
	// block only when all of them are 1 there.
	ctrl uint64
	// out lists the gate's diagonal targets outside the pass; the value
	// of those qubits in a block (bit j for out[j]) selects variants[v]
	// (a local diagonal gate, or nil) or, when the gate keeps no local
	// qubit, the phase scalars[v] (1 when there is a local gate).
	out      []int
	variants []*Gate
	scalars  []complex128
	// diag, when set, is a fused group of diagonal gates (the other
	// fields are unused).
	diag *diagGroup
}

// blockPass is one trip through memory: either gates applied block by
// block (local, ops) or one gate applied to the whole state (direct).
type blockPass struct {
	local  []int // sorted global qubits held locally
	run    int   // amplitudes per contiguous run: 2^(lowest consecutive local qubits)
	offs   []int // offset of each run of a block from the block's base
	ops    []blockOp
	direct *Gate
}

// ApplyGates applies gates in order, as Apply on each would, with the
// cache-blocked passes described above when the state is larger than a
// block.
func (s *State[F]) ApplyGates(gates []*Gate) {
	local, low := blockShape[F]()
	s.applyBlocked(gates, local, low)
}

// applyBlocked is ApplyGates with passes of the given shape (see
// blockShape).
func (s *State[F]) applyBlocked(gates []*Gate, local, low int) {
	if s.n <= local || len(gates) < 2 {
		for _, g := range gates {
			s.Apply(g)
		}
		return
	}
	if fuseEnabled {
		gates = fuseGates(gates, 2)
	}
	for _, p := range planBlocks(gates, s.n, local, low) {
		if p.direct != nil {
			s.Apply(p.direct)
			continue
		}
		s.runPass(&p)
	}
}

// maxDiagQubits bounds the qubits of a diagonal gate that may keep
// targets outside a pass: its per-block variants are built as matrices.
const maxDiagQubits = 6

func isDiagonal(g *Gate) bool {
	switch g.kind {
	case kIdentity, kPhase, kDiag, kDiagK:
		return true
	}
	return false
}

func maskOf(qs []int) uint64 {
	var m uint64
	for _, q := range qs {
		m |= 1 << q
	}
	return m
}

// mustBeLocal returns the qubits of g that a pass must hold for g to
// join it.
func mustBeLocal(g *Gate) uint64 {
	if isDiagonal(g) && len(g.Targets)+len(g.Controls) <= maxDiagQubits {
		return 0
	}
	return maskOf(g.Targets)
}

// planBlocks cuts gates into passes of local qubits, the low lowest ones
// plus up to local-low others, for a state of n qubits.
func planBlocks(gates []*Gate, n, local, low int) []blockPass {
	kmax := local - low
	lowMask := uint64(1)<<low - 1
	all := uint64(1)<<n - 1
	done := make([]bool, len(gates))
	left := 0
	for i, g := range gates {
		if g.kind == kIdentity {
			done[i] = true
			continue
		}
		left++
	}
	// scan walks the gates not yet applied in order and returns those
	// that can join a pass holding the high qubits in hi (and the low
	// ones); with grow, hi takes in the qubits of gates that need them
	// while there is room.
	scan := func(start int, hi uint64, grow bool) (uint64, []int) {
		var blocked uint64
		var sel []int
		for i := start; i < len(gates) && blocked != all; i++ {
			if done[i] {
				continue
			}
			g := gates[i]
			qs := maskOf(g.Targets) | maskOf(g.Controls)
			if qs&blocked != 0 {
				blocked |= qs
				continue
			}
			need := mustBeLocal(g) &^ lowMask
			if need&^hi != 0 {
				if !grow || bits.OnesCount64(hi|need) > kmax {
					blocked |= qs
					continue
				}
				hi |= need
			}
			sel = append(sel, i)
		}
		return hi, sel
	}
	var passes []blockPass
	start := 0
	for left > 0 {
		for done[start] {
			start++
		}
		hi, sel := scan(start, 0, true)
		if len(sel) == 0 {
			// The first gate needs more high qubits than a pass holds.
			passes = append(passes, blockPass{direct: gates[start]})
			done[start] = true
			left--
			continue
		}
		// Fill the free places with the lowest other qubits (longer
		// runs), and take in the gates they admit.
		for q := low; q < n && bits.OnesCount64(hi) < kmax; q++ {
			hi |= 1 << q
		}
		_, sel = scan(start, hi, false)
		var qs []int
		for q := 0; q < n; q++ {
			if q < low || hi>>q&1 == 1 {
				qs = append(qs, q)
			}
		}
		p := newPass(qs)
		for _, i := range sel {
			p.ops = append(p.ops, p.localOp(gates[i]))
			done[i] = true
			left--
		}
		p.groupDiagonals()
		passes = append(passes, p)
	}
	return passes
}

// newPass returns a pass holding the sorted qubits qs.
func newPass(qs []int) blockPass {
	r := 0
	for r < len(qs) && qs[r] == r {
		r++
	}
	p := blockPass{local: qs, run: 1 << r}
	p.offs = make([]int, 1<<(len(qs)-r))
	for c := range p.offs {
		for j, q := range qs[r:] {
			if c>>j&1 == 1 {
				p.offs[c] |= 1 << q
			}
		}
	}
	return p
}

// localOp renumbers g to the pass's local qubits.
func (p *blockPass) localOp(g *Gate) blockOp {
	pos := func(q int) int {
		i, ok := slices.BinarySearch(p.local, q)
		if !ok {
			return -1
		}
		return i
	}
	var op blockOp
	var lc []int
	for _, c := range g.Controls {
		if i := pos(c); i >= 0 {
			lc = append(lc, i)
		} else {
			op.ctrl |= 1 << c
		}
	}
	var lt []int
	var outIdx []int // indexes into g.Targets of targets outside the pass
	for j, t := range g.Targets {
		if i := pos(t); i >= 0 {
			lt = append(lt, i)
		} else {
			op.out = append(op.out, t)
			outIdx = append(outIdx, j)
		}
	}
	if len(op.out) == 0 {
		op.g = NewGate(g.Name, lt, lc, g.M)
		return op
	}
	// A diagonal gate with targets outside the pass: for each value of
	// those targets, the diagonal on its local targets and controls.
	d := 1 << len(g.Targets)
	lq := append(slices.Clone(lt), lc...)
	ld := 1 << len(lq)
	nv := 1 << len(op.out)
	op.variants = make([]*Gate, nv)
	op.scalars = make([]complex128, nv)
	for v := 0; v < nv; v++ {
		op.scalars[v] = 1
		u := make([]complex128, ld*ld)
		for x := 0; x < ld; x++ {
			// Bits 0..len(lt)-1 of x are the local targets (in the
			// order of g.Targets without the outside ones), the
			// rest the local controls.
			e := complex128(1)
			if x>>len(lt) == ld>>len(lt)-1 {
				r, k := 0, 0
				for j := range g.Targets {
					var b int
					if oi := slices.Index(outIdx, j); oi >= 0 {
						b = v >> oi & 1
					} else {
						b = x >> k & 1
						k++
					}
					r |= b << j
				}
				e = g.M[r*d+r]
			}
			u[x*ld+x] = e
		}
		if len(lq) == 0 {
			op.scalars[v] = u[0]
			continue
		}
		if lg := FromUnitary(g.Name, lq, u); lg.kind != kIdentity {
			op.variants[v] = lg
		}
	}
	return op
}

// runPass applies a blocked pass to the whole state.
func (s *State[F]) runPass(p *blockPass) {
	nl := len(p.local)
	size := 1 << nl
	nBlocks := 1 << (s.n - nl)
	inPlace := p.run == size
	w := min(s.workers(), nBlocks)
	var wg sync.WaitGroup
	for k := 0; k < w; k++ {
		lo, hi := nBlocks*k/w, nBlocks*(k+1)/w
		wg.Add(1)
		go func() {
			defer wg.Done()
			view := &State[F]{n: nl, serial: true}
			scratch := make([]diagScratch[F], len(p.ops))
			var buf []F
			if !inPlace {
				buf = make([]F, 2*size)
			}
			run := 2 * p.run
			for b := lo; b < hi; b++ {
				base := int(deposit(uint64(b), p.local))
				if inPlace {
					view.v = s.v[2*base : 2*(base+size)]
				} else {
					for c, off := range p.offs {
						src := 2 * (base + off)
						copy(buf[c*run:(c+1)*run], s.v[src:src+run])
					}
					view.v = buf
				}
				view.applyOps(p.ops, uint64(base), scratch)
				if !inPlace {
					for c, off := range p.offs {
						dst := 2 * (base + off)
						copy(s.v[dst:dst+run], buf[c*run:(c+1)*run])
					}
				}
			}
		}()
	}
	wg.Wait()
}

// applyOps applies a pass's gates to the block whose outside qubits are
// those of base.
func (s *State[F]) applyOps(ops []blockOp, base uint64, scratch []diagScratch[F]) {
	for i := range ops {
		op := &ops[i]
		if op.diag != nil {
			s.applyDiag(op.diag, base, &scratch[i])
			continue
		}
		if base&op.ctrl != op.ctrl {
			continue
		}
		if op.g != nil {
			s.applyLocal(op.g)
			continue
		}
		v := 0
		for j, q := range op.out {
			v |= int(base>>q&1) << j
		}
		if g := op.variants[v]; g != nil {
			s.applyLocal(g)
		} else if c := op.scalars[v]; c != 1 {
			s.scale(c)
		}
	}
}

// applyLocal is Apply on a block, with the common case (one target, no
// control) dispatched straight to its kernel.
func (s *State[F]) applyLocal(g *Gate) {
	if len(g.Targets) == 1 && len(g.Controls) == 0 && g.kind != kIdentity {
		stride := 1 << g.Targets[0]
		runKernel1(g, s.v, 0, 1<<s.n, 2*stride, stride, stride)
		return
	}
	if g.kind == kDenseK && len(g.Targets) == 2 && s.simdDense2(g) {
		return
	}
	s.Apply(g)
}

// scale multiplies every amplitude by c.
func (s *State[F]) scale(c complex128) {
	cr, ci := F(real(c)), F(imag(c))
	v := s.v
	for k := 0; k+1 < len(v); k += 2 {
		re, im := v[k], v[k+1]
		v[k], v[k+1] = cr*re-ci*im, cr*im+ci*re
	}
}
