package quantum

import (
	"math"
	"math/cmplx"
	"testing"
)

// Matrices written from the textbook definitions (bit j of an index is the
// gate's j-th argument), independent of qelib1.inc's decompositions.
func textbook() map[string]struct {
	params []float64
	m      []complex128
} {
	c, s := math.Cos(0.35), math.Sin(0.35) // half of 0.7
	e := func(x float64) complex128 { return cmplx.Exp(complex(0, x)) }
	r2 := complex(1/math.Sqrt2, 0)
	ctrl := func(v []complex128) []complex128 {
		// control = argument 0 (low bit), target = argument 1
		return []complex128{
			1, 0, 0, 0,
			0, v[0], 0, v[1],
			0, 0, 1, 0,
			0, v[2], 0, v[3],
		}
	}
	u3 := func(th, ph, la float64) []complex128 {
		return []complex128{complex(math.Cos(th/2), 0), -e(la) * complex(math.Sin(th/2), 0), e(ph) * complex(math.Sin(th/2), 0), e(ph+la) * complex(math.Cos(th/2), 0)}
	}
	rx := []complex128{complex(c, 0), complex(0, -s), complex(0, -s), complex(c, 0)}
	ry := []complex128{complex(c, 0), complex(-s, 0), complex(s, 0), complex(c, 0)}
	rz := []complex128{e(-0.35), 0, 0, e(0.35)}
	toffoli := make([]complex128, 64)
	for i := 0; i < 8; i++ {
		j := i
		if i&3 == 3 {
			j = i ^ 4
		}
		toffoli[j*8+i] = 1
	}
	fredkin := make([]complex128, 64)
	for i := 0; i < 8; i++ {
		j := i
		if i&1 == 1 && (i>>1&1) != (i>>2&1) {
			j = i ^ 6
		}
		fredkin[j*8+i] = 1
	}
	xx := make([]complex128, 16)
	zz := make([]complex128, 16)
	for i := 0; i < 4; i++ {
		xx[i*4+i] = complex(c, 0)
		xx[i*4+(3-i)] = complex(0, -s)
		par := float64(1 - 2*((i^i>>1)&1))
		zz[i*4+i] = e(-0.35 * par)
	}
	return map[string]struct {
		params []float64
		m      []complex128
	}{
		"u3":  {[]float64{0.7, 0.2, 1.9}, u3(0.7, 0.2, 1.9)},
		"u2":  {[]float64{0.2, 1.9}, u3(math.Pi/2, 0.2, 1.9)},
		"u1":  {[]float64{0.7}, []complex128{1, 0, 0, e(0.7)}},
		"u0":  {[]float64{0.7}, []complex128{1, 0, 0, 1}},
		"id":  {nil, []complex128{1, 0, 0, 1}},
		"x":   {nil, []complex128{0, 1, 1, 0}},
		"y":   {nil, []complex128{0, -1i, 1i, 0}},
		"z":   {nil, []complex128{1, 0, 0, -1}},
		"h":   {nil, []complex128{r2, r2, r2, -r2}},
		"s":   {nil, []complex128{1, 0, 0, 1i}},
		"sdg": {nil, []complex128{1, 0, 0, -1i}},
		"t":   {nil, []complex128{1, 0, 0, e(math.Pi / 4)}},
		"tdg": {nil, []complex128{1, 0, 0, e(-math.Pi / 4)}},
		"rx":  {[]float64{0.7}, rx},
		"ry":  {[]float64{0.7}, ry},
		"rz":  {[]float64{0.7}, rz},
		"cx":  {nil, ctrl([]complex128{0, 1, 1, 0})},
		"cz":  {nil, ctrl([]complex128{1, 0, 0, -1})},
		"cy":  {nil, ctrl([]complex128{0, -1i, 1i, 0})},
		"ch":  {nil, ctrl([]complex128{r2, r2, r2, -r2})},
		"ccx": {nil, toffoli},
		"crz": {[]float64{0.7}, ctrl(rz)},
		"cu1": {[]float64{0.7}, ctrl([]complex128{1, 0, 0, e(0.7)})},
		// cu3 is Qiskit's, the controlled u3, not the specification's
		// controlled Rz Ry Rz (qelib1.go says why).
		"cu3":   {[]float64{0.7, 0.2, 1.9}, ctrl(u3(0.7, 0.2, 1.9))},
		"u":     {[]float64{0.7, 0.2, 1.9}, u3(0.7, 0.2, 1.9)},
		"p":     {[]float64{0.7}, []complex128{1, 0, 0, e(0.7)}},
		"sx":    {nil, []complex128{(1 + 1i) / 2, (1 - 1i) / 2, (1 - 1i) / 2, (1 + 1i) / 2}},
		"sxdg":  {nil, []complex128{(1 - 1i) / 2, (1 + 1i) / 2, (1 + 1i) / 2, (1 - 1i) / 2}},
		"swap":  {nil, []complex128{1, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1}},
		"cswap": {nil, fredkin},
		"crx":   {[]float64{0.7}, ctrl(rx)},
		"cry":   {[]float64{0.7}, ctrl(ry)},
		"cp":    {[]float64{0.7}, ctrl([]complex128{1, 0, 0, e(0.7)})},
		"csx":   {nil, ctrl([]complex128{(1 + 1i) / 2, (1 - 1i) / 2, (1 - 1i) / 2, (1 + 1i) / 2})},
		"cu":    {[]float64{0.7, 0.2, 1.9, 0.4}, ctrl(scale(u3(0.7, 0.2, 1.9), e(0.4)))},
		"rxx":   {[]float64{0.7}, xx},
		"rzz":   {[]float64{0.7}, zz},
		// Controls are the low arguments, the target the last.
		"c3x":     {nil, multiControlled(3, []complex128{0, 1, 1, 0})},
		"c3sqrtx": {nil, multiControlled(3, []complex128{(1 + 1i) / 2, (1 - 1i) / 2, (1 - 1i) / 2, (1 + 1i) / 2})},
		"c4x":     {nil, multiControlled(4, []complex128{0, 1, 1, 0})},
	}
}

// multiControlled is the matrix of v on the last of k+1 qubits when the
// first k are all 1.
func multiControlled(k int, v []complex128) []complex128 {
	d := 1 << (k + 1)
	m := make([]complex128, d*d)
	all := 1<<k - 1
	for i := 0; i < d; i++ {
		if i&all != all {
			m[i*d+i] = 1
			continue
		}
		tb := i >> k & 1
		for ob := 0; ob < 2; ob++ {
			m[i*d+(all|ob<<k)] = v[tb*2+ob]
		}
	}
	return m
}

func scale(m []complex128, f complex128) []complex128 {
	out := make([]complex128, len(m))
	for i := range m {
		out[i] = m[i] * f
	}
	return out
}

func TestEveryLibraryGateAgainstItsMatrix(t *testing.T) {
	want := textbook()
	all := map[string]*GateDef{}
	for n, g := range qelib1().gates {
		all[n] = g
	}
	for n, g := range qelib1().extras {
		all[n] = g
	}
	for name, def := range all {
		w, ok := want[name]
		if name == "rccx" || name == "rc3x" {
			continue // relative-phase Toffolis, checked below
		}
		if !ok {
			t.Errorf("library gate %s has no reference matrix in this test", name)
			continue
		}
		got, err := newCompiler().unitaryOf(def, w.params)
		if err != nil {
			t.Fatal(err)
		}
		// Controlled gates must match exactly up to one global phase
		// (relative phases are observable); equalUpToPhase checks that.
		if !equalUpToPhase(got, w.m, 1e-12) {
			t.Errorf("%s%v = %v; want %v (up to global phase)", name, w.params, got, w.m)
		}
	}
	// rccx and rc3x equal the Toffolis of three and four qubits up to
	// relative phases that are powers of i: check magnitudes and phases.
	for name, ref := range map[string][]complex128{"rccx": want["ccx"].m, "rc3x": want["c3x"].m} {
		got, err := newCompiler().unitaryOf(qelib1().extras[name], nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := range got {
			if math.Abs(cmplx.Abs(got[i])-cmplx.Abs(ref[i])) > 1e-12 {
				t.Fatalf("%s magnitudes differ from the Toffoli's at %d: %v", name, i, got[i])
			}
			if q := got[i] * got[i] * got[i] * got[i]; cmplx.Abs(got[i]) > 0.5 && cmplx.Abs(q-1) > 1e-9 {
				t.Errorf("%s entry %d = %v; want a power of i", name, i, got[i])
			}
		}
	}
}

func TestSpecLibraryIsExactlyTheSpecSet(t *testing.T) {
	spec := []string{"u3", "u2", "u1", "cx", "id", "u0", "x", "y", "z", "h", "s", "sdg", "t", "tdg", "rx", "ry", "rz", "cz", "cy", "ch", "ccx", "crz", "cu1", "cu3"}
	if len(qelib1().gates) != len(spec) {
		t.Errorf("qelib1.inc defines %d gates; the specification has %d", len(qelib1().gates), len(spec))
	}
	for _, n := range spec {
		if _, ok := qelib1().gates[n]; !ok {
			t.Errorf("qelib1.inc lacks %s", n)
		}
	}
}

func TestGateIdentities(t *testing.T) {
	unitary := func(src string) []complex128 {
		c := mustCompile(t, header+src)
		d := 1 << c.Qubits
		u := make([]complex128, d*d)
		for col := 0; col < d; col++ {
			s, _ := NewState[float64](c.Qubits)
			clear(s.v)
			s.v[2*col] = 1
			for _, op := range c.Ops {
				s.Apply(op.Gate)
			}
			for r := 0; r < d; r++ {
				u[r*d+col] = s.Amplitude(r)
			}
		}
		return u
	}
	for _, tc := range []struct{ name, a, b string }{
		{"HXH = Z", "qreg q[1];\nh q[0];\nx q[0];\nh q[0];\n", "qreg q[1];\nz q[0];\n"},
		{"HZH = X", "qreg q[1];\nh q[0];\nz q[0];\nh q[0];\n", "qreg q[1];\nx q[0];\n"},
		{"CX = (I x H) CZ (I x H)", "qreg q[2];\nh q[1];\ncz q[0],q[1];\nh q[1];\n", "qreg q[2];\ncx q[0],q[1];\n"},
		{"SS = Z", "qreg q[1];\ns q[0];\ns q[0];\n", "qreg q[1];\nz q[0];\n"},
		{"TT = S", "qreg q[1];\nt q[0];\nt q[0];\n", "qreg q[1];\ns q[0];\n"},
		{"three CX = SWAP", "qreg q[2];\ncx q[0],q[1];\ncx q[1],q[0];\ncx q[0],q[1];\n", "qreg q[2];\nswap q[0],q[1];\n"},
		{"CZ symmetric", "qreg q[2];\ncz q[0],q[1];\n", "qreg q[2];\ncz q[1],q[0];\n"},
		{"XYZ = iI", "qreg q[1];\nz q[0];\ny q[0];\nx q[0];\n", "qreg q[1];\nid q[0];\n"},
		{"U = u3", "qreg q[1];\nU(0.3,0.2,0.1) q[0];\n", "qreg q[1];\nu3(0.3,0.2,0.1) q[0];\n"},
	} {
		a, b := unitary(tc.a), unitary(tc.b)
		if !equalUpToPhase(a, b, 1e-12) {
			t.Errorf("%s: %v != %v", tc.name, a, b)
		}
	}
}

func TestClassification(t *testing.T) {
	for _, tc := range []struct {
		src      string
		kind     string
		controls int
	}{
		{"h q[0];", "h", 0},
		{"x q[0];", "x", 0},
		{"rz(0.3) q[0];", "phase", 0},
		{"u3(0.3,-pi/2,pi/2) q[0];", "realimag", 0},
		{"ry(0.3) q[0];", "real", 0},
		{"cx q[0],q[1];", "x", 1},
		{"cz q[0],q[1];", "phase", 1},
		{"cu1(0.2) q[0],q[1];", "phase", 1},
		{"ccx q[0],q[1],q[2];", "x", 2},
		{"swap q[0],q[1];", "permk", 0},
		{"cswap q[0],q[1],q[2];", "permk", 1},
		{"rzz(0.4) q[0],q[1];", "diagk", 0},
		{"rxx(0.4) q[0],q[1];", "densek", 0},
	} {
		c := mustCompile(t, header+"qreg q[3];\n"+tc.src+"\n")
		if len(c.Ops) != 1 {
			t.Fatalf("%s: %d ops", tc.src, len(c.Ops))
		}
		g := c.Ops[0].Gate
		if g.Kind() != tc.kind || len(g.Controls) != tc.controls {
			t.Errorf("%s: kernel %s with %d controls; want %s with %d", tc.src, g.Kind(), len(g.Controls), tc.kind, tc.controls)
		}
	}
}

// TestQiskitExportRunsEveryGate runs a circuit as Qiskit's OpenQASM 2
// exporter writes one, calling every gate of Qiskit's qelib1.inc, and
// checks the outcome of each step from the gates' definitions: the
// multi-controlled X gates flip their target only when every control is 1,
// two c3sqrtx make one c3x, and the circuit's inverse half returns the
// state to where it started.
func TestQiskitExportRunsEveryGate(t *testing.T) {
	const prog = `OPENQASM 2.0;
include "qelib1.inc";
qreg q[6];
creg c[6];
x q[0]; x q[1]; x q[2];
c3x q[0],q[1],q[2],q[3];
c3sqrtx q[0],q[1],q[2],q[4]; c3sqrtx q[0],q[1],q[2],q[4];
c4x q[0],q[1],q[2],q[3],q[5];
c4x q[0],q[1],q[2],q[4],q[5];
rc3x q[0],q[1],q[2],q[3]; rc3x q[0],q[1],q[2],q[3];
u(0.3,0.2,0.1) q[3]; p(0.4) q[3]; sx q[3]; sxdg q[3]; p(-0.4) q[3]; u(-0.3,-0.1,-0.2) q[3];
cu(0.5,0.1,0.2,0.3) q[0],q[3]; cu3(0.5,0.1,0.2) q[1],q[3]; cu1(0.7) q[2],q[3]; cp(0.1) q[2],q[3];
crx(0.2) q[0],q[4]; cry(0.3) q[1],q[4]; crz(0.4) q[2],q[4]; ch q[0],q[4]; ch q[0],q[4];
crz(-0.4) q[2],q[4]; cry(-0.3) q[1],q[4]; crx(-0.2) q[0],q[4];
cp(-0.1) q[2],q[3]; cu1(-0.7) q[2],q[3]; cu3(-0.5,-0.2,-0.1) q[1],q[3]; cu(-0.5,-0.2,-0.1,-0.3) q[0],q[3];
rxx(0.6) q[3],q[4]; rzz(0.2) q[3],q[4]; rzz(-0.2) q[3],q[4]; rxx(-0.6) q[3],q[4];
csx q[0],q[5]; csx q[0],q[5]; csx q[0],q[5]; csx q[0],q[5];
cswap q[0],q[3],q[4]; cswap q[0],q[3],q[4];
rccx q[0],q[1],q[5]; rccx q[0],q[1],q[5];
measure q -> c;
`
	r := mustRun(t, prog, Options{Shots: 200, Seed: 3, Probabilities: true})
	// q0-q2 set; c3x sets q3; two c3sqrtx set q4; c4x on q3 flips q5, on
	// q4 flips it back; the rest undo themselves.
	if r.Counts["011111"] != 200 || math.Abs(r.Probabilities["011111"]-1) > 1e-9 {
		t.Errorf("counts = %v, probabilities %v; want 011111 always", r.Counts, r.Probabilities)
	}
}
