package quantum

import (
	"slices"
	"unsafe"
)

// Gate fusion across layers.
//
// A one-qubit kernel costs about as much per amplitude as the arithmetic
// of its 2x2 product, so fusing two one-qubit gates on different qubits
// into a 4x4 matrix saves nothing: the 4x4 product costs what the two 2x2
// products cost. What saves work is a 4x4 matrix that absorbs a two-qubit
// gate together with the one-qubit gates on both of its qubits just before
// and just after it: in a brick-wall circuit (one-qubit gates on every
// qubit, then two-qubit gates on alternating pairs) every other two-qubit
// gate takes four one-qubit gates with it, and the per-amplitude work of
// those four is halved.
//
// fuseGates plans this greedily in program order over one run of unitary
// gates (ApplyGates is never handed a measurement, a reset or a
// conditional, so no group crosses one). One-qubit gates on a qubit wait
// in a pending list. A two-qubit gate whose qubits both have pending gates
// opens a group holding them and itself; later one-qubit gates (and
// two-qubit gates on the same pair) join the group until another gate
// touches one of its qubits, which closes it. A closed group is emitted as
// one dense 4x4 gate when the gates it replaces cost more than the dense
// kernel (fuseCost), else as the gates themselves. Pending one-qubit gates
// on a qubit are multiplied into one 2x2 gate when they are emitted.
// Gates only move past gates on other qubits, with which they commute.

// Relative cost per amplitude of the kernels a fused group replaces and of
// the dense 4x4 kernel, the one-qubit complex kernel being 1. Measured
// with BenchmarkFuseKernels (a 16-qubit block in the L2 cache, complex64,
// AVX2, high target qubits): one-qubit complex 0.17 ns per amplitude, real
// (ry) 0.14, CZ 0.09, dense complex 4x4 0.37-0.40, real 4x4 0.22. The
// dense kernel's arithmetic is twice a one-qubit gate's and both run at
// the FMA units' rate, so the ratio holds across machines with AVX2.
const (
	costOne      = 1.0
	costOneDiag  = 0.5
	costTwoDiag  = 0.5
	costTwoDense = 2.0
	costDense4   = 2.3
	// costDense4Z is the dense kernel's cost with AVX-512 (0.15 ns per
	// amplitude, real 0.08, against 0.16 for the one-qubit kernel, on
	// AMD Zen 5).
	costDense4Z = 1.0
	// fuseMargin is how much more the replaced gates must cost than the
	// dense kernel for a group to be fused.
	fuseMargin = 1.25
)

// fuseEnabled turns fusion off for tests that compare with the unfused
// result.
var fuseEnabled = true

// dense4Cost is the cost of the dense 4x4 kernel that will run.
func dense4Cost() float64 {
	if have512 {
		return costDense4Z
	}
	return costDense4
}

func gateCost(g *Gate) float64 {
	nq := len(g.Targets) + len(g.Controls)
	switch {
	case nq == 1 && isDiagonal(g):
		return costOneDiag
	case nq == 1:
		return costOne
	case nq == 2 && isDiagonal(g):
		return costTwoDiag
	}
	return costTwoDense
}

// fuseGroup is an open group on qubits a and b: u is its 4x4 unitary with
// bit 0 of the indexes for a and bit 1 for b.
type fuseGroup struct {
	a, b    int
	u       []complex128
	members []*Gate
	cost    float64
}

// fuseGates returns gates with fused groups on qubits at least minQ (the
// dense kernel needs strides of four amplitudes or more); the result
// applied in order equals gates applied in order.
func fuseGates(gates []*Gate, minQ int) []*Gate {
	n := 0
	for _, g := range gates {
		for _, q := range g.Targets {
			n = max(n, q+1)
		}
		for _, q := range g.Controls {
			n = max(n, q+1)
		}
	}
	gates = asapOrder(gates, n)
	out := make([]*Gate, 0, len(gates))
	pend := make([][]*Gate, n)
	open := make([]*fuseGroup, n)
	flush := func(q int) {
		p := pend[q]
		switch len(p) {
		case 0:
			return
		case 1:
			out = append(out, p[0])
		default:
			m := []complex128{1, 0, 0, 1}
			for _, g := range p {
				m = matMul(g.M, m, 2)
			}
			out = append(out, NewGate("fused", []int{q}, nil, m))
		}
		pend[q] = nil
	}
	closeGroup := func(q int) {
		gr := open[q]
		if gr == nil {
			return
		}
		open[gr.a], open[gr.b] = nil, nil
		if gr.cost > dense4Cost()*fuseMargin {
			out = append(out, NewGate("fused", []int{gr.a, gr.b}, nil, gr.u))
		} else {
			out = append(out, gr.members...)
		}
	}
	for _, g := range gates {
		if g.kind == kIdentity {
			continue
		}
		qs := g.Qubits()
		if len(qs) == 1 {
			t := qs[0]
			if gr := open[t]; gr != nil {
				gr.u = matMul(gateUnitary(g, []int{gr.a, gr.b}), gr.u, 4)
				gr.members = append(gr.members, g)
				gr.cost += gateCost(g)
			} else {
				pend[t] = append(pend[t], g)
			}
			continue
		}
		if len(qs) == 2 && qs[0] >= minQ && qs[1] >= minQ {
			a, b := qs[0], qs[1]
			if gr := open[a]; gr != nil && gr == open[b] {
				gr.u = matMul(gateUnitary(g, []int{gr.a, gr.b}), gr.u, 4)
				gr.members = append(gr.members, g)
				gr.cost += gateCost(g)
				continue
			}
			closeGroup(a)
			closeGroup(b)
			if len(pend[a]) > 0 && len(pend[b]) > 0 {
				gr := &fuseGroup{a: a, b: b, u: []complex128{1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1}}
				for _, p := range append(slices.Clone(pend[a]), pend[b]...) {
					gr.u = matMul(gateUnitary(p, []int{a, b}), gr.u, 4)
					gr.members = append(gr.members, p)
					gr.cost += gateCost(p)
				}
				gr.u = matMul(gateUnitary(g, []int{a, b}), gr.u, 4)
				gr.members = append(gr.members, g)
				gr.cost += gateCost(g)
				pend[a], pend[b] = nil, nil
				open[a], open[b] = gr, gr
				continue
			}
			flush(a)
			flush(b)
			out = append(out, g)
			continue
		}
		for _, q := range qs {
			closeGroup(q)
			flush(q)
		}
		out = append(out, g)
	}
	for q := 0; q < n; q++ {
		closeGroup(q)
		flush(q)
	}
	return out
}

// asapOrder returns gates sorted stably by their layer when each gate is
// placed as early as the gates before it on its qubits allow: an order
// that keeps every qubit's gates in sequence (so the result is the same)
// and that puts a cycle's one-qubit gates before the two-qubit gates after
// them whatever order the compiler emitted them in, which is the order the
// greedy grouping of fuseGates needs to see.
func asapOrder(gates []*Gate, n int) []*Gate {
	depth := make([]int, n)
	layer := make([]int, len(gates))
	for i, g := range gates {
		l := 0
		for _, q := range g.Targets {
			l = max(l, depth[q])
		}
		for _, q := range g.Controls {
			l = max(l, depth[q])
		}
		for _, q := range g.Targets {
			depth[q] = l + 1
		}
		for _, q := range g.Controls {
			depth[q] = l + 1
		}
		layer[i] = l
	}
	idx := make([]int, len(gates))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return layer[a] - layer[b] })
	out := make([]*Gate, len(gates))
	for i, j := range idx {
		out[i] = gates[j]
	}
	return out
}

// matMul returns a*b for d x d matrices.
func matMul(a, b []complex128, d int) []complex128 {
	c := make([]complex128, d*d)
	for i := 0; i < d; i++ {
		for k := 0; k < d; k++ {
			x := a[i*d+k]
			if x == 0 {
				continue
			}
			for j := 0; j < d; j++ {
				c[i*d+j] += x * b[k*d+j]
			}
		}
	}
	return c
}

// gateUnitary returns g's unitary on qubits qs (bit j of the indexes for
// qs[j]), which hold all of g's targets and controls.
func gateUnitary(g *Gate, qs []int) []complex128 {
	d := 1 << len(qs)
	dt := 1 << len(g.Targets)
	pos := func(q int) int { return slices.Index(qs, q) }
	u := make([]complex128, d*d)
	for x := 0; x < d; x++ {
		on := true
		for _, c := range g.Controls {
			if x>>pos(c)&1 == 0 {
				on = false
			}
		}
		if !on {
			u[x*d+x] = 1
			continue
		}
		tin := 0
		clear := x
		for j, t := range g.Targets {
			tin |= (x >> pos(t) & 1) << j
			clear &^= 1 << pos(t)
		}
		for r := 0; r < dt; r++ {
			y := clear
			for j, t := range g.Targets {
				y |= (r >> j & 1) << pos(t)
			}
			u[y*d+x] = g.M[r*dt+tin]
		}
	}
	return u
}

// dense2Lanes lays out a two-target gate's matrix for mat4c64AVX, with its
// lower qubit first.
func dense2Lanes(g *Gate) *[256]float32 {
	m := g.M
	if g.Targets[0] > g.Targets[1] {
		m = gateUnitary(g, []int{g.Targets[1], g.Targets[0]})
	}
	var c [256]float32
	for r := 0; r < 4; r++ {
		for k := 0; k < 4; k++ {
			x := m[r*4+k]
			for l := 0; l < 8; l++ {
				c[64*r+16*k+l] = float32(real(x))
				c[64*r+16*k+8+l] = float32(imag(x))
				if l%2 == 0 {
					c[64*r+16*k+8+l] = -float32(imag(x))
				}
			}
		}
	}
	return &c
}

// widenLanes spreads the 8-lane coefficients of mat4c64AVX over the 16
// lanes of mat4c64AVX512 (each coefficient's pattern repeats every two
// lanes, so the second eight lanes copy the first).
func widenLanes(c *[256]float32) *[512]float32 {
	var z [512]float32
	for v := 0; v < 32; v++ {
		copy(z[16*v:16*v+8], c[8*v:8*v+8])
		copy(z[16*v+8:16*v+16], c[8*v:8*v+8])
	}
	return &z
}

// simdDense2 applies a dense two-target gate without controls with
// mat4c64AVX when both targets have strides of four amplitudes or more;
// it reports whether it did.
func (s *State[F]) simdDense2(g *Gate) bool {
	var zero F
	if !haveSIMD || unsafe.Sizeof(zero) != 4 || g.lanes4 == nil || len(g.Controls) != 0 {
		return false
	}
	t0, t1 := min(g.Targets[0], g.Targets[1]), max(g.Targets[0], g.Targets[1])
	if t0 < 2 {
		return false
	}
	c := unsafe.Slice((*complex64)(unsafe.Pointer(unsafe.SliceData(s.v))), len(s.v)/2)
	switch {
	case have512 && t0 >= 3 && g.lanes4z != nil && g.real4:
		mat4RealC64AVX512(&c[0], len(c)/4, 1<<t0, 1<<t1, g.lanes4z)
	case have512 && t0 >= 3 && g.lanes4z != nil:
		mat4c64AVX512(&c[0], len(c)/4, 1<<t0, 1<<t1, g.lanes4z)
	case g.real4:
		mat4RealC64AVX(&c[0], len(c)/4, 1<<t0, 1<<t1, g.lanes4)
	default:
		mat4c64AVX(&c[0], len(c)/4, 1<<t0, 1<<t1, g.lanes4)
	}
	return true
}
