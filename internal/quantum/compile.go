package quantum

import (
	"fmt"
	"math"
	"math/cmplx"
	"slices"
	"strconv"
	"strings"
)

// OpKind says what an Op does.
type OpKind uint8

// Kinds of circuit operations.
const (
	OpGate    OpKind = iota // apply Gate
	OpMeasure               // measure Qubit into Clbit
	OpReset                 // reset Qubit to |0>
	OpIf                    // if the condition holds, run Then
)

// Op is one step of a compiled circuit.
type Op struct {
	Kind  OpKind
	Gate  *Gate
	Qubit int
	Clbit int
	Cond  *Cond
	Then  []Op
}

// Cond is a classical condition: the register of Size bits starting at
// classical bit Offset equals Value.
type Cond struct {
	Reg    string
	Offset int
	Size   int
	Value  uint64
}

func (c *Cond) holds(cl uint64) bool {
	mask := uint64(1)<<c.Size - 1
	if c.Size >= 64 {
		mask = ^uint64(0)
	}
	return cl>>c.Offset&mask == c.Value
}

// Circuit is a program compiled for the simulator: flat qubit and
// classical-bit numbering, every gate a classified matrix, runs of
// one-qubit gates fused.
type Circuit struct {
	Qubits int
	Clbits int
	// CRegs lays out the classical bits for printing outcomes.
	CRegs []Register
	Ops   []Op
}

// MaxClbits is the most classical bits a circuit may have: outcomes are
// kept as 64-bit words.
const MaxClbits = 64

// maxUnitaryQubits is the widest gate call whose matrix the compiler
// computes; wider calls are expanded into their bodies.
const maxUnitaryQubits = 4

// maxPrims bounds how many U and CX operations one gate call may expand
// into, against definitions that nest into exponential sizes.
const maxPrims = 1 << 22

// Compile turns a parsed program into a circuit.
func Compile(p *Program) (*Circuit, error) {
	if p.NumClbits > MaxClbits {
		return nil, fmt.Errorf("the program has %d classical bits; the simulator supports at most %d", p.NumClbits, MaxClbits)
	}
	c := &Circuit{Qubits: p.NumQubits, Clbits: p.NumClbits, CRegs: p.CRegs}
	cache := map[string][]complex128{}
	for _, st := range p.Stmts {
		width := 1
		for _, a := range append(slices.Clone(st.Args), st.Target) {
			if a.Reg != nil && a.Index < 0 {
				width = max(width, a.Reg.Size)
			}
		}
		var ops []Op
		for k := 0; k < width; k++ {
			switch st.Kind {
			case StmtBarrier:
				// A barrier orders nothing a state-vector simulation
				// could reorder.
			case StmtMeasure:
				ops = append(ops, Op{Kind: OpMeasure, Qubit: st.Args[0].bit(k), Clbit: st.Target.bit(k)})
			case StmtReset:
				ops = append(ops, Op{Kind: OpReset, Qubit: st.Args[0].bit(k)})
			case StmtGate:
				qs := make([]int, len(st.Args))
				for j, a := range st.Args {
					qs[j] = a.bit(k)
				}
				g, err := compileCall(st.Name, st.Def, st.Params, qs, cache)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", st.Pos, err)
				}
				ops = append(ops, g...)
			}
		}
		if st.Cond != nil && len(ops) > 0 {
			r := st.Cond.Reg
			ops = []Op{{Kind: OpIf, Cond: &Cond{Reg: r.Name, Offset: r.Offset, Size: r.Size, Value: st.Cond.Value}, Then: ops}}
		}
		c.Ops = append(c.Ops, ops...)
	}
	c.Ops = fuse(c.Ops, c.Qubits)
	return c, nil
}

// UMatrix is the OpenQASM U(theta, phi, lambda) gate:
// [[cos(t/2), -e^(i l) sin(t/2)], [e^(i p) sin(t/2), e^(i(p+l)) cos(t/2)]].
// (The specification's U differs from this by a global phase only, which
// no OpenQASM 2 program can observe.)
func UMatrix(theta, phi, lambda float64) []complex128 {
	c, s := math.Cos(theta/2), math.Sin(theta/2)
	return []complex128{
		complex(c, 0), -cmplx.Exp(complex(0, lambda)) * complex(s, 0),
		cmplx.Exp(complex(0, phi)) * complex(s, 0), cmplx.Exp(complex(0, phi+lambda)) * complex(c, 0),
	}
}

var xMatrix = []complex128{0, 1, 1, 0}

// compileCall compiles one gate call on distinct qubits qs.
func compileCall(name string, def *GateDef, params []float64, qs []int, cache map[string][]complex128) ([]Op, error) {
	switch {
	case def == nil && name == "U":
		return []Op{{Kind: OpGate, Gate: NewGate("U", qs, nil, UMatrix(params[0], params[1], params[2]))}}, nil
	case def == nil && name == "CX":
		return []Op{{Kind: OpGate, Gate: NewGate("cx", qs[1:], qs[:1], xMatrix)}}, nil
	case def == nil:
		return nil, fmt.Errorf("gate %s has no definition", name)
	case def.Opaque:
		return nil, fmt.Errorf("gate %s is opaque: the simulator has no definition to apply", name)
	}
	if len(qs) <= maxUnitaryQubits {
		key := def.Name + "@" + def.Pos.String() + "(" + floatsKey(params) + ")"
		u, ok := cache[key]
		if !ok {
			var err error
			if u, err = unitaryOf(def, params); err != nil {
				return nil, err
			}
			cache[key] = u
		}
		return []Op{{Kind: OpGate, Gate: FromUnitary(def.Name, qs, u)}}, nil
	}
	var out []Op
	for _, op := range def.Body {
		ps := make([]float64, len(op.Params))
		for i, e := range op.Params {
			ps[i] = e.eval(params)
		}
		sub := make([]int, len(op.Args))
		for i, a := range op.Args {
			sub[i] = qs[a]
		}
		ops, err := compileCall(op.Name, op.Def, ps, sub, cache)
		if err != nil {
			return nil, err
		}
		out = append(out, ops...)
	}
	return out, nil
}

func floatsKey(ps []float64) string {
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = strconv.FormatFloat(p, 'g', -1, 64)
	}
	return strings.Join(parts, ",")
}

// prim is U(theta, phi, lambda) on a, or CX a -> b.
type prim struct {
	cx                 bool
	theta, phi, lambda float64
	a, b               int
}

// expand emits the U and CX operations a gate call consists of.
func expand(def *GateDef, params []float64, args []int, emit func(prim) error) error {
	for _, op := range def.Body {
		ps := make([]float64, len(op.Params))
		for i, e := range op.Params {
			ps[i] = e.eval(params)
		}
		var err error
		switch {
		case op.Def == nil && op.Name == "U":
			err = emit(prim{theta: ps[0], phi: ps[1], lambda: ps[2], a: args[op.Args[0]]})
		case op.Def == nil && op.Name == "CX":
			err = emit(prim{cx: true, a: args[op.Args[0]], b: args[op.Args[1]]})
		default:
			sub := make([]int, len(op.Args))
			for i, a := range op.Args {
				sub[i] = args[a]
			}
			err = expand(op.Def, ps, sub, emit)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// unitaryOf computes the matrix of a gate call by applying its expansion to
// each basis state of its k qubits (double precision).
func unitaryOf(def *GateDef, params []float64) ([]complex128, error) {
	k := len(def.Qubits)
	args := make([]int, k)
	for i := range args {
		args[i] = i
	}
	var gates []*Gate
	err := expand(def, params, args, func(p prim) error {
		if len(gates) >= maxPrims {
			return fmt.Errorf("gate %s expands into more than %d U and CX operations", def.Name, maxPrims)
		}
		if p.cx {
			gates = append(gates, NewGate("cx", []int{p.b}, []int{p.a}, xMatrix))
		} else {
			gates = append(gates, NewGate("U", []int{p.a}, nil, UMatrix(p.theta, p.phi, p.lambda)))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	d := 1 << k
	u := make([]complex128, d*d)
	s, _ := NewState[float64](k)
	for c := 0; c < d; c++ {
		clear(s.v)
		s.v[2*c] = 1
		for _, g := range gates {
			s.Apply(g)
		}
		for r := 0; r < d; r++ {
			u[r*d+c] = s.Amplitude(r)
		}
	}
	return u, nil
}

// fuse multiplies runs of uncontrolled one-qubit gates on the same qubit
// into one gate. A run ends when another operation touches the qubit; a
// conditional block ends every run. Gates that fuse to the identity vanish.
func fuse(ops []Op, n int) []Op {
	type run struct {
		m     []complex128
		first *Gate
		count int
	}
	pending := make([]*run, n)
	out := make([]Op, 0, len(ops))
	flush := func(q int) {
		r := pending[q]
		if r == nil {
			return
		}
		pending[q] = nil
		g := r.first
		if r.count > 1 {
			g = NewGate("fused", []int{q}, nil, r.m)
		}
		if g.kind != kIdentity {
			out = append(out, Op{Kind: OpGate, Gate: g})
		}
	}
	for _, op := range ops {
		switch {
		case op.Kind == OpGate && len(op.Gate.Targets) == 1 && len(op.Gate.Controls) == 0:
			q := op.Gate.Targets[0]
			if r := pending[q]; r != nil {
				r.m = mul2(op.Gate.M, r.m)
				r.count++
			} else {
				pending[q] = &run{m: op.Gate.M, first: op.Gate, count: 1}
			}
			continue
		case op.Kind == OpGate:
			for _, q := range op.Gate.Qubits() {
				flush(q)
			}
		case op.Kind == OpMeasure || op.Kind == OpReset:
			flush(op.Qubit)
		default:
			for q := range pending {
				flush(q)
			}
			op.Then = fuse(op.Then, n)
		}
		out = append(out, op)
	}
	for q := range pending {
		flush(q)
	}
	return out
}

// mul2 returns the 2x2 product a*b.
func mul2(a, b []complex128) []complex128 {
	return []complex128{
		a[0]*b[0] + a[1]*b[2], a[0]*b[1] + a[1]*b[3],
		a[2]*b[0] + a[3]*b[2], a[2]*b[1] + a[3]*b[3],
	}
}
