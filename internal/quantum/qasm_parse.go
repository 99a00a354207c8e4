package quantum

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
)

// ParseOptions configures Parse. The zero value is valid: only the built-in
// qelib1.inc can be included.
type ParseOptions struct {
	// Include returns the contents of an included file other than
	// qelib1.inc, named as written in the include statement.
	Include func(name string) ([]byte, error)
}

// maxIncludeDepth bounds nested includes, which also stops include cycles.
const maxIncludeDepth = 16

// maxIncludes bounds the include statements read in all: files that each
// include the next several times would otherwise be read a number of
// times exponential in the depth.
const maxIncludes = 256

// MaxProgramQubits is the most qubits a program may declare: the largest
// state the index arithmetic handles. Memory runs out long before.
const MaxProgramQubits = 60

// maxProgramClbits is the most classical bits a program may declare. (The
// simulator takes at most MaxClbits; the parser allows more for programs
// that are only read.)
const maxProgramClbits = 1 << 16

// Parse parses an OpenQASM 2.0 program. file names the source in error
// positions. Every error is a *ParseError.
func Parse(file string, src []byte, opt *ParseOptions) (*Program, error) {
	if opt == nil {
		opt = &ParseOptions{}
	}
	prog := &Program{Gates: map[string]*GateDef{}, regIndex: map[string]regRef{}}
	if err := parseInto(prog, file, src, opt, 0, true); err != nil {
		return nil, err
	}
	return prog, nil
}

type parser struct {
	prog   *Program
	file   string
	lx     *lexer
	tok    token // the next token
	lexErr error // set when tok is tError
	opt    *ParseOptions
	depth  int
	// exprNest is the recursion depth of the expression being parsed,
	// exprTerms its number of terms so far.
	exprNest, exprTerms int
}

func parseInto(prog *Program, file string, src []byte, opt *ParseOptions, depth int, main bool) error {
	p := &parser{prog: prog, file: file, lx: newLexer(file, src), opt: opt, depth: depth}
	p.advance()
	if main {
		if err := p.header(); err != nil {
			return err
		}
	}
	for p.peek().kind != tEOF {
		if err := p.statement(); err != nil {
			return err
		}
	}
	return nil
}

// advance reads the next token into p.tok; at the end of the source, or at
// a lexical error, it stays there.
func (p *parser) advance() {
	if p.lexErr != nil {
		return
	}
	t, err := p.lx.next()
	if err != nil {
		p.lexErr = err
		t = token{kind: tError, pos: err.(*ParseError).Pos}
	}
	p.tok = t
}

func (p *parser) peek() token { return p.tok }

func (p *parser) next() token {
	t := p.tok
	if t.kind != tEOF && t.kind != tError {
		p.advance()
	}
	return t
}

// errf returns a parse error at pos. A lexical error already met takes its
// place: the parser stops at the first mistake in the source, and a token
// the lexer could not read is that mistake.
func (p *parser) errf(pos Pos, format string, a ...any) error {
	if p.lexErr != nil {
		return p.lexErr
	}
	return &ParseError{Pos: pos, Msg: fmt.Sprintf(format, a...)}
}

// expect consumes the punctuation text or fails saying what was expected.
func (p *parser) expect(text, context string) (token, error) {
	t := p.next()
	if t.kind != tPunct || t.text != text {
		return t, p.errf(t.pos, "expected '%s' %s, found %s", text, context, t.describe())
	}
	return t, nil
}

func (p *parser) isPunct(text string) bool {
	t := p.peek()
	return t.kind == tPunct && t.text == text
}

func (p *parser) ident(what string) (token, error) {
	t := p.next()
	if t.kind != tIdent {
		return t, p.errf(t.pos, "expected %s, found %s", what, t.describe())
	}
	return t, nil
}

func (p *parser) header() error {
	t := p.next()
	if t.kind != tIdent || t.text != "OPENQASM" {
		return p.errf(t.pos, "expected 'OPENQASM 2.0;' as the first statement, found %s", t.describe())
	}
	v := p.next()
	if v.kind != tReal && v.kind != tInt {
		return p.errf(v.pos, "expected a version number after OPENQASM, found %s", v.describe())
	}
	if v.num < 2 || v.num >= 3 {
		return p.errf(v.pos, "OpenQASM version %s is not supported: this parser reads OpenQASM 2.0", v.text)
	}
	p.prog.Version = v.text
	_, err := p.expect(";", "after the OpenQASM version")
	return err
}

// reserved reports whether s is a keyword or built-in of OpenQASM 2.0. A
// switch rather than a map: a map literal is built at package
// initialisation, in every gefion command.
func reserved(s string) bool {
	switch s {
	case "OPENQASM", "include", "qreg", "creg", "gate", "opaque",
		"U", "CX", "measure", "reset", "barrier", "if", "pi",
		"sin", "cos", "tan", "exp", "ln", "sqrt":
		return true
	}
	return false
}

func (p *parser) newName(t token, what string) error {
	if reserved(t.text) {
		return p.errf(t.pos, "'%s' is a reserved word and cannot name a %s", t.text, what)
	}
	if t.text[0] < 'a' || t.text[0] > 'z' {
		return p.errf(t.pos, "%s name '%s' must start with a lowercase letter (OpenQASM 2.0 identifiers do)", what, t.text)
	}
	return nil
}

func (p *parser) statement() error {
	t := p.peek()
	if t.kind != tIdent {
		return p.errf(t.pos, "expected a statement (qreg, creg, gate, a gate call, measure, reset, barrier, if), found %s", t.describe())
	}
	switch t.text {
	case "OPENQASM":
		return p.errf(t.pos, "OPENQASM may appear only once, as the first statement")
	case "include":
		return p.include()
	case "qreg", "creg":
		return p.decl()
	case "gate":
		return p.gateDecl()
	case "opaque":
		return p.opaqueDecl()
	case "if":
		return p.ifStmt()
	}
	st, err := p.qop()
	if err != nil {
		return err
	}
	p.prog.Stmts = append(p.prog.Stmts, st...)
	return nil
}

func (p *parser) include() error {
	kw := p.next()
	name := p.next()
	if name.kind != tString {
		return p.errf(name.pos, "expected a file name in quotes after include, found %s", name.describe())
	}
	if _, err := p.expect(";", "after the include file name"); err != nil {
		return err
	}
	if name.text == "qelib1.inc" {
		if p.prog.extras != nil {
			return nil // included twice: the second is a no-op
		}
		lib := qelib1()
		for n, g := range lib.gates {
			if old, dup := p.prog.Gates[n]; dup {
				return p.errf(kw.pos, "include \"qelib1.inc\" defines gate %s, which %s already defines: include the library first", n, old.Pos)
			}
			p.prog.Gates[n] = g
		}
		p.prog.extras = lib.extras
		return nil
	}
	p.prog.includes++
	if p.prog.includes > maxIncludes {
		return p.errf(name.pos, "more than %d include statements in all (counting the includes inside included files): include each file once", maxIncludes)
	}
	if p.depth >= maxIncludeDepth {
		return p.errf(name.pos, "includes nested more than %d deep (a file including itself?)", maxIncludeDepth)
	}
	if p.opt.Include == nil {
		return p.errf(name.pos, "cannot include %q: only qelib1.inc is built in here", name.text)
	}
	src, err := p.opt.Include(name.text)
	if err != nil {
		return p.errf(name.pos, "cannot include %q: %v", name.text, err)
	}
	return parseInto(p.prog, name.text, src, p.opt, p.depth+1, false)
}

// findReg returns the register named name, or nil. Registers are found
// through an index: a program may declare tens of thousands of classical
// registers, and scanning them at every use would take quadratic time.
func (p *parser) findReg(name string) *Register {
	ref, ok := p.prog.regIndex[name]
	switch {
	case !ok:
		return nil
	case ref.classical:
		return &p.prog.CRegs[ref.i]
	}
	return &p.prog.QRegs[ref.i]
}

func (p *parser) decl() error {
	kw := p.next()
	name, err := p.ident("a register name after " + kw.text)
	if err != nil {
		return err
	}
	if err := p.newName(name, "register"); err != nil {
		return err
	}
	if r := p.findReg(name.text); r != nil {
		return p.errf(name.pos, "register %s is already declared at %s: choose another name", name.text, r.Pos)
	}
	if _, err := p.expect("[", "after the register name"); err != nil {
		return err
	}
	size := p.next()
	if size.kind != tInt || size.num < 1 {
		return p.errf(size.pos, "expected the register size, a positive integer, found %s", size.describe())
	}
	if _, err := p.expect("]", "after the register size"); err != nil {
		return err
	}
	if _, err := p.expect(";", "after the register declaration"); err != nil {
		return err
	}
	// The size is checked against the limits before it is converted, so
	// that a register of 10^18 bits is reported as such.
	if kw.text == "qreg" {
		if size.num > float64(MaxProgramQubits-p.prog.NumQubits) {
			return p.errf(size.pos, "qreg %s[%s] brings the program past the %d qubits a state vector can index (%d declared before it)", name.text, size.text, MaxProgramQubits, p.prog.NumQubits)
		}
	} else if size.num > float64(maxProgramClbits-p.prog.NumClbits) {
		return p.errf(size.pos, "creg %s[%s] brings the program past the %d classical bits supported (%d declared before it)", name.text, size.text, maxProgramClbits, p.prog.NumClbits)
	}
	n := int(size.num)
	r := Register{Name: name.text, Size: n, Pos: name.pos}
	if kw.text == "qreg" {
		r.Offset = p.prog.NumQubits
		p.prog.NumQubits += n
		p.prog.regIndex[r.Name] = regRef{i: len(p.prog.QRegs)}
		p.prog.QRegs = append(p.prog.QRegs, r)
	} else {
		r.Offset = p.prog.NumClbits
		p.prog.NumClbits += n
		p.prog.regIndex[r.Name] = regRef{i: len(p.prog.CRegs), classical: true}
		p.prog.CRegs = append(p.prog.CRegs, r)
	}
	return nil
}

// lookupGate finds a gate a program may call: its own or the library's,
// then the library's extensions (copied into the program on first use).
func (p *parser) lookupGate(name string) *GateDef {
	if g, ok := p.prog.Gates[name]; ok {
		return g
	}
	if g, ok := p.prog.extras[name]; ok {
		p.prog.Gates[name] = g
		return g
	}
	return nil
}

func (p *parser) gateHead(kw token) (*GateDef, error) {
	name, err := p.ident("a gate name after " + kw.text)
	if err != nil {
		return nil, err
	}
	if err := p.newName(name, "gate"); err != nil {
		return nil, err
	}
	if old, ok := p.prog.Gates[name.text]; ok {
		where := old.Pos.String()
		if old.Library != "" {
			where = old.Library
		}
		return nil, p.errf(name.pos, "gate %s is already defined (%s): choose another name", name.text, where)
	}
	g := &GateDef{Name: name.text, Pos: name.pos, Library: p.library()}
	seen := map[string]bool{}
	if p.isPunct("(") {
		p.next()
		for !p.isPunct(")") {
			if len(g.Params) > 0 {
				if _, err := p.expect(",", "between gate parameters"); err != nil {
					return nil, err
				}
			}
			t, err := p.ident("a parameter name")
			if err != nil {
				return nil, err
			}
			if err := p.newName(t, "parameter"); err != nil {
				return nil, err
			}
			if seen[t.text] {
				return nil, p.errf(t.pos, "parameter %s is named twice in gate %s", t.text, g.Name)
			}
			seen[t.text] = true
			g.Params = append(g.Params, t.text)
		}
		p.next()
	}
	for {
		t, err := p.ident("a qubit argument name of gate " + g.Name)
		if err != nil {
			return nil, err
		}
		if err := p.newName(t, "qubit argument"); err != nil {
			return nil, err
		}
		if seen[t.text] {
			return nil, p.errf(t.pos, "name %s is used twice in the declaration of gate %s", t.text, g.Name)
		}
		seen[t.text] = true
		g.Qubits = append(g.Qubits, t.text)
		if !p.isPunct(",") {
			break
		}
		p.next()
	}
	return g, nil
}

func (p *parser) library() string {
	switch p.file {
	case "qelib1.inc":
		return "qelib1.inc"
	case "qelib1.inc (extension)":
		return "qelib1.inc (extension)"
	}
	return ""
}

func (p *parser) opaqueDecl() error {
	kw := p.next()
	g, err := p.gateHead(kw)
	if err != nil {
		return err
	}
	g.Opaque = true
	if _, err := p.expect(";", "after the opaque gate declaration"); err != nil {
		return err
	}
	p.prog.Gates[g.Name] = g
	return nil
}

func (p *parser) gateDecl() error {
	kw := p.next()
	g, err := p.gateHead(kw)
	if err != nil {
		return err
	}
	if _, err := p.expect("{", "to open the body of gate "+g.Name); err != nil {
		return err
	}
	scope := newParamScope(g)
	for !p.isPunct("}") {
		op, err := p.gateBodyOp(g, scope)
		if err != nil {
			return err
		}
		if op.Name != "barrier" {
			g.Body = append(g.Body, op)
		}
		if op.Def != nil && op.Def.nesting >= g.nesting {
			g.nesting = op.Def.nesting + 1
			if g.nesting > maxGateNesting {
				return p.errf(op.Pos, "gate %s calls gates nested more than %d deep (each calling the one defined before it?): define it with fewer levels", g.Name, maxGateNesting)
			}
		}
	}
	p.next()
	p.prog.Gates[g.Name] = g
	return nil
}

// maxGateNesting bounds how deep gate definitions may call one another:
// compiling a call recurses once per level.
const maxGateNesting = 1000

func (p *parser) gateBodyOp(g *GateDef, scope *paramScope) (GateOp, error) {
	t := p.next()
	if t.kind != tIdent {
		return GateOp{}, p.errf(t.pos, "expected a gate call, U, CX, barrier or '}' in the body of gate %s, found %s", g.Name, t.describe())
	}
	op := GateOp{Name: t.text, Pos: t.pos}
	nParams, nArgs := -1, -1
	switch t.text {
	case "U":
		nParams, nArgs = 3, 1
	case "CX":
		nParams, nArgs = 0, 2
	case "barrier":
	case "measure", "reset", "if", "qreg", "creg", "gate", "opaque", "include":
		return op, p.errf(t.pos, "'%s' is not allowed in a gate body: gates are unitary (only U, CX, gate calls and barrier)", t.text)
	default:
		d := p.lookupGate(t.text)
		if d == nil {
			return op, p.errf(t.pos, "unknown gate %s in the body of gate %s: define it before use (or include \"qelib1.inc\")", t.text, g.Name)
		}
		if d.Opaque {
			return op, p.errf(t.pos, "gate %s is opaque (declared at %s without a body): the simulator cannot apply it; define it with 'gate'", d.Name, d.Pos)
		}
		op.Def = d
		nParams, nArgs = len(d.Params), len(d.Qubits)
	}
	if p.isPunct("(") {
		open := p.next()
		if t.text == "barrier" {
			return op, p.errf(open.pos, "barrier takes no parameters")
		}
		exprs, terms, err := p.exprList(scope)
		if err != nil {
			return op, err
		}
		op.Params, op.terms = exprs, terms
	}
	if nParams >= 0 && len(op.Params) != nParams {
		return op, p.errf(t.pos, "gate %s takes %d parameters, got %d", t.text, nParams, len(op.Params))
	}
	used := map[int]bool{}
	for {
		a, err := p.ident("a qubit argument of gate " + g.Name)
		if err != nil {
			return op, err
		}
		idx, ok := scope.qubits[a.text]
		if !ok {
			return op, p.errf(a.pos, "%s is not a qubit argument of gate %s (its arguments are %s)", a.text, g.Name, strings.Join(g.Qubits, ", "))
		}
		if p.isPunct("[") {
			return op, p.errf(p.peek().pos, "gate bodies name their qubit arguments without an index: write %s, not %s[...]", a.text, a.text)
		}
		if used[idx] && t.text != "barrier" {
			return op, p.errf(a.pos, "qubit %s is given twice to %s: a gate's qubits must differ", a.text, t.text)
		}
		used[idx] = true
		op.Args = append(op.Args, idx)
		if !p.isPunct(",") {
			break
		}
		p.next()
	}
	if nArgs >= 0 && len(op.Args) != nArgs {
		return op, p.errf(t.pos, "gate %s acts on %d qubits, got %d", t.text, nArgs, len(op.Args))
	}
	_, err := p.expect(";", "after the gate call")
	return op, err
}

// Expressions are bounded so that no source can exhaust the stack or
// memory: recursion through parentheses, functions, signs and powers stops
// at maxExprNesting, and one expression may hold at most maxExprTerms
// numbers, names and operators (its evaluation recurses once per level of
// the tree, and a long chain of + is a deep tree).
const (
	maxExprNesting = 256
	maxExprTerms   = 4096
)

// paramScope is the parameters and qubit arguments of the gate whose body
// is being parsed, indexed so that a gate with thousands of them parses in
// time proportional to its length.
type paramScope struct {
	names  []string
	index  map[string]int
	qubits map[string]int
}

func newParamScope(g *GateDef) *paramScope {
	s := &paramScope{names: g.Params, index: make(map[string]int, len(g.Params)), qubits: make(map[string]int, len(g.Qubits))}
	for k, n := range g.Params {
		s.index[n] = k
	}
	for k, n := range g.Qubits {
		s.qubits[n] = k
	}
	return s
}

// exprList parses expressions separated by commas up to and including ')'.
// It also returns the number of terms in all of them, which is what
// evaluating them costs.
func (p *parser) exprList(params *paramScope) ([]Expr, int, error) {
	var out []Expr
	total := 0
	for !p.isPunct(")") {
		if len(out) > 0 {
			if _, err := p.expect(",", "between parameters"); err != nil {
				return nil, 0, err
			}
		}
		p.exprTerms = 0
		e, err := p.expr(params)
		if err != nil {
			return nil, 0, err
		}
		total += p.exprTerms
		out = append(out, e)
	}
	p.next()
	return out, total, nil
}

// countTerm counts one term of the expression being parsed.
func (p *parser) countTerm(t token) error {
	p.exprTerms++
	if p.exprTerms > maxExprTerms {
		return p.errf(t.pos, "expression has more than %d terms: compute the value beforehand, or split it over gate parameters", maxExprTerms)
	}
	return nil
}

// Expression grammar, lowest precedence first:
//
//	expr  = term { ("+" | "-") term }
//	term  = unary { ("*" | "/") unary }
//	unary = "-" unary | power
//	power = atom [ "^" unary ]        (right-associative)
//	atom  = number | pi | param | "(" expr ")" | fn "(" expr ")"
func (p *parser) expr(params *paramScope) (Expr, error) {
	a, err := p.term(params)
	if err != nil {
		return nil, err
	}
	for p.isPunct("+") || p.isPunct("-") {
		t := p.next()
		if err := p.countTerm(t); err != nil {
			return nil, err
		}
		b, err := p.term(params)
		if err != nil {
			return nil, err
		}
		a = binExpr{t.text[0], a, b}
	}
	return a, nil
}

func (p *parser) term(params *paramScope) (Expr, error) {
	a, err := p.unary(params)
	if err != nil {
		return nil, err
	}
	for p.isPunct("*") || p.isPunct("/") {
		t := p.next()
		if err := p.countTerm(t); err != nil {
			return nil, err
		}
		b, err := p.unary(params)
		if err != nil {
			return nil, err
		}
		a = binExpr{t.text[0], a, b}
	}
	return a, nil
}

// unary is where every recursion of the expression grammar passes, so it
// keeps the nesting count.
func (p *parser) unary(params *paramScope) (Expr, error) {
	if p.exprNest >= maxExprNesting {
		t := p.peek()
		return nil, p.errf(t.pos, "expression nested more than %d deep (parentheses, functions, signs and powers): simplify it", maxExprNesting)
	}
	p.exprNest++
	defer func() { p.exprNest-- }()
	if p.isPunct("-") {
		t := p.next()
		if err := p.countTerm(t); err != nil {
			return nil, err
		}
		x, err := p.unary(params)
		if err != nil {
			return nil, err
		}
		return unaryExpr{"-", x}, nil
	}
	if p.isPunct("+") {
		p.next()
		return p.unary(params)
	}
	a, err := p.atom(params)
	if err != nil {
		return nil, err
	}
	if p.isPunct("^") {
		t := p.next()
		if err := p.countTerm(t); err != nil {
			return nil, err
		}
		b, err := p.unary(params)
		if err != nil {
			return nil, err
		}
		return binExpr{'^', a, b}, nil
	}
	return a, nil
}

func (p *parser) atom(params *paramScope) (Expr, error) {
	t := p.next()
	switch t.kind {
	case tReal, tInt:
		if err := p.countTerm(t); err != nil {
			return nil, err
		}
		return numExpr(t.num), nil
	case tPunct:
		if t.text == "(" {
			e, err := p.expr(params)
			if err != nil {
				return nil, err
			}
			if _, err := p.expect(")", "to close the parenthesis"); err != nil {
				return nil, err
			}
			return e, nil
		}
	case tIdent:
		if err := p.countTerm(t); err != nil {
			return nil, err
		}
		switch t.text {
		case "pi":
			return numExpr(math.Pi), nil
		case "sin", "cos", "tan", "exp", "ln", "sqrt":
			if _, err := p.expect("(", "after "+t.text); err != nil {
				return nil, err
			}
			x, err := p.expr(params)
			if err != nil {
				return nil, err
			}
			if _, err := p.expect(")", "to close "+t.text+"("); err != nil {
				return nil, err
			}
			return unaryExpr{t.text, x}, nil
		}
		if params == nil {
			return nil, p.errf(t.pos, "unknown name %s in an expression: outside gate definitions only numbers, pi and sin, cos, tan, exp, ln, sqrt may appear", t.text)
		}
		if k, ok := params.index[t.text]; ok {
			return paramExpr{k, t.text}, nil
		}
		return nil, p.errf(t.pos, "unknown parameter %s: the gate's parameters are %s", t.text, strings.Join(params.names, ", "))
	}
	return nil, p.errf(t.pos, "expected a number, pi, a parameter, a function or '(' in an expression, found %s", t.describe())
}

func (p *parser) ifStmt() error {
	kw := p.next()
	if _, err := p.expect("(", "after if"); err != nil {
		return err
	}
	name, err := p.ident("a classical register name in if(creg==n)")
	if err != nil {
		return err
	}
	r := p.findReg(name.text)
	if r == nil || !p.isCReg(r) {
		return p.errf(name.pos, "%s is not a classical register: if compares a creg with an integer", name.text)
	}
	if p.isPunct("[") {
		return p.errf(p.peek().pos, "OpenQASM 2.0 compares a whole classical register in if, not one bit: write if(%s==n)", name.text)
	}
	if _, err := p.expect("==", "in if(creg==n)"); err != nil {
		return err
	}
	v := p.next()
	if v.kind != tInt {
		return p.errf(v.pos, "expected a non-negative integer in if(%s==n), found %s", name.text, v.describe())
	}
	val, perr := strconv.ParseUint(v.text, 10, 64)
	if perr != nil {
		return p.errf(v.pos, "value %s does not fit 64 bits", v.text)
	}
	if _, err := p.expect(")", "to close if("); err != nil {
		return err
	}
	t := p.peek()
	if t.kind == tIdent && (t.text == "barrier" || t.text == "if") {
		return p.errf(t.pos, "if may guard a gate, measure or reset, not %s", t.text)
	}
	sts, err := p.qop()
	if err != nil {
		return err
	}
	_ = kw
	for i := range sts {
		sts[i].Cond = &Condition{Reg: r, Value: val}
	}
	p.prog.Stmts = append(p.prog.Stmts, sts...)
	return nil
}

func (p *parser) isCReg(r *Register) bool {
	ref, ok := p.prog.regIndex[r.Name]
	return ok && ref.classical && &p.prog.CRegs[ref.i] == r
}

// argument parses id or id[n] naming a quantum (quantum=true) or classical
// register.
func (p *parser) argument(quantum bool, what string) (Arg, error) {
	t, err := p.ident(what)
	if err != nil {
		return Arg{}, err
	}
	r := p.findReg(t.text)
	kind := "qreg"
	if !quantum {
		kind = "creg"
	}
	if r == nil {
		return Arg{}, p.errf(t.pos, "unknown register %s: declare it with %s %s[n]; first", t.text, kind, t.text)
	}
	if p.isCReg(r) == quantum {
		if quantum {
			return Arg{}, p.errf(t.pos, "%s is a classical register; %s needs a quantum register", t.text, what)
		}
		return Arg{}, p.errf(t.pos, "%s is a quantum register; %s needs a classical register", t.text, what)
	}
	a := Arg{Reg: r, Index: -1, Pos: t.pos}
	if p.isPunct("[") {
		p.next()
		n := p.next()
		if n.kind != tInt {
			return Arg{}, p.errf(n.pos, "expected an index in %s[...], found %s", t.text, n.describe())
		}
		if n.num >= float64(r.Size) {
			return Arg{}, p.errf(n.pos, "index %s is out of range: register %s has %d bits (0 to %d)", n.text, r.Name, r.Size, r.Size-1)
		}
		a.Index = int(n.num)
		if _, err := p.expect("]", "after the index"); err != nil {
			return Arg{}, err
		}
	}
	return a, nil
}

func argWidth(a Arg) int {
	if a.Index >= 0 {
		return 1
	}
	return a.Reg.Size
}

// bit returns the flat index of the k-th bit that a (broadcast) argument
// names.
func (a Arg) bit(k int) int {
	if a.Index >= 0 {
		return a.Reg.Offset + a.Index
	}
	return a.Reg.Offset + k
}

// qop parses a gate call, measure, reset or barrier.
func (p *parser) qop() ([]Stmt, error) {
	t := p.next()
	switch t.text {
	case "measure":
		q, err := p.argument(true, "measure")
		if err != nil {
			return nil, err
		}
		if _, err := p.expect("->", "between the qubit and the classical bit of measure"); err != nil {
			return nil, err
		}
		c, err := p.argument(false, "the target of measure")
		if err != nil {
			return nil, err
		}
		if argWidth(q) != argWidth(c) || (q.Index >= 0) != (c.Index >= 0) {
			return nil, p.errf(t.pos, "measure needs a qubit and a bit, or two registers of the same size; got %d and %d bits", argWidth(q), argWidth(c))
		}
		if _, err := p.expect(";", "after measure"); err != nil {
			return nil, err
		}
		return []Stmt{{Kind: StmtMeasure, Name: "measure", Args: []Arg{q}, Target: c, Pos: t.pos}}, nil
	case "reset":
		q, err := p.argument(true, "reset")
		if err != nil {
			return nil, err
		}
		if _, err := p.expect(";", "after reset"); err != nil {
			return nil, err
		}
		return []Stmt{{Kind: StmtReset, Name: "reset", Args: []Arg{q}, Pos: t.pos}}, nil
	case "barrier":
		var args []Arg
		for {
			a, err := p.argument(true, "barrier")
			if err != nil {
				return nil, err
			}
			args = append(args, a)
			if !p.isPunct(",") {
				break
			}
			p.next()
		}
		if _, err := p.expect(";", "after barrier"); err != nil {
			return nil, err
		}
		return []Stmt{{Kind: StmtBarrier, Name: "barrier", Args: args, Pos: t.pos}}, nil
	}
	if t.kind != tIdent {
		return nil, p.errf(t.pos, "expected a statement, found %s", t.describe())
	}
	st := Stmt{Kind: StmtGate, Name: t.text, Pos: t.pos}
	nParams, nArgs := 0, 0
	switch t.text {
	case "U":
		nParams, nArgs = 3, 1
	case "CX":
		nParams, nArgs = 0, 2
	default:
		d := p.lookupGate(t.text)
		if d == nil {
			return nil, p.errf(t.pos, "unknown gate %s: define it with 'gate' before use, or include \"qelib1.inc\" for the standard gates", t.text)
		}
		if d.Opaque {
			return nil, p.errf(t.pos, "gate %s is opaque (declared at %s without a body): the simulator cannot apply it; define it with 'gate'", d.Name, d.Pos)
		}
		st.Def = d
		nParams, nArgs = len(d.Params), len(d.Qubits)
	}
	if p.isPunct("(") {
		p.next()
		exprs, _, err := p.exprList(nil)
		if err != nil {
			return nil, err
		}
		for _, e := range exprs {
			v := e.eval(nil)
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, p.errf(t.pos, "parameter %s of %s is not a finite number", e, t.text)
			}
			st.Params = append(st.Params, v)
		}
	}
	if len(st.Params) != nParams {
		return nil, p.errf(t.pos, "gate %s takes %d parameters, got %d", t.text, nParams, len(st.Params))
	}
	for {
		a, err := p.argument(true, "gate "+t.text)
		if err != nil {
			return nil, err
		}
		st.Args = append(st.Args, a)
		if !p.isPunct(",") {
			break
		}
		p.next()
	}
	if len(st.Args) != nArgs {
		return nil, p.errf(t.pos, "gate %s acts on %d qubits, got %d", t.text, nArgs, len(st.Args))
	}
	if _, err := p.expect(";", "after the gate call"); err != nil {
		return nil, err
	}
	// Broadcasting: every register argument has the same size, and each
	// application touches distinct qubits.
	width := 1
	for _, a := range st.Args {
		if w := argWidth(a); a.Index < 0 {
			if width != 1 && w != width {
				return nil, p.errf(a.Pos, "registers given to %s differ in size (%d and %d): broadcasting needs equal sizes", t.text, width, w)
			}
			width = w
		}
	}
	for k := 0; k < width; k++ {
		seen := map[int]bool{}
		for _, a := range st.Args {
			q := a.bit(k)
			if seen[q] {
				return nil, p.errf(a.Pos, "qubit %s[%d] is given twice to %s: a gate's qubits must differ", a.Reg.Name, q-a.Reg.Offset, t.text)
			}
			seen[q] = true
		}
	}
	return []Stmt{st}, nil
}

// library is qelib1.inc parsed: its gates, and the extension gates this
// simulator adds beside them.
type library struct{ gates, extras map[string]*GateDef }

// qelib1 parses the library once, when a program first includes it, not at
// package initialisation: every gefion command links this package, and
// only the quantum commands and the controller's quantum jobs parse
// OpenQASM (DESIGN: client commands start fast). A sync.Once rather than
// sync.OnceValue, because parsing the library goes through the include
// code that calls qelib1, which Go would reject as an initialisation cycle
// of a package variable.
func qelib1() library {
	qelib1Once.Do(func() {
		gates, extras := mustParseLibrary()
		qelib1Lib = library{gates: gates, extras: extras}
	})
	return qelib1Lib
}

var (
	qelib1Once sync.Once
	qelib1Lib  library
)

func mustParseLibrary() (map[string]*GateDef, map[string]*GateDef) {
	prog := &Program{Gates: map[string]*GateDef{}, regIndex: map[string]regRef{}}
	if err := parseInto(prog, "qelib1.inc", []byte(qelib1Source), &ParseOptions{}, 0, false); err != nil {
		panic("quantum: built-in qelib1.inc does not parse: " + err.Error())
	}
	lib := prog.Gates
	prog.Gates = map[string]*GateDef{}
	for n, g := range lib {
		prog.Gates[n] = g
	}
	if err := parseInto(prog, "qelib1.inc (extension)", []byte(qelibExtraSource), &ParseOptions{}, 0, false); err != nil {
		panic("quantum: built-in qelib1.inc extensions do not parse: " + err.Error())
	}
	extras := map[string]*GateDef{}
	for n, g := range prog.Gates {
		if _, ok := lib[n]; !ok {
			extras[n] = g
		}
	}
	return lib, extras
}
