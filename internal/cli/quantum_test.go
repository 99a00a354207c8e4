package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Run(append([]string{"gefion"}, args...), strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func TestQuantumSize(t *testing.T) {
	code, out, errs := runCLI(t, "quantum", "size", "--qubits", "40", "--backend", "mgpu", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var got struct {
		GPUs  int   `json:"gpus"`
		Nodes int   `json:"nodes"`
		Bytes int64 `json:"bytes"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	if got.GPUs != 128 || got.Nodes != 16 || got.Bytes != 8<<40 {
		t.Errorf("40 qubits mgpu = %+v; want 128 GPUs, 16 nodes, 2^40 x 8 bytes", got)
	}
	code, _, errs = runCLI(t, "quantum", "size", "--qubits", "44", "--backend", "mgpu", "--json")
	if code != 1 || !strings.Contains(errs, "2048 GPUs on 256 nodes") || !strings.Contains(errs, "1528 GPUs on 191 nodes") {
		t.Errorf("44 qubits: exit %d, %q; want exit 1 naming 2048 GPUs needed and 1528 present", code, errs)
	}
	if code, _, _ := runCLI(t, "quantum", "size"); code != 2 {
		t.Errorf("no --qubits: exit %d; want 2", code)
	}
}

func TestQuantumRunGHZ(t *testing.T) {
	file := filepath.Join("..", "quantum", "testdata", "ghz_n5.qasm")
	code, out, errs := runCLI(t, "quantum", "run", file, "--shots", "2000", "--seed", "3", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var got struct {
		Qubits int            `json:"qubits"`
		Shots  int            `json:"shots"`
		Counts map[string]int `json:"counts"`
		WallS  *float64       `json:"wall_s"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	if got.Qubits != 5 || got.Shots != 2000 || got.WallS == nil {
		t.Errorf("output %s lacks qubits, shots or wall_s", out)
	}
	z, o := got.Counts["00000"], got.Counts["11111"]
	if len(got.Counts) != 2 || z+o != 2000 || z < 850 || o < 850 {
		t.Errorf("GHZ counts %v; want only 00000 and 11111 in about equal shares", got.Counts)
	}
	code, _, errs = runCLI(t, "quantum", "run", "nonexistent.qasm")
	if code != 1 || !strings.Contains(errs, "cannot read circuit") {
		t.Errorf("missing file: exit %d, %q", code, errs)
	}
}

func TestQuantumRunRefusesWhatDoesNotFit(t *testing.T) {
	if _, ok := memAvailable(); !ok {
		t.Skip("no /proc/meminfo here: the memory check is not made")
	}
	file := filepath.Join(t.TempDir(), "big.qasm")
	src := "OPENQASM 2.0;\ninclude \"qelib1.inc\";\nqreg q[45];\ncreg c[45];\nh q;\nmeasure q -> c;\n"
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errs := runCLI(t, "quantum", "run", file)
	if code != 1 || !strings.Contains(errs, "45 qubits") || !strings.Contains(errs, "available") {
		t.Errorf("45 qubits: exit %d, %q; want a refusal naming the memory needed and available", code, errs)
	}
}

func TestQuantumRunBoundsShotsAndInput(t *testing.T) {
	ghz := filepath.Join("..", "quantum", "testdata", "ghz_n5.qasm")
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		// Used to panic in makeslice, and to run out of memory at 2e9.
		{"shots past int64 samples", []string{"quantum", "run", ghz, "--shots", "9223372036854775807"}, 2, "--shots must be between 1 and 100000000, got 9223372036854775807"},
		{"two billion shots", []string{"quantum", "run", ghz, "--shots", "2000000000"}, 2, "--shots must be between 1 and 100000000"},
		{"zero shots", []string{"quantum", "run", ghz, "--shots", "0"}, 2, "--shots must be between 1 and 100000000, got 0"},
		{"negative shots", []string{"quantum", "run", ghz, "--shots", "-5"}, 2, "--shots must be between 1 and 100000000, got -5"},
		{"shots not a number", []string{"quantum", "run", ghz, "--shots", "1e9"}, 2, "shots"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := runCLI(t, tc.args...)
			if code != tc.code || !strings.Contains(errs, tc.want) || out != "" {
				t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit %d and %q", tc.args, code, out, errs, tc.code, tc.want)
			}
		})
	}
	// The largest number of shots allowed runs in bounded memory: the
	// counts hold outcomes, not shots.
	code, out, errs := runCLI(t, "quantum", "run", ghz, "--shots", "3000000", "--seed", "1", "--json")
	var got struct {
		Shots  int            `json:"shots"`
		Counts map[string]int `json:"counts"`
	}
	if code != 0 {
		t.Fatalf("3e6 shots: exit %d: %s", code, errs)
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	if got.Shots != 3000000 || len(got.Counts) != 2 || got.Counts["00000"]+got.Counts["11111"] != 3000000 {
		t.Errorf("3e6 shots: %+v; want 3000000 shots over 00000 and 11111", got)
	}
}

func TestQuantumRunRefusesEndlessFiles(t *testing.T) {
	if _, err := os.Stat("/dev/zero"); err != nil {
		t.Skip("needs /dev/zero")
	}
	// /dev/zero used to be read until memory ran out.
	code, _, errs := runCLI(t, "quantum", "run", "/dev/zero")
	if code != 1 || !strings.Contains(errs, "/dev/zero is larger than 64") {
		t.Errorf("quantum run /dev/zero: exit %d, %q; want a refusal naming the size bound", code, errs)
	}
	file := filepath.Join(t.TempDir(), "inc.qasm")
	if err := os.WriteFile(file, []byte("OPENQASM 2.0;\ninclude \"/dev/zero\";\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errs = runCLI(t, "quantum", "run", file)
	if code != 1 || !strings.Contains(errs, "cannot include \"/dev/zero\"") || !strings.Contains(errs, "larger than 64") {
		t.Errorf("include of /dev/zero: exit %d, %q; want a refusal naming the size bound", code, errs)
	}
}

func TestQuantumRunRefusesSixtyQubits(t *testing.T) {
	// The memory needed overflowed, the check passed, and the state's
	// allocation panicked.
	file := filepath.Join(t.TempDir(), "q60.qasm")
	if err := os.WriteFile(file, []byte("OPENQASM 2.0;\nqreg q[60];\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errs := runCLI(t, "quantum", "run", file)
	if code != 1 || !strings.Contains(errs, "60 qubits in single precision need 2^63 bytes, more than any machine holds") {
		t.Errorf("60 qubits: exit %d, %q; want a refusal naming the size", code, errs)
	}
}
