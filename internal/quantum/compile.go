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

// MaxGateOps bounds the work of compiling one program and the size of the
// circuit it gives. Every operation placed in the circuit counts one, as
// does every U, CX and gate call met while expanding gate definitions; a
// long parameter expression adds one for every termsPerOp terms.
// Definitions that each call the previous one twice double at every level:
// without the bound, twenty-five such lines expanded to tens of millions
// of gates. One-qubit gates are fused as they are compiled, so only gates
// that do not fuse stay in memory: at this bound about 2.5 GB of two-qubit
// gates.
const MaxGateOps = 1 << 21

// termsPerOp is how many terms of a parameter expression count as one
// operation: evaluating a short expression costs less than applying a
// gate, so only long ones add to a call's count.
const termsPerOp = 16

// gateOpsLimit is MaxGateOps, lowered by tests that check the bound on
// circuits too large to build quickly.
var gateOpsLimit = MaxGateOps

// compiler holds what one Compile call shares between gate calls.
type compiler struct {
	cache map[string][]complex128
	ops   int // operations counted against MaxGateOps
}

func newCompiler() *compiler { return &compiler{cache: map[string][]complex128{}} }

// ExpansionError is the error when a program expands past the bound on
// gate operations (MaxGateOps).
type ExpansionError struct {
	Limit int
}

func (e *ExpansionError) Error() string {
	return fmt.Sprintf("circuit expands to more than %d gate operations (each U, CX and gate call inside gate definitions counts, at every call): call deeply nested gates less often, or split the circuit", e.Limit)
}

// count adds n operations and fails once the total passes the bound.
func (cc *compiler) count(n int) error {
	cc.ops += n
	if cc.ops > gateOpsLimit {
		return &ExpansionError{Limit: gateOpsLimit}
	}
	return nil
}

// Compile turns a parsed program into a circuit.
func Compile(p *Program) (*Circuit, error) {
	if p.NumClbits > MaxClbits {
		return nil, fmt.Errorf("the program has %d classical bits; the simulator supports at most %d", p.NumClbits, MaxClbits)
	}
	c := &Circuit{Qubits: p.NumQubits, Clbits: p.NumClbits, CRegs: p.CRegs}
	cc := newCompiler()
	f := newFuser(c.Qubits, 0)
	for _, st := range p.Stmts {
		width := 1
		for _, a := range append(slices.Clone(st.Args), st.Target) {
			if a.Reg != nil && a.Index < 0 {
				width = max(width, a.Reg.Size)
			}
		}
		// Unconditional operations go straight to the fuser; a
		// condition's block is collected first.
		var ops []Op
		emit := f.add
		if st.Cond != nil {
			emit = func(op Op) { ops = append(ops, op) }
		}
		n := 0
		for k := 0; k < width; k++ {
			switch st.Kind {
			case StmtBarrier:
				// A barrier orders nothing a state-vector simulation
				// could reorder.
			case StmtMeasure:
				emit(Op{Kind: OpMeasure, Qubit: st.Args[0].bit(k), Clbit: st.Target.bit(k)})
				n++
			case StmtReset:
				emit(Op{Kind: OpReset, Qubit: st.Args[0].bit(k)})
				n++
			case StmtGate:
				qs := make([]int, len(st.Args))
				for j, a := range st.Args {
					qs[j] = a.bit(k)
				}
				// Gate calls count as they expand.
				if err := cc.call(st.Name, st.Def, st.Params, qs, emit); err != nil {
					return nil, fmt.Errorf("%s: %w", st.Pos, err)
				}
			}
		}
		if err := cc.count(n); err != nil {
			return nil, fmt.Errorf("%s: %w", st.Pos, err)
		}
		if st.Cond != nil && len(ops) > 0 {
			r := st.Cond.Reg
			f.add(Op{Kind: OpIf, Cond: &Cond{Reg: r.Name, Offset: r.Offset, Size: r.Size, Value: st.Cond.Value}, Then: ops})
		}
	}
	c.Ops = f.finish()
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

// call compiles one gate call on distinct qubits qs, passing its
// operations to emit.
func (cc *compiler) call(name string, def *GateDef, params []float64, qs []int, emit func(Op)) error {
	switch {
	case def == nil && name == "U":
		if err := cc.count(1); err != nil {
			return err
		}
		emit(Op{Kind: OpGate, Gate: NewGate("U", qs, nil, UMatrix(params[0], params[1], params[2]))})
		return nil
	case def == nil && name == "CX":
		if err := cc.count(1); err != nil {
			return err
		}
		emit(Op{Kind: OpGate, Gate: NewGate("cx", qs[1:], qs[:1], xMatrix)})
		return nil
	case def == nil:
		return fmt.Errorf("gate %s has no definition", name)
	case def.Opaque:
		return fmt.Errorf("gate %s is opaque: the simulator has no definition to apply", name)
	}
	if len(qs) <= maxUnitaryQubits {
		// The cache key spells every parameter: a call with many costs
		// more than one operation.
		if err := cc.count(len(params) / termsPerOp); err != nil {
			return err
		}
		key := def.Name + "@" + def.Pos.String() + "(" + floatsKey(params) + ")"
		u, ok := cc.cache[key]
		if !ok {
			var err error
			if u, err = cc.unitaryOf(def, params); err != nil {
				return err
			}
			cc.cache[key] = u
		}
		if err := cc.count(1); err != nil {
			return err
		}
		emit(Op{Kind: OpGate, Gate: FromUnitary(def.Name, qs, u)})
		return nil
	}
	for _, op := range def.Body {
		if err := cc.count(1 + op.terms/termsPerOp); err != nil {
			return err
		}
		ps := make([]float64, len(op.Params))
		for i, e := range op.Params {
			ps[i] = e.eval(params)
		}
		sub := make([]int, len(op.Args))
		for i, a := range op.Args {
			sub[i] = qs[a]
		}
		if err := cc.call(op.Name, op.Def, ps, sub, emit); err != nil {
			return err
		}
	}
	return nil
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

// expand emits the U and CX operations a gate call consists of. Every body
// operation it visits counts against the compiler's bound, so a definition
// that expands exponentially stops early.
func (cc *compiler) expand(def *GateDef, params []float64, args []int, emit func(prim)) error {
	for _, op := range def.Body {
		if err := cc.count(1 + op.terms/termsPerOp); err != nil {
			return err
		}
		ps := make([]float64, len(op.Params))
		for i, e := range op.Params {
			ps[i] = e.eval(params)
		}
		switch {
		case op.Def == nil && op.Name == "U":
			emit(prim{theta: ps[0], phi: ps[1], lambda: ps[2], a: args[op.Args[0]]})
		case op.Def == nil && op.Name == "CX":
			emit(prim{cx: true, a: args[op.Args[0]], b: args[op.Args[1]]})
		default:
			sub := make([]int, len(op.Args))
			for i, a := range op.Args {
				sub[i] = args[a]
			}
			if err := cc.expand(op.Def, ps, sub, emit); err != nil {
				return err
			}
		}
	}
	return nil
}

// unitaryOf computes the matrix of a gate call by applying its expansion to
// each basis state of its k qubits (double precision). Each U and CX is
// applied to all 2^k states as it is emitted, so the expansion is never
// held in memory.
func (cc *compiler) unitaryOf(def *GateDef, params []float64) ([]complex128, error) {
	k := len(def.Qubits)
	args := make([]int, k)
	for i := range args {
		args[i] = i
	}
	d := 1 << k
	cols := make([]*State[float64], d)
	for c := range cols {
		cols[c], _ = NewState[float64](k)
		clear(cols[c].v)
		cols[c].v[2*c] = 1
	}
	err := cc.expand(def, params, args, func(p prim) {
		var g *Gate
		if p.cx {
			g = NewGate("cx", []int{p.b}, []int{p.a}, xMatrix)
		} else {
			g = NewGate("U", []int{p.a}, nil, UMatrix(p.theta, p.phi, p.lambda))
		}
		for _, s := range cols {
			s.Apply(g)
		}
	})
	if err != nil {
		return nil, err
	}
	u := make([]complex128, d*d)
	for c, s := range cols {
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
	f := newFuser(n, len(ops))
	for _, op := range ops {
		f.add(op)
	}
	return f.finish()
}

// fuser fuses operations as they arrive (see fuse), so that Compile holds
// only the fused circuit, not every gate of the expansion.
type fuser struct {
	n       int
	pending []*fuseRun
	out     []Op
}

type fuseRun struct {
	m     []complex128
	first *Gate
	count int
}

func newFuser(n, capacity int) *fuser {
	return &fuser{n: n, pending: make([]*fuseRun, n), out: make([]Op, 0, capacity)}
}

func (f *fuser) flush(q int) {
	r := f.pending[q]
	if r == nil {
		return
	}
	f.pending[q] = nil
	g := r.first
	if r.count > 1 {
		g = NewGate("fused", []int{q}, nil, r.m)
	}
	if g.kind != kIdentity {
		f.out = append(f.out, Op{Kind: OpGate, Gate: g})
	}
}

func (f *fuser) add(op Op) {
	switch {
	case op.Kind == OpGate && len(op.Gate.Targets) == 1 && len(op.Gate.Controls) == 0:
		q := op.Gate.Targets[0]
		if r := f.pending[q]; r != nil {
			r.m = mul2(op.Gate.M, r.m)
			r.count++
		} else {
			f.pending[q] = &fuseRun{m: op.Gate.M, first: op.Gate, count: 1}
		}
		return
	case op.Kind == OpGate:
		for _, q := range op.Gate.Qubits() {
			f.flush(q)
		}
	case op.Kind == OpMeasure || op.Kind == OpReset:
		f.flush(op.Qubit)
	default:
		for q := range f.pending {
			f.flush(q)
		}
		op.Then = fuse(op.Then, f.n)
	}
	f.out = append(f.out, op)
}

// finish ends every run and returns the fused operations.
func (f *fuser) finish() []Op {
	for q := range f.pending {
		f.flush(q)
	}
	return f.out
}

// mul2 returns the 2x2 product a*b.
func mul2(a, b []complex128) []complex128 {
	return []complex128{
		a[0]*b[0] + a[1]*b[2], a[0]*b[1] + a[1]*b[3],
		a[2]*b[0] + a[3]*b[2], a[2]*b[1] + a[3]*b[3],
	}
}
