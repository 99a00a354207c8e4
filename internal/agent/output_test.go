package agent

import (
	"testing"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/job"
)

func TestExpandPattern(t *testing.T) {
	v := PatternVars{JobID: "42", ArrayJob: "40", ArrayTask: "7", Node: "dgx001", User: "alice", Name: "train"}
	tests := []struct{ in, want string }{
		{"slurm-%j.out", "slurm-42.out"},
		{"%J", "42"},
		{"logs/%x-%j.out", "logs/train-42.out"},
		{"%A_%a", "40_7"},
		{"%4a", "0007"},
		{"%N.%u.%n.%t.%s", "dgx001.alice.0.0.batch"},
		{"100%%", "100%"},
		{"%q%j", "%q42"},
		{"trailing%", "trailing%"},
		{"%12", "%12"},
		{`no\%j`, "no%j"},
		{"%3x", "train"},
	}
	for _, tt := range tests {
		if got := ExpandPattern(tt.in, v); got != tt.want {
			t.Errorf("ExpandPattern(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}

func TestOutputPaths(t *testing.T) {
	base := api.Assignment{JobID: 42, Node: "dgx001.cluster", Spec: job.Spec{Name: "train"}}
	arr := base
	arr.ArrayJob, arr.ArrayTask = 40, 3
	withErr := base
	withErr.Spec.Output, withErr.Spec.Error = "/abs/%j.out", "err/%x.%j"
	tests := []struct {
		name            string
		a               api.Assignment
		wantOut, wantEr string
		same            bool
	}{
		{"default", base, "/w/slurm-42.out", "/w/slurm-42.out", true},
		{"array default", arr, "/w/slurm-40_3.out", "/w/slurm-40_3.out", true},
		{"output and error", withErr, "/abs/42.out", "/w/err/train.42", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, e, same := OutputPaths(tt.a, "/w", "alice")
			if o != tt.wantOut || e != tt.wantEr || same != tt.same {
				t.Errorf("OutputPaths = %q, %q, %v; want %q, %q, %v", o, e, same, tt.wantOut, tt.wantEr, tt.same)
			}
		})
	}
	if got := VarsOf(base, "alice").Node; got != "dgx001" {
		t.Errorf("VarsOf(...).Node = %q; want the short host name dgx001", got)
	}
	if got := VarsOf(base, "alice").ArrayTask; got != noArrayTask {
		t.Errorf("VarsOf(not an array).ArrayTask = %q; want Slurm's %s", got, noArrayTask)
	}
	if got := InputPath(base, "/w", "alice"); got != "/dev/null" {
		t.Errorf("InputPath(no --input) = %q; want /dev/null", got)
	}
}
