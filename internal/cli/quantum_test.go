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
