package quantum

import (
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
)

// Hostile sources: each must fail with a clear error naming its place,
// without exhausting the stack, memory or time.

// doublingGates defines g0 as x and each gN as two calls of gN-1 on
// qubits, so that calling gN applies 2^N gates.
func doublingGates(n int, qubits string) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "gate g0 %s { x a; }\n", qubits)
	for k := 1; k <= n; k++ {
		fmt.Fprintf(&sb, "gate g%d %s { g%d %s; g%d %s; }\n", k, qubits, k-1, qubits, k-1, qubits)
	}
	return sb.String()
}

func TestParseBounds(t *testing.T) {
	const call = header + "qreg q[1];\n"
	chain := func(n int) string {
		var sb strings.Builder
		sb.WriteString(header + "gate c0 a { U(0, 0, 0) a; }\n")
		for k := 1; k <= n; k++ {
			fmt.Fprintf(&sb, "gate c%d a { c%d a; }\n", k, k-1)
		}
		return sb.String()
	}
	for _, tc := range []struct {
		name string
		src  string
		want string
	}{
		// 10^5 parentheses recursed within the stack before the limit;
		// 10^6 overflowed it (see TestParseDeepNestingInSubprocess).
		{"parentheses", call + "rx(" + strings.Repeat("(", 100000) + "1" + strings.Repeat(")", 100000) + ") q[0];\n",
			"test.qasm:4:260: expression nested more than 256 deep"},
		{"functions", call + "rx(" + strings.Repeat("sin(", 300) + "1" + strings.Repeat(")", 300) + ") q[0];\n",
			"expression nested more than 256 deep"},
		{"unary minus", call + "rx(" + strings.Repeat("-", 100000) + "1) q[0];\n",
			"test.qasm:4:260: expression nested more than 256 deep"},
		{"powers", call + "rx(1" + strings.Repeat("^1", 300) + ") q[0];\n",
			"expression nested more than 256 deep"},
		{"long sum", call + "rx(1" + strings.Repeat("+1", 5000) + ") q[0];\n",
			"expression has more than 4096 terms"},
		{"long sum in a gate body", header + "gate g(t) a { rx(t" + strings.Repeat("*t", 5000) + ") a; }\n",
			"expression has more than 4096 terms"},
		{"gate nesting", chain(1001), "test.qasm:1004:16: gate c1001 calls gates nested more than 1000 deep"},
		{"qreg of 10^18", header + "qreg q[1000000000000000000];\n",
			"test.qasm:3:8: qreg q[1000000000000000000] brings the program past the 60 qubits a state vector can index (0 declared before it)"},
		{"qregs past 60", header + "qreg a[30];\nqreg b[30];\nqreg c[1];\n",
			"test.qasm:5:8: qreg c[1] brings the program past the 60 qubits a state vector can index (60 declared before it)"},
		{"creg of 10^18", header + "creg c[1000000000000000000];\n",
			"test.qasm:3:8: creg c[1000000000000000000] brings the program past the 65536 classical bits supported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("test.qasm", []byte(tc.src), nil)
			var pe *ParseError
			if !errors.As(err, &pe) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Parse = %v; want a *ParseError containing %q", err, tc.want)
			}
		})
	}
	// Limits that valid programs stay within still parse.
	for _, src := range []string{
		call + "rx(" + strings.Repeat("(", 200) + "1" + strings.Repeat(")", 200) + ") q[0];\n",
		call + "rx(" + strings.Repeat("-", 200) + "1) q[0];\n",
		call + "rx(1" + strings.Repeat("+1", 2000) + ") q[0];\n",
		chain(1000) + "qreg q[1];\nc1000 q[0];\n",
		header + "qreg a[30];\nqreg b[30];\ncreg c[65536];\n",
		manyCRegs(65536),
	} {
		if _, err := Parse("test.qasm", []byte(src), nil); err != nil {
			t.Errorf("Parse of a program within the limits: %v", err)
		}
	}
}

// manyCRegs declares n one-bit classical registers and measures into the
// last; finding registers by name used to scan them all at every use.
func manyCRegs(n int) string {
	var sb strings.Builder
	sb.WriteString(header + "qreg q[1];\n")
	for k := 0; k < n; k++ {
		fmt.Fprintf(&sb, "creg c%d[1];\n", k)
	}
	fmt.Fprintf(&sb, "measure q[0] -> c%d[0];\n", n-1)
	return sb.String()
}

// TestParseMemoryIsBounded checks that a source which fails early costs
// little memory however long it is: 200,000 minus signs used to be read
// into 200,000 tokens and 200,000 levels of recursion before the parser
// looked at them.
func TestParseMemoryIsBounded(t *testing.T) {
	src := []byte(header + "qreg q[1];\nrx(" + strings.Repeat("-", 200000) + "1) q[0];\n")
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := Parse("test.qasm", src, nil)
	runtime.ReadMemStats(&after)
	if err == nil {
		t.Fatal("Parse succeeded; want the nesting error")
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 4<<20 {
		t.Errorf("Parse of %d bytes allocated %d bytes; want under 4 MiB", len(src), got)
	}
}

func TestCompileBounds(t *testing.T) {
	for _, tc := range []struct {
		name  string
		src   string
		limit int // 0: MaxGateOps
	}{
		// Each definition calls the previous twice: 25 lines and a call
		// of g21 is 2^21 x gates (g25 is 32 million).
		{"doubling one-qubit gates", header + doublingGates(25, "a") + "qreg q[1];\ng25 q[0];\n", 0},
		// Gates wider than the unitary cache are expanded into the
		// circuit itself.
		{"doubling five-qubit gates", header + doublingGates(21, "a, b, c, d, e") + "qreg q[5];\ng21 q[0], q[1], q[2], q[3], q[4];\n", 0},
		// A costly parameter expression counts at every expansion.
		{"expression at every call", header + "gate g0(t) a { rx(t" + strings.Repeat("+t", 2000) + ") a; }\n" +
			"gate g1(t) a { g0(t) a; g0(t) a; }\ngate g2(t) a { g1(t) a; g1(t) a; }\nqreg q[1];\n" +
			"g2(0.1) q[0];\n", 1000},
		// A call's parameters are spelled into a cache key at every
		// call: 2000 of them, broadcast over 60 qubits.
		{"many parameters", header + manyParams(2000) + "qreg q[60];\ng(" + strings.Repeat("1,", 1999) + "1) q;\n", 5000},
		// Broadcasting over registers multiplies the statements.
		{"broadcast", header + "qreg q[60];\n" + strings.Repeat("h q;\n", 100), 5000},
		{"measurements", header + "qreg q[60];\ncreg c[60];\n" + strings.Repeat("x q[0];\nmeasure q[0] -> c[0];\n", 3000), 5000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.limit > 0 {
				defer func(old int) { gateOpsLimit = old }(gateOpsLimit)
				gateOpsLimit = tc.limit
			}
			p := mustParse(t, tc.src)
			_, err := Compile(p)
			var ee *ExpansionError
			want := fmt.Sprintf("circuit expands to more than %d gate operations", gateOpsLimit)
			if !errors.As(err, &ee) || !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), "test.qasm:") {
				t.Errorf("Compile = %v; want an *ExpansionError at its statement, containing %q", err, want)
			}
		})
	}
	// The same shapes within the bound compile.
	for _, src := range []string{
		header + doublingGates(10, "a") + "qreg q[1];\ng10 q[0];\n",
		header + doublingGates(10, "a, b, c, d, e") + "qreg q[5];\ng10 q[0], q[1], q[2], q[3], q[4];\n",
	} {
		if _, err := Compile(mustParse(t, src)); err != nil {
			t.Errorf("Compile within the bound: %v", err)
		}
	}
}

// TestIncludeFanOutIsBounded: files that each include the next four times
// were read 4^depth times.
func TestIncludeFanOutIsBounded(t *testing.T) {
	files := map[string]string{"f0.inc": "// empty\n"}
	for k := 1; k <= 12; k++ {
		files[fmt.Sprintf("f%d.inc", k)] = strings.Repeat(fmt.Sprintf("include \"f%d.inc\";\n", k-1), 4)
	}
	reads := 0
	opt := &ParseOptions{Include: func(name string) ([]byte, error) {
		reads++
		return []byte(files[name]), nil
	}}
	_, err := Parse("test.qasm", []byte(header+"include \"f12.inc\";\n"), opt)
	if err == nil || !strings.Contains(err.Error(), "more than 256 include statements") {
		t.Errorf("Parse = %v; want the include bound", err)
	}
	if reads > 256 {
		t.Errorf("%d files read; want at most 256", reads)
	}
}

func TestRunBoundsShots(t *testing.T) {
	ghz := mustCompile(t, header+"qreg q[3];\ncreg c[3];\nh q[0];\ncx q[0],q[1];\ncx q[1],q[2];\nmeasure q -> c;\n")
	mid := mustCompile(t, header+"qreg q[1];\ncreg c[1];\nh q[0];\nmeasure q[0] -> c[0];\nif(c==1) x q[0];\nh q[0];\nmeasure q[0] -> c[0];\n")
	wide := mustCompile(t, header+"qreg q[21];\nh q;\n")
	for _, tc := range []struct {
		name  string
		c     *Circuit
		shots int
		want  string
	}{
		// Used to panic in makeslice (the sample buffer was sized by
		// shots) or to run out of memory.
		{"shots past int64 samples", ghz, math.MaxInt64, "shots must be between 1 and 100000000, got 9223372036854775807"},
		{"two billion shots", ghz, 2_000_000_000, "shots must be between 1 and 100000000"},
		{"negative shots", mid, -1, "shots must be between 1 and 100000000, got -1"},
		// 2e6 shots of 21 uniform qubits give about 1.3e6 distinct
		// outcomes, each of which used to be kept as a string.
		{"distinct outcomes", wide, 2_000_000, "more than 1048576 distinct outcomes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Run(tc.c, Options{Shots: tc.shots, Seed: 1})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Run(%d shots) = %v, %v; want error %q", tc.shots, r, err, tc.want)
			}
		})
	}
	// More shots than one chunk, in both paths, count every shot.
	for _, c := range []*Circuit{ghz, mid} {
		shots := sampleChunk*2 + 7
		if c == mid {
			shots = 20000 // simulated one by one
		}
		r, err := Run(c, Options{Shots: shots, Seed: 2})
		if err != nil {
			t.Fatal(err)
		}
		total := 0
		for _, n := range r.Counts {
			total += n
		}
		if total != shots || len(r.Counts) != 2 {
			t.Errorf("counts %v sum to %d; want %d over two outcomes", r.Counts, total, shots)
		}
	}
}

// TestParseDeepNestingInSubprocess parses a million nested parentheses and
// two million minus signs, which overflowed the goroutine stack (a fatal
// error no recover can catch), in a child process so that a regression
// fails this test instead of killing the test binary.
func TestParseDeepNestingInSubprocess(t *testing.T) {
	const env = "GEFION_QASM_DEEP_CHILD"
	if os.Getenv(env) == "1" {
		for _, expr := range []string{
			strings.Repeat("(", 1000000) + "1" + strings.Repeat(")", 1000000),
			strings.Repeat("-", 2000000) + "1",
		} {
			_, err := Parse("deep.qasm", []byte(header+"qreg q[1];\nrx("+expr+") q[0];\n"), nil)
			fmt.Println(err)
		}
		return
	}
	if testing.Short() {
		t.Skip("starts a child process")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestParseDeepNestingInSubprocess$")
	cmd.Env = append(os.Environ(), env+"=1")
	out, err := cmd.CombinedOutput()
	want := "deep.qasm:4:260: expression nested more than 256 deep"
	if err != nil || strings.Count(string(out), want) != 2 {
		t.Errorf("child parsing deep expressions: %v\n%s\nwant two errors %q", err, lastLines(string(out), 10), want)
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// TestExactDistributionMemory: the exact distribution used to copy the
// state at every measurement and keep every copy until the end of the
// circuit, and to copy the rest of the circuit at every conditional.
func TestExactDistributionMemory(t *testing.T) {
	// 2000 measurements with one possible outcome each, on a 16-qubit
	// state of 512 KiB: a gigabyte of copies before; and 2000
	// conditionals, each of which copied the rest of the circuit.
	src := header + "qreg q[16];\ncreg c[1];\n" + strings.Repeat("measure q[0] -> c[0];\nx q[0];\nif(c==0) x q[1];\n", 2000)
	c := mustCompile(t, src)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	r, err := Run(c, Options{Shots: 1, Probabilities: true})
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 64<<20 {
		t.Errorf("exact distribution allocated %d bytes; want under 64 MiB", got)
	}
	if len(r.Probabilities) != 1 || r.Probabilities["1"] != 1 {
		t.Errorf("probabilities %v; want 1 with certainty", r.Probabilities)
	}

	// Twenty measurements with two outcomes, each followed on the first
	// outcome only: twenty copies at once, past a bound of eight.
	defer func(old int64) { exactCopyBytes = old }(exactCopyBytes)
	exactCopyBytes = 8 * (8 << 10) // eight 10-qubit states
	src = header + "qreg q[10];\ncreg c[1];\n" + strings.Repeat("reset q[0];\nif(c==0) h q[0];\nif(c==0) measure q[0] -> c[0];\n", 20)
	_, err = Run(mustCompile(t, src), Options{Shots: 1, Probabilities: true})
	if err == nil || !strings.Contains(err.Error(), "more than 8 copies of the state at once (65.5 kB); sample shots instead") {
		t.Errorf("Run = %v; want the bound on copies", err)
	}
	// Within the bound, the same shape gives the exact distribution:
	// c is 0 only if every measurement gave 0.
	src = header + "qreg q[10];\ncreg c[1];\n" + strings.Repeat("reset q[0];\nif(c==0) h q[0];\nif(c==0) measure q[0] -> c[0];\n", 6)
	r, err = Run(mustCompile(t, src), Options{Shots: 1, Probabilities: true})
	if err != nil {
		t.Fatal(err)
	}
	if p0 := r.Probabilities["0"]; math.Abs(p0-1.0/64) > 1e-6 || math.Abs(r.Probabilities["1"]-63.0/64) > 1e-6 {
		t.Errorf("probabilities %v; want 0 with 1/64, 1 with 63/64", r.Probabilities)
	}
}

// TestHugeStatesFail: the memory needed by 59 or 60 qubits overflowed an
// int64 (so the CLI's memory check passed), and allocating the state
// panicked in makeslice.
func TestHugeStatesFail(t *testing.T) {
	for _, n := range []int{50, 59, 60} {
		if _, err := NewState[float32](n); err == nil || !strings.Contains(err.Error(), "more than any machine holds") {
			t.Errorf("NewState[float32](%d) = %v; want a refusal", n, err)
		}
		if _, err := NewState[float64](n); err == nil || !strings.Contains(err.Error(), "more than any machine holds") {
			t.Errorf("NewState[float64](%d) = %v; want a refusal", n, err)
		}
	}
	if _, err := NewState[float32](20); err != nil {
		t.Errorf("NewState(20): %v", err)
	}
	for _, tc := range []struct {
		qubits    int
		precision string
		bytes     int64
		want      string
	}{
		{58, "double", 16 << 58, ""},
		{59, "single", 8 << 59, ""},
		{59, "double", 0, "the state vectors of 59 qubits in double precision need 2^63 bytes, more than any machine holds"},
		{60, "single", 0, "the state vectors of 60 qubits in single precision need 2^63 bytes"},
		{60, "double", 0, "the state vectors of 60 qubits in double precision need 2^64 bytes"},
	} {
		c := mustCompile(t, fmt.Sprintf("OPENQASM 2.0;\nqreg q[%d];\n", tc.qubits))
		got, err := c.MemoryBytes(tc.precision)
		switch {
		case tc.want == "" && (err != nil || got != tc.bytes):
			t.Errorf("MemoryBytes(%d qubits) = %d, %v; want %d", tc.qubits, got, err, tc.bytes)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("MemoryBytes(%d qubits) = %d, %v; want error %q", tc.qubits, got, err, tc.want)
		}
		if _, err := Run(c, Options{Precision: tc.precision}); err == nil {
			t.Errorf("Run(%d qubits) succeeded; want a refusal", tc.qubits)
		}
	}
}
