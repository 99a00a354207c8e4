package cli

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// TestClusterInfoContract checks the keys DESIGN.md promises and the
// figures of the reference machine.
func TestClusterInfoContract(t *testing.T) {
	var out, errb bytes.Buffer
	code := RunEnv(&Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb}, []string{"gefion", "cluster", "info", "--preset", "gefion", "--json"})
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var m map[string]any
	if err := json.Unmarshal(out.Bytes(), &m); err != nil {
		t.Fatalf("not one JSON object: %v\n%s", err, out.String())
	}
	want := map[string]float64{"nodes": 191, "gpus": 1528, "scalable_units": 6, "peak_fp8_sparse_eflops": 6.05, "peak_fp8_dense_eflops": 3.02}
	for k, v := range want {
		if got, ok := m[k].(float64); !ok || got != v {
			t.Errorf("%s = %v; want %v", k, m[k], v)
		}
	}
	if kw, ok := m["max_power_kw"].(float64); !ok || kw < 1900 || kw > 2000 {
		t.Errorf("max_power_kw = %v; want about 1,950", m["max_power_kw"])
	}
	code = RunEnv(&Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb}, []string{"gefion", "cluster", "info", "--preset", "nope"})
	if code != 2 || !strings.Contains(errb.String(), "unknown preset") {
		t.Errorf("unknown preset: exit %d, stderr %q; want 2 and a message", code, errb.String())
	}
}
