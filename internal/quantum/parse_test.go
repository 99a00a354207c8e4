package quantum

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
)

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		src  string
		want string // file:line:col: and a phrase of the message
	}{
		{"qreg q[1];", "test.qasm:1:1: expected 'OPENQASM 2.0;'"},
		{"OPENQASM 3.0;", "test.qasm:1:10: OpenQASM version 3.0 is not supported"},
		{"OPENQASM 2.0\nqreg q[1];", "test.qasm:2:1: expected ';' after the OpenQASM version"},
		{header + "qreg q[2];\nh q[2];", "test.qasm:4:5: index 2 is out of range: register q has 2 bits"},
		{header + "qreg q[2];\nfoo q[0];", "test.qasm:4:1: unknown gate foo"},
		{"OPENQASM 2.0;\nqreg q[1];\nh q[0];", "test.qasm:3:1: unknown gate h: define it with 'gate' before use, or include \"qelib1.inc\""},
		{header + "qreg q[2];\ncx q[0],q[0];", "test.qasm:4:9: qubit q[0] is given twice to cx"},
		{header + "qreg q[2];\nqreg r[3];\ncx q,r;", "registers given to cx differ in size (2 and 3)"},
		{header + "qreg q[2];\nrx q[0];", "test.qasm:4:1: gate rx takes 1 parameters, got 0"},
		{header + "qreg q[2];\nrx(theta) q[0];", "test.qasm:4:4: unknown name theta in an expression"},
		{header + "qreg q[2];\nrx(1+) q[0];", "test.qasm:4:6: expected a number, pi, a parameter, a function or '(' in an expression, found ')'"},
		{header + "opaque magic(a) q;\nqreg q[1];\nmagic(1) q[0];", "test.qasm:5:1: gate magic is opaque"},
		{header + "gate g(a) x { rx(b) x; }", "test.qasm:3:18: unknown parameter b"},
		{header + "gate g x { h y; }", "test.qasm:3:14: y is not a qubit argument of gate g"},
		{header + "gate g x { measure x; }", "'measure' is not allowed in a gate body"},
		{header + "gate h a { U(0,0,0) a; }", "test.qasm:3:6: gate h is already defined (qelib1.inc)"},
		{header + "qreg q[1];\nqreg q[2];", "test.qasm:4:6: register q is already declared at test.qasm:3:6"},
		{header + "qreg q[1];\ncreg c[2];\nmeasure q -> c;", "measure needs a qubit and a bit, or two registers of the same size"},
		{header + "qreg q[1];\nif(q==1) x q[0];", "q is not a classical register"},
		{header + "qreg q[1];\ncreg c[1];\nif(c[0]==1) x q[0];", "compares a whole classical register"},
		{header + "qreg Q[1];", "register name 'Q' must start with a lowercase letter"},
		{header + "qreg q[0];", "expected the register size, a positive integer"},
		{header + "qreg q[1];\nh q[0]", "test.qasm:4:7: expected ';' after the gate call, found end of file"},
		{header + "include \"other.inc\";", "cannot include \"other.inc\": only qelib1.inc is built in"},
		{header + "qreg q[1]; /* open", "comment opened with /* is never closed"},
		{header + "qreg q[1];\nh q[0]; @", "unexpected character '@'"},
		{header + "qreg q[1];\nmeasure q[0] -> q[0];", "q is a quantum register; the target of measure needs a classical register"},
	} {
		_, err := Parse("test.qasm", []byte(tc.src), nil)
		if err == nil {
			t.Errorf("Parse(%q) succeeded; want error %q", tc.src, tc.want)
			continue
		}
		var pe *ParseError
		if !errors.As(err, &pe) {
			t.Errorf("Parse(%q) error %T is not a *ParseError", tc.src, err)
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v; want it to contain %q", tc.src, err, tc.want)
		}
		if !strings.HasPrefix(err.Error(), "test.qasm:") {
			t.Errorf("Parse(%q) = %v; want a file:line:column prefix", tc.src, err)
		}
	}
}

func TestExpressions(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want float64
	}{
		{"pi", math.Pi},
		{"-pi/2", -math.Pi / 2},
		{"1+2*3", 7},
		{"(1+2)*3", 9},
		{"2^3^2", 512},
		{"-2^2", -4},
		{"2^-1", 0.5},
		{"8/2/2", 2},
		{"1-2-3", -4},
		{"sin(pi/2)+cos(0)", 2},
		{"tan(0)+exp(0)+ln(1)+sqrt(16)", 5},
		{"1.5e1", 15},
		{".5", 0.5},
		{"3.", 3},
		{"--1", 1},
	} {
		p, err := Parse("e.qasm", []byte(header+"qreg q[1];\nu1("+tc.expr+") q[0];\n"), nil)
		if err != nil {
			t.Errorf("%s: %v", tc.expr, err)
			continue
		}
		if got := p.Stmts[0].Params[0]; math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("%s = %v; want %v", tc.expr, got, tc.want)
		}
	}
}

func TestGateDefinitionsBroadcastAndIncludes(t *testing.T) {
	src := header + `// a comment
gate inner(a) x { rz(a) x; }
gate outer(a, b) x, y { inner(a*2) x; cx x, y; barrier x, y; inner(-b) y; }
opaque never(a) q;
qreg q[3];
qreg r[3];
creg c[3];
outer(pi/4, 0.1) q, r;
h q;
cx q[0], r;
barrier q, r;
measure r -> c;
measure q[1] -> c[1];
`
	p := mustParse(t, src)
	if p.NumQubits != 6 || p.NumClbits != 3 {
		t.Fatalf("qubits %d, clbits %d", p.NumQubits, p.NumClbits)
	}
	if g := p.Gates["outer"]; len(g.Body) != 3 || g.Body[0].Def != p.Gates["inner"] {
		t.Errorf("outer body = %+v", g.Body)
	}
	if !p.Gates["never"].Opaque {
		t.Error("opaque gate not recorded")
	}
	c, err := Compile(p)
	if err != nil {
		t.Fatal(err)
	}
	// outer over 3 pairs, h over 3 qubits, cx from q[0] to each of r: after
	// fusion the count is not fixed, but every measurement is present.
	meas := 0
	for _, op := range c.Ops {
		if op.Kind == OpMeasure {
			meas++
		}
	}
	if meas != 4 {
		t.Errorf("%d measurements; want 4", meas)
	}
	// Includes resolved through the option.
	files := map[string]string{"lib.inc": "gate myx a { x a; }\n"}
	opt := &ParseOptions{Include: func(name string) ([]byte, error) {
		s, ok := files[name]
		if !ok {
			return nil, errors.New("no such file")
		}
		return []byte(s), nil
	}}
	p, err = Parse("m.qasm", []byte(header+"include \"lib.inc\";\nqreg q[1];\ncreg c[1];\nmyx q[0];\nmeasure q[0] -> c[0];\n"), opt)
	if err != nil {
		t.Fatal(err)
	}
	c, _ = Compile(p)
	r, _ := Run(c, Options{Shots: 4})
	if r.Counts["1"] != 4 {
		t.Errorf("counts %v; want 1 x4", r.Counts)
	}
	files["self.inc"] = "include \"self.inc\";\n"
	if _, err := Parse("m.qasm", []byte(header+"include \"self.inc\";\n"), opt); err == nil || !strings.Contains(err.Error(), "nested more than") {
		t.Errorf("self-include: %v; want a nesting error", err)
	}
	// An extension gate the program defines itself is the program's.
	p = mustParse(t, header+"gate swap a,b { x a; }\nqreg q[2];\nswap q[0],q[1];\n")
	if p.Gates["swap"].Library != "" {
		t.Error("the program's own swap was replaced by the library's")
	}
}

// manyParams defines gate g with n parameters, its body using each.
func manyParams(n int) string {
	var names []string
	for k := 0; k < n; k++ {
		names = append(names, fmt.Sprintf("p%d", k))
	}
	return "gate g(" + strings.Join(names, ", ") + ") a { rx(" + strings.Join(names, "+") + ") a; }\n"
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		header + "qreg q[2];\ncreg c[2];\nh q[0];\ncx q[0],q[1];\nmeasure q -> c;\n",
		header + "gate g(a,b) x,y { U(a,b,a*b) x; CX x,y; }\nqreg q[3];\ng(pi,-1.5e-3) q[0],q[2];\n",
		header + "qreg q[1];\ncreg c[1];\nmeasure q[0] -> c[0];\nif(c==1) x q[0];\nreset q;\n",
		header + "opaque o q;\nqreg q[1];\nbarrier q;\n",
		"OPENQASM 2.0;\nqreg q[2];\nU(sin(1)^2, ln(2), sqrt(3)) q;\n",
		// Hostile shapes, small enough to run as seeds: deep nesting,
		// long expressions, doubling definitions, huge registers.
		header + "qreg q[1];\nrx(" + strings.Repeat("(", 300) + "1" + strings.Repeat(")", 300) + ") q[0];\n",
		header + "qreg q[1];\nrx(" + strings.Repeat("-", 300) + "1) q[0];\n",
		header + "qreg q[1];\nrx(1" + strings.Repeat("^1", 300) + ") q[0];\n",
		header + "qreg q[1];\nrx(1" + strings.Repeat("+1", 5000) + ") q[0];\n",
		header + doublingGates(25, "a") + "qreg q[1];\ng25 q[0];\n",
		header + "qreg q[1000000000000000000];\n",
		header + "creg c[1000000000000000000];\n",
		header + manyParams(2000) + "qreg q[1];\ng(" + strings.Repeat("1,", 1999) + "1) q[0];\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		p, err := Parse("fuzz.qasm", []byte(src), nil)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a *ParseError", err)
			}
			return
		}
		// What a program holds is bounded by its source.
		if len(p.Stmts) > len(src) {
			t.Fatalf("%d statements from %d bytes", len(p.Stmts), len(src))
		}
		if p.NumQubits > 10 {
			return
		}
		c, err := Compile(p)
		if err != nil {
			return
		}
		if len(c.Ops) > MaxGateOps {
			t.Fatalf("compiled to %d operations, more than MaxGateOps", len(c.Ops))
		}
		if _, err := Run(c, Options{Shots: 3, Seed: 1}); err != nil {
			t.Fatalf("Run of a parsed program failed: %v", err)
		}
		// The exact distribution may refuse a circuit with too many
		// branches, and only that way.
		if _, err := Run(c, Options{Shots: 1, Probabilities: true}); err != nil && !errors.Is(err, errTooManyBranches) {
			t.Fatalf("Run with probabilities failed: %v", err)
		}
	})
}
