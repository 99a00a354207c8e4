package quantum

import (
	"fmt"
	"math"
)

// Program is a parsed OpenQASM 2.0 program.
type Program struct {
	// Version is the number after OPENQASM, "2.0".
	Version string
	// QRegs and CRegs in declaration order; Offset is the register's first
	// index in the flat numbering of all qubits (or classical bits).
	QRegs []Register
	CRegs []Register
	// Gates are the gates the program may use, by name, including the
	// included library.
	Gates map[string]*GateDef
	// Stmts are the quantum operations in program order.
	Stmts []Stmt
	// NumQubits and NumClbits are the sums of register sizes.
	NumQubits int
	NumClbits int
	// extras is set when qelib1.inc was included: the library's extension
	// gates, used for names the program does not define.
	extras map[string]*GateDef
	// includes counts the include statements of files other than
	// qelib1.inc.
	includes int
	// regIndex finds registers by name.
	regIndex map[string]regRef
}

// regRef is a register's place in Program.QRegs or CRegs.
type regRef struct {
	i         int
	classical bool
}

// Register is a quantum or classical register.
type Register struct {
	Name   string
	Size   int
	Offset int
	Pos    Pos
}

// GateDef is a gate declaration: a gate with a body, or an opaque gate.
type GateDef struct {
	Name   string
	Params []string
	Qubits []string
	Body   []GateOp
	Opaque bool
	// Library names where the gate came from: "" for the program itself,
	// "qelib1.inc" for the standard library, "qelib1.inc (extension)".
	Library string
	Pos     Pos
	// nesting is how deep the body's calls go: 0 for a body of U and CX
	// only, one more than the deepest gate it calls otherwise.
	nesting int
}

// GateOp is one statement in a gate body: U, CX, a gate call, or a barrier
// (Name "barrier", which does nothing in simulation). Args are indexes into
// the enclosing gate's Qubits.
type GateOp struct {
	Name   string
	Def    *GateDef // nil for U, CX and barrier
	Params []Expr
	Args   []int
	Pos    Pos
	// terms counts the numbers, names and operators in Params: what
	// evaluating them costs.
	terms int
}

// StmtKind says what a Stmt does.
type StmtKind int

// Kinds of top-level statements.
const (
	StmtGate StmtKind = iota
	StmtMeasure
	StmtReset
	StmtBarrier
)

// Arg is a register or one bit of it; Index is -1 for the whole register.
type Arg struct {
	Reg   *Register
	Index int
	Pos   Pos
}

// Stmt is a top-level quantum operation. For StmtGate, Name is the gate
// ("U", "CX" or a declared gate) and Params its evaluated parameters; for
// StmtMeasure, Args[0] is the quantum and Target the classical argument.
type Stmt struct {
	Kind   StmtKind
	Name   string
	Def    *GateDef // the called gate; nil for U and CX
	Params []float64
	Args   []Arg
	Target Arg
	// Cond, when set, makes the statement conditional on a classical
	// register's value.
	Cond *Condition
	Pos  Pos
}

// Condition is if(creg==Value).
type Condition struct {
	Reg   *Register
	Value uint64
}

// Expr is a parameter expression. Gate parameters are looked up by index.
type Expr interface {
	eval(params []float64) float64
	String() string
}

type numExpr float64

func (n numExpr) eval([]float64) float64 { return float64(n) }
func (n numExpr) String() string         { return fmt.Sprint(float64(n)) }

type paramExpr struct {
	idx  int
	name string
}

func (p paramExpr) eval(ps []float64) float64 { return ps[p.idx] }
func (p paramExpr) String() string            { return p.name }

type unaryExpr struct {
	op string // "-", "sin", "cos", "tan", "exp", "ln", "sqrt"
	x  Expr
}

func (u unaryExpr) eval(ps []float64) float64 {
	v := u.x.eval(ps)
	switch u.op {
	case "-":
		return -v
	case "sin":
		return math.Sin(v)
	case "cos":
		return math.Cos(v)
	case "tan":
		return math.Tan(v)
	case "exp":
		return math.Exp(v)
	case "ln":
		return math.Log(v)
	case "sqrt":
		return math.Sqrt(v)
	}
	panic("quantum: unknown unary operator " + u.op)
}

func (u unaryExpr) String() string {
	if u.op == "-" {
		return "-(" + u.x.String() + ")"
	}
	return u.op + "(" + u.x.String() + ")"
}

type binExpr struct {
	op   byte
	a, b Expr
}

func (e binExpr) eval(ps []float64) float64 {
	a, b := e.a.eval(ps), e.b.eval(ps)
	switch e.op {
	case '+':
		return a + b
	case '-':
		return a - b
	case '*':
		return a * b
	case '/':
		return a / b
	case '^':
		return math.Pow(a, b)
	}
	panic("quantum: unknown binary operator")
}

func (e binExpr) String() string {
	return "(" + e.a.String() + string(e.op) + e.b.String() + ")"
}
