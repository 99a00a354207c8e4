package quantum

import (
	"math/bits"
	"unsafe"
)

// Fused diagonal gates within a blocked pass.
//
// Diagonal gates (rz, cz, phases, and the per-block reductions of
// diagonal gates reaching outside the pass) commute with each other and
// with every gate on other qubits. The planner gathers them into groups
// and applies each group as one multiplication of every amplitude of the
// block by its phase: with the local index split into a low half (bits
// below diagHalf) and a high half, the phase is A[low] * R[high], where A
// holds the gates on low qubits and R those on high ones. A gate on both
// halves (a cz across the split) makes A depend on the few high bits it
// touches: one A table per value of those bits. Gates whose effect
// depends on the block (controls or targets outside the pass) join R
// block by block when they touch only high qubits, and are applied on
// their own otherwise.

// diagHalf is the number of low local qubits indexing a group's A table.
const diagHalf = 7

// maxCrossBits bounds the high bits the A tables may depend on.
const maxCrossBits = 3

// diagGroup is a fused run of diagonal gates of a pass.
type diagGroup struct {
	cross []int          // high local qubits the A tables depend on
	a     [][]complex128 // per value of the cross bits: 2^diagHalf phases
	r     []complex128   // 2^(local-diagHalf) phases of the static high gates
	dyn   []blockOp      // block-dependent gates
	// signs is set when every entry of the A tables is +1 or -1 (a
	// group of CZ and Z gates, the brick walls of random circuits): rows
	// whose R phase is +-1 too then flip signs by XOR instead of
	// multiplying (see xorRowC64AVX), about 3x cheaper per amplitude.
	signs bool
}

// diagAt returns the diagonal entry of the local diagonal gate g at local
// index x.
func diagAt(g *Gate, x int) complex128 {
	for _, c := range g.Controls {
		if x>>c&1 == 0 {
			return 1
		}
	}
	r := 0
	for j, t := range g.Targets {
		r |= (x >> t & 1) << j
	}
	d := 1 << len(g.Targets)
	return g.M[r*d+r]
}

// fusable reports whether op is diagonal on the block whatever the block.
func (op *blockOp) fusable() bool {
	if op.g != nil {
		return isDiagonal(op.g) && len(op.g.Targets)+len(op.g.Controls) <= maxDiagQubits
	}
	return op.variants != nil
}

// localMask returns the local qubits op may touch.
func (op *blockOp) localMask() uint64 {
	if op.g != nil {
		return maskOf(op.g.Targets) | maskOf(op.g.Controls)
	}
	var m uint64
	for _, g := range op.variants {
		if g != nil {
			m |= maskOf(g.Targets) | maskOf(g.Controls)
		}
	}
	return m
}

// groupDiagonals reorders the pass's ops so that diagonal gates gather
// into fused groups: a diagonal gate waits in the open group while the
// gates that follow it act on other qubits, and the group is applied just
// before the first gate that shares a qubit with it (or at the end).
func (p *blockPass) groupDiagonals() {
	nl := len(p.local)
	if nl <= diagHalf {
		return
	}
	var out []blockOp
	var open []blockOp
	var openMask uint64
	flush := func() {
		switch {
		case len(open) == 1 && !onLowQubits(&open[0]):
			out = append(out, open[0])
		case len(open) >= 1:
			out = append(out, blockOp{diag: newDiagGroup(open, nl)})
		}
		open, openMask = nil, 0
	}
	for _, op := range p.ops {
		if op.fusable() {
			open = append(open, op)
			openMask |= op.localMask()
			continue
		}
		if op.localMask()&openMask != 0 {
			flush()
		}
		out = append(out, op)
	}
	flush()
	p.ops = out
}

// onLowQubits reports whether op is a local diagonal gate on qubit 0 or
// 1: applied alone it would take the scalar path (controls there cut the
// amplitudes into runs too short for the vector kernels), which costs
// more than a group of one (a sign flip or phase per amplitude).
func onLowQubits(op *blockOp) bool {
	return op.g != nil && op.ctrl == 0 && (maskOf(op.g.Targets)|maskOf(op.g.Controls))&3 != 0
}

// newDiagGroup builds the tables of a group of diagonal ops on nl local
// qubits.
func newDiagGroup(ops []blockOp, nl int) *diagGroup {
	lowMask := uint64(1)<<diagHalf - 1
	dg := &diagGroup{r: make([]complex128, 1<<(nl-diagHalf))}
	var low, high, cross []*Gate
	var crossMask uint64
	for i := range ops {
		op := &ops[i]
		if op.g == nil || op.ctrl != 0 {
			dg.dyn = append(dg.dyn, *op)
			continue
		}
		m := op.localMask()
		switch {
		case m&^lowMask == 0:
			low = append(low, op.g)
		case m&lowMask == 0:
			high = append(high, op.g)
		case bits.OnesCount64(crossMask|m&^lowMask) <= maxCrossBits:
			crossMask |= m &^ lowMask
			cross = append(cross, op.g)
		default:
			dg.dyn = append(dg.dyn, *op)
		}
	}
	for q := diagHalf; q < nl; q++ {
		if crossMask>>q&1 == 1 {
			dg.cross = append(dg.cross, q)
		}
	}
	dg.a = make([][]complex128, 1<<len(dg.cross))
	for s := range dg.a {
		hiBits := 0
		for j, q := range dg.cross {
			hiBits |= (s >> j & 1) << q
		}
		t := make([]complex128, 1<<diagHalf)
		for x := range t {
			e := complex128(1)
			for _, g := range low {
				e *= diagAt(g, x)
			}
			for _, g := range cross {
				e *= diagAt(g, x|hiBits)
			}
			t[x] = e
		}
		dg.a[s] = t
	}
	dg.signs = true
	for _, t := range dg.a {
		for _, e := range t {
			if e != 1 && e != -1 {
				dg.signs = false
			}
		}
	}
	for r := range dg.r {
		e := complex128(1)
		for _, g := range high {
			e *= diagAt(g, r<<diagHalf)
		}
		dg.r[r] = e
	}
	return dg
}

// table returns which A table row r of a block uses: the values of the
// group's cross bits in it.
func (dg *diagGroup) table(r int) int {
	hi := r << diagHalf
	k := 0
	for j, q := range dg.cross {
		k |= (hi >> q & 1) << j
	}
	return k
}

// xorRows applies a sign group with one call of xorRowsC64AVX512 when
// every row's phase is +-1, and reports whether it did.
func (s *State[F]) xorRows(dg *diagGroup, row []complex128, sc *diagScratch[F]) bool {
	const w = 1 << diagHalf
	if sc.rows == nil {
		sc.rows = make([]uint32, len(row))
		sc.kOf = make([]uint32, len(row))
		for r := range row {
			sc.kOf[r] = uint32(dg.table(r))
		}
		for _, m := range sc.m {
			sc.mAll = append(sc.mAll, m...)
		}
	}
	for r, c := range row {
		switch c {
		case 1:
			sc.rows[r] = sc.kOf[r] << 1
		case -1:
			sc.rows[r] = sc.kOf[r]<<1 | 1
		default:
			return false
		}
	}
	if len(s.v) < 2*w*len(row) {
		panic("quantum: sign rows past the block")
	}
	xorRowsC64AVX512((*complex64)(unsafe.Pointer(&s.v[0])), &sc.mAll[0], &sc.rows[0], len(row), w)
	return true
}

// diagScratch holds one goroutine's copies of a group's tables in the
// state's precision.
type diagScratch[F Float] struct {
	a   [][]F
	row []complex128
	// m holds the A tables as sign masks, one per float, when the group
	// has signs set; mAll is them end to end, kOf each row's table and
	// rows the per-row words of xorRowsC64AVX512.
	m         [][]uint32
	mAll      []uint32
	kOf, rows []uint32
}

// applyDiag applies a fused group to the block s (whose outside qubits are
// those of base).
func (s *State[F]) applyDiag(dg *diagGroup, base uint64, sc *diagScratch[F]) {
	row := append(sc.row[:0], dg.r...)
	for i := range dg.dyn {
		op := &dg.dyn[i]
		if base&op.ctrl != op.ctrl {
			continue
		}
		g := op.g
		if g == nil {
			v := 0
			for j, q := range op.out {
				v |= int(base>>q&1) << j
			}
			g = op.variants[v]
			if g == nil {
				if c := op.scalars[v]; c != 1 {
					for r := range row {
						row[r] *= c
					}
				}
				continue
			}
		}
		if (maskOf(g.Targets)|maskOf(g.Controls))&(1<<diagHalf-1) != 0 {
			s.applyLocal(g)
			continue
		}
		for r := range row {
			row[r] *= diagAt(g, r<<diagHalf)
		}
	}
	sc.row = row
	if sc.a == nil {
		sc.a = make([][]F, len(dg.a))
		for k, t := range dg.a {
			f := make([]F, 2*len(t))
			for x, e := range t {
				f[2*x], f[2*x+1] = F(real(e)), F(imag(e))
			}
			sc.a[k] = f
		}
	}
	const w = 1 << diagHalf
	var zero F
	simd := haveSIMD
	double := unsafe.Sizeof(zero) == 8
	xor := simd && !double && dg.signs
	if xor && sc.m == nil {
		sc.m = make([][]uint32, len(dg.a))
		for k, t := range dg.a {
			m := make([]uint32, 2*len(t))
			for x, e := range t {
				if e == -1 {
					m[2*x], m[2*x+1] = 1<<31, 1<<31
				}
			}
			sc.m[k] = m
		}
	}
	if xor && have512 && s.xorRows(dg, row, sc) {
		return
	}
	for r, c := range row {
		hi := r << diagHalf
		k := dg.table(r)
		a := sc.a[k]
		v := s.v[2*hi : 2*(hi+w)]
		if xor && (c == 1 || c == -1) {
			var rm uint32
			if c == -1 {
				rm = 1 << 31
			}
			if have512 {
				xorRowC64AVX512((*complex64)(unsafe.Pointer(&v[0])), &sc.m[k][0], w, rm)
			} else {
				xorRowC64AVX((*complex64)(unsafe.Pointer(&v[0])), &sc.m[k][0], w, rm)
			}
			continue
		}
		if simd && double {
			cc := [2]float64{real(c), imag(c)}
			mulRowC128AVX((*complex128)(unsafe.Pointer(&v[0])), (*complex128)(unsafe.Pointer(&a[0])), w, &cc)
			continue
		}
		if simd {
			cc := [2]float32{float32(real(c)), float32(imag(c))}
			mulRowC64AVX((*complex64)(unsafe.Pointer(&v[0])), (*complex64)(unsafe.Pointer(&a[0])), w, &cc)
			continue
		}
		cr, ci := F(real(c)), F(imag(c))
		a = a[:len(v)]
		for x := 0; x+1 < len(v); x += 2 {
			pr := a[x]*cr - a[x+1]*ci
			pi := a[x]*ci + a[x+1]*cr
			re, im := v[x], v[x+1]
			v[x], v[x+1] = re*pr-im*pi, re*pi+im*pr
		}
	}
}
