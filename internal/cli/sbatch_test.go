package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/client"
	"github.com/gefion-hpc/gefion/internal/job"
)

var sbatchTestNow = time.Date(2026, 3, 10, 14, 30, 0, 0, time.UTC)

// runSbatchCmd runs the CLI with args (args[0] is the program) and returns
// the exit status, stdout and stderr.
func runSbatchCmd(t *testing.T, stdin string, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	old, oldEst := sbatchNow, controllerEstimate
	sbatchNow = func() time.Time { return sbatchTestNow }
	// No controller: --test-only checks against the preset.
	controllerEstimate = func(*Env, string, *job.Spec) (*api.SubmitResponse, error) {
		return nil, fmt.Errorf("%w: test", client.ErrUnreachable)
	}
	t.Cleanup(func() { sbatchNow, controllerEstimate = old, oldEst })
	var out, errb bytes.Buffer
	e := &Env{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb,
		Getenv: func(k string) string { return env[k] }}
	code := RunEnv(e, args)
	return code, out.String(), errb.String()
}

func writeScript(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "job.sh")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

const pytorchScript = `#!/bin/bash
#SBATCH --job-name=train
#SBATCH --nodes=4 --gpus-per-node=8 --ntasks-per-node=8 --cpus-per-task=12
#SBATCH --time=2-00:00:00 --signal=B:USR1@120 --requeue
#SBATCH --output=logs/%x-%j.out --mail-type=END
srun python train.py
`

// contractKeys are the keys DESIGN.md promises for --test-only --json.
var contractKeys = []string{"name", "nodes_min", "nodes_max", "ntasks", "ntasks_per_node", "cpus_per_task",
	"gpus", "gpus_per_node", "gpus_per_task", "gpu_type", "time_limit_s", "account", "partition", "qos",
	"array", "dependency", "signal", "exclusive", "requeue", "output", "error", "mem", "estimated_start"}

func decode(t *testing.T, out string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("output is not one JSON object: %v\n%s", err, out)
	}
	return m
}

func TestSbatchTestOnlyJSON(t *testing.T) {
	path := writeScript(t, pytorchScript)
	code, out, errs := runSbatchCmd(t, "", nil, "gefion", "sbatch", "--test-only", "--json", path)
	if code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, errs)
	}
	m := decode(t, out)
	for _, k := range contractKeys {
		if _, ok := m[k]; !ok {
			t.Errorf("key %q missing from --test-only --json", k)
		}
	}
	want := map[string]any{
		"name": "train", "nodes_min": 4.0, "nodes_max": 4.0, "ntasks": nil, "ntasks_per_node": 8.0,
		"cpus_per_task": 12.0, "gpus": nil, "gpus_per_node": 8.0, "gpus_per_task": nil, "gpu_type": nil,
		"time_limit_s": 172800.0, "account": nil, "partition": nil, "qos": nil, "array": nil,
		"dependency": nil, "signal": "B:USR1@120", "exclusive": nil, "requeue": true,
		"output": "logs/%x-%j.out", "error": nil, "mem": nil, "estimated_start": "2026-03-10T14:30:00Z",
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %v; want %v", k, m[k], v)
		}
	}
	res, _ := m["resolved"].(map[string]any)
	if res["nodes"] != 4.0 || res["gpus_per_node"] != 8.0 || res["whole_nodes"] != true {
		t.Errorf("resolved = %v; want 4 whole nodes x 8 GPUs", res)
	}
	warns, _ := m["warnings"].([]any)
	if len(warns) != 1 || !strings.Contains(errs, "--mail-type has no effect here") {
		t.Errorf("warnings = %v, stderr %q; want one for --mail-type", warns, errs)
	}
}

func TestSbatchJSONKeysAreNullWhenNotSaid(t *testing.T) {
	code, out, errs := runSbatchCmd(t, "#!/bin/sh\nhostname\n", nil, "gefion", "sbatch", "--test-only", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	m := decode(t, out)
	for _, k := range contractKeys {
		if k == "estimated_start" {
			continue
		}
		if m[k] != nil {
			t.Errorf("%s = %v; want null for a script that says nothing", k, m[k])
		}
	}
	if m["estimated_start"] != "2026-03-10T14:30:00Z" {
		t.Errorf("estimated_start = %v; want now on an empty cluster", m["estimated_start"])
	}
}

func TestSbatchStatusAndMessages(t *testing.T) {
	big := "#!/bin/sh\n" + strings.Repeat("# padding padding padding padding\n", job.MaxScriptSize/30)
	tests := []struct {
		name   string
		stdin  string
		env    map[string]string
		args   []string
		code   int
		stdout []string
		stderr []string
	}{
		{name: "wrap", args: []string{"--test-only", "--json", "--wrap", "srun hostname", "-G", "2"}, code: 0, stdout: []string{`"gpus": 2`}},
		{name: "wrap with script arguments", args: []string{"--wrap", "x", "job.sh"}, code: 2, stderr: []string{"not allowed with --wrap"}},
		{name: "script from stdin", stdin: "#!/bin/sh\n#SBATCH -J piped\nhostname\n", args: []string{"--test-only", "--json"}, code: 0, stdout: []string{`"name": "piped"`}},
		{name: "command line overrides script", stdin: "#!/bin/sh\n#SBATCH -N 4 -J s\n", args: []string{"--test-only", "--json", "-N", "2"}, code: 0, stdout: []string{`"nodes_min": 2`, `"name": "s"`}},
		{name: "environment between script and command line", stdin: "#!/bin/sh\n#SBATCH -t 10\n", env: map[string]string{"SBATCH_TIMELIMIT": "20"}, args: []string{"--test-only", "--json"}, code: 0, stdout: []string{`"time_limit_s": 1200`}},
		{name: "bad value names line and option", stdin: "#!/bin/sh\n#SBATCH -J x\n#SBATCH --time=abc\n", args: []string{"--test-only"}, code: 1, stderr: []string{"stdin: line 3: --time=abc: invalid time"}},
		{name: "unknown option in a script", stdin: "#!/bin/sh\n#SBATCH --bogus\n", args: []string{"--test-only"}, code: 1, stderr: []string{"line 2: --bogus: unrecognized option"}},
		{name: "unknown option on the command line", stdin: "#!/bin/sh\n", args: []string{"--bogus"}, code: 2, stderr: []string{"--bogus: unrecognized option"}},
		{name: "ambiguous option", stdin: "#!/bin/sh\n", args: []string{"--ti=5"}, code: 2, stderr: []string{"ambiguous", "--time-min"}},
		{name: "impossible request", stdin: "#!/bin/sh\n#SBATCH -N1 --gpus-per-node=9\n", args: []string{"--test-only", "--json"}, code: 1, stderr: []string{"9 GPUs per node"}},
		{name: "bigger than the preset", stdin: "#!/bin/sh\n#SBATCH -N 2\n", args: []string{"--test-only", "--preset", "dgx-h100"}, code: 1, stderr: []string{"at most 1"}},
		{name: "not a script", stdin: "hostname\n", args: []string{"--test-only"}, code: 1, stderr: []string{"#!"}},
		{name: "oversized script", stdin: big, args: []string{"--test-only"}, code: 1, stderr: []string{"4 MiB"}},
		{name: "no controller", stdin: "#!/bin/sh\n", code: 1, stderr: []string{"cannot reach the controller at http://127.0.0.1:8420", "gefion dev"}},
		{name: "no controller at GEFION_ADDR", stdin: "#!/bin/sh\n", env: map[string]string{"GEFION_ADDR": "http://127.0.0.1:9"}, code: 1, stderr: []string{"at http://127.0.0.1:9"}},
		{name: "--addr wins", stdin: "#!/bin/sh\n", env: map[string]string{"GEFION_ADDR": "http://127.0.0.1:9"}, args: []string{"--addr", "http://127.0.0.1:1"}, code: 1, stderr: []string{"at http://127.0.0.1:1"}},
		{name: "impossible job is refused before submission", stdin: "#!/bin/sh\n#SBATCH -G 9999\n", args: []string{"--preset", "gefion"}, code: 1, stderr: []string{"job rejected"}},
		{name: "human summary", stdin: "#!/bin/sh\n#SBATCH -J h -G 4\n", args: []string{"--test-only"}, code: 0, stdout: []string{"Job h checked", "would start 2026-03-10T14:30:00Z", "partition   gpu"}},
		{name: "begin moves the estimate", stdin: "#!/bin/sh\n#SBATCH --begin=now+1hour\n", args: []string{"--test-only", "--json"}, code: 0, stdout: []string{`"estimated_start": "2026-03-10T15:30:00Z"`, `"begin": "2026-03-10T15:30:00Z"`}},
		{name: "held job has no estimate", stdin: "#!/bin/sh\n#SBATCH -H\n", args: []string{"--test-only", "--json"}, code: 0, stdout: []string{`"estimated_start": null`}},
		{name: "help", args: []string{"--help"}, code: 0, stdout: []string{"Usage: gefion sbatch"}},
		{name: "quiet hides warnings", stdin: "#!/bin/sh\n#SBATCH --mail-type=END\n", args: []string{"--test-only", "-Q"}, code: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := runSbatchCmd(t, tc.stdin, tc.env, append([]string{"gefion", "sbatch"}, tc.args...)...)
			if code != tc.code {
				t.Errorf("exit %d; want %d\nstdout: %s\nstderr: %s", code, tc.code, out, errs)
			}
			for _, s := range tc.stdout {
				if !strings.Contains(out, s) {
					t.Errorf("stdout lacks %q:\n%s", s, out)
				}
			}
			for _, s := range tc.stderr {
				if !strings.Contains(errs, s) {
					t.Errorf("stderr lacks %q:\n%s", s, errs)
				}
			}
			if tc.name == "quiet hides warnings" && errs != "" {
				t.Errorf("stderr = %q; want nothing with -Q", errs)
			}
		})
	}
}

func TestSbatchAsSymlink(t *testing.T) {
	code, out, errs := runSbatchCmd(t, "#!/bin/sh\n#SBATCH -J linked\n", nil, "/usr/local/bin/sbatch", "--test-only", "--json")
	if code != 0 || !strings.Contains(out, `"name": "linked"`) {
		t.Errorf("as sbatch: exit %d, stdout %s, stderr %s", code, out, errs)
	}
}

// fakeEstimator stands in for the controller's estimate.
type fakeEstimator struct{ at time.Time }

func (f fakeEstimator) EstimateStart(*job.Spec, job.Request, time.Time) (time.Time, bool, error) {
	return f.at, true, nil
}

func TestSbatchSeams(t *testing.T) {
	oldEst, oldSubmit := estimator, submitJob
	t.Cleanup(func() { estimator, submitJob = oldEst, oldSubmit })
	estimator = fakeEstimator{at: time.Date(2026, 3, 11, 8, 0, 0, 0, time.UTC)}
	code, out, _ := runSbatchCmd(t, "#!/bin/sh\n", nil, "gefion", "sbatch", "--test-only", "--json")
	if code != 0 || !strings.Contains(out, `"estimated_start": "2026-03-11T08:00:00Z"`) {
		t.Errorf("with the controller's estimate: exit %d, %s", code, out)
	}
	var got *job.Spec
	submitJob = func(_ *Env, addr string, s *job.Spec) (job.ID, error) { got = s; return 42, nil }
	code, out, errs := runSbatchCmd(t, "#!/bin/sh\n#SBATCH -J sub\nhostname\n", nil, "gefion", "sbatch", "-N", "1")
	if code != 0 || out != "Submitted batch job 42\n" {
		t.Errorf("submit: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	if got == nil || got.Name != "sub" || got.NodesMin != 1 || !strings.Contains(got.Script, "hostname") {
		t.Errorf("submitted spec = %+v", got)
	}
	code, out, _ = runSbatchCmd(t, "#!/bin/sh\n", nil, "gefion", "sbatch", "--parsable")
	if code != 0 || out != "42\n" {
		t.Errorf("--parsable: exit %d, stdout %q; want 42", code, out)
	}
}
