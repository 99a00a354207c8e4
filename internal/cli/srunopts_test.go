package cli

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gefion-hpc/gefion/internal/api"
)

func TestParseSrun(t *testing.T) {
	tests := []struct {
		args []string
		want api.StepRequest
		argv []string
	}{
		{[]string{"-n4", "-N", "2", "--gpus-per-task=1", "-l", "python", "-n", "x"},
			api.StepRequest{Tasks: 4, Nodes: 2, GPUsPerTask: 1}, []string{"python", "-n", "x"}},
		{[]string{"--ntasks=8", "--ntasks-per-node", "4", "-c", "2", "--gpus=h100:4", "--gpu-bind=single:1", "-m", "cyclic:block", "hostname"},
			api.StepRequest{Tasks: 8, TasksPerNode: 4, CPUsPerTask: 2, GPUs: 4, GPUBind: "single:1", Distribution: "cyclic"}, []string{"hostname"}},
		{[]string{"-w", "dev[1-2]", "-x", "dev3", "--exclusive", "--overlap", "-K", "-t", "1:00", "-J", "x", "--cpu-bind=none", "--mpi=none", "--", "-weird"},
			api.StepRequest{NodeList: "dev[1-2]", Exclude: "dev3", Exclusive: true, Overlap: true, KillOnBadExit: true, TimeLimitS: 60, Name: "x", MPI: "none"}, []string{"-weird"}},
		{[]string{"--mpi=pmi2", "./a.out"}, api.StepRequest{MPI: "pmi2"}, []string{"./a.out"}},
		{[]string{"-lu", "--kill-on-bad-exit=0", "true"}, api.StepRequest{}, []string{"true"}},
	}
	for _, tc := range tests {
		o, argv, err := parseSrun(tc.args)
		if err != nil {
			t.Errorf("parseSrun(%q) = %v", tc.args, err)
			continue
		}
		if diff := cmp.Diff(tc.want, o.req); diff != "" || !cmp.Equal(argv, tc.argv) {
			t.Errorf("parseSrun(%q): argv %q (want %q), request (-want +got):\n%s", tc.args, argv, tc.argv, diff)
		}
	}
}

func TestParseSrunRefusals(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--frob", "x"}, "unknown option --frob"},
		{[]string{"-Z", "x"}, "unknown option -Z"},
		{[]string{"-n", "zero", "x"}, "-n/--ntasks=zero: give a positive whole number"},
		{[]string{"-n", "0", "x"}, "-n/--ntasks=0"},
		{[]string{"-N", "2-x", "x"}, "-N/--nodes=2-x"},
		{[]string{"--gpus-per-task=many", "x"}, "--gpus-per-task=many"},
		{[]string{"-m", "plane=4", "x"}, "give block or cyclic"},
		{[]string{"-t", "soon", "x"}, "-t/--time=soon"},
		{[]string{"--mpi=pmix", "x"}, "use --mpi=pmi2"},
		{[]string{"--mpi=openmpi", "x"}, "give none or pmi2"},
		{[]string{"-W", "-1", "x"}, "-W/--wait=-1"},
		{[]string{"--label=yes", "x"}, "--label takes no value"},
		{[]string{"-n"}, "-n needs a value"},
		{[]string{"-w", "./hosts", "x"}, "give host names"},
	}
	for _, tc := range tests {
		_, _, err := parseSrun(tc.args)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseSrun(%q) = %v; want an error saying %q", tc.args, err, tc.want)
		}
	}
}

func TestSrunExport(t *testing.T) {
	e := &Env{Environ: func() []string { return []string{"PATH=/bin", "HOME=/h", "SLURM_JOB_ID=5", "SECRET=x"} }}
	tests := []struct {
		export string
		want   []string
	}{
		{"", []string{"PATH=/bin", "HOME=/h", "SLURM_JOB_ID=5", "SECRET=x"}},
		{"ALL", []string{"PATH=/bin", "HOME=/h", "SLURM_JOB_ID=5", "SECRET=x"}},
		{"NONE", []string{"SLURM_JOB_ID=5"}},
		{"PATH,A=1", []string{"SLURM_JOB_ID=5", "PATH=/bin", "A=1"}},
	}
	for _, tc := range tests {
		got, err := srunEnv(e, tc.export)
		if err != nil || !cmp.Equal(got, tc.want) {
			t.Errorf("srunEnv(--export=%q) = %q, %v; want %q", tc.export, got, err, tc.want)
		}
	}
	if _, err := srunEnv(e, "PATH,,HOME"); err == nil || !strings.Contains(err.Error(), "empty name") {
		t.Errorf("srunEnv(--export=PATH,,HOME) = %v; want an error about the empty name", err)
	}
}
