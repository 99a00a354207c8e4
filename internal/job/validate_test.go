package job

import (
	"errors"
	"math"
	"strings"
	"testing"
)

// TestValidateRejects checks that a spec sent to the API directly meets the
// rules sbatch's parser applies, each problem naming its field.
func TestValidateRejects(t *testing.T) {
	c := gefion(t)
	ok := func() Spec { return Spec{Script: testScript, GPUs: 1} }
	big := strings.Repeat("x", 200<<10)
	env := make([]string, 0, 11)
	for range 11 {
		env = append(env, "X="+big[:100<<10])
	}
	tests := []struct {
		name string
		edit func(*Spec)
		msg  string
	}{
		{"no script", func(s *Spec) { s.Script = "" }, "script: "},
		{"script without #!", func(s *Spec) { s.Script = "echo hi\n" }, "#!"},
		{"memory per CPU overflows", func(s *Spec) { s.MemPerCPUMB = math.MaxInt64 }, "mem_per_cpu_mb"},
		{"negative memory", func(s *Spec) { s.MemPerNodeMB = -2 }, "mem_per_node_mb"},
		{"two memory forms", func(s *Spec) { s.MemPerNodeMB, s.MemPerGPUMB = 10, 10 }, "mutually exclusive"},
		{"negative time-min", func(s *Spec) { s.TimeMinS = -5 }, "time_min_s"},
		{"time-min over time", func(s *Spec) { s.TimeLimitS, s.TimeMinS = 60, 120 }, "time_min_s"},
		{"begin far away", func(s *Spec) { s.BeginS = math.MaxInt64 }, "begin_s"},
		{"negative begin", func(s *Spec) { s.BeginS = -1 }, "begin_s"},
		{"nice out of range", func(s *Spec) { s.Nice = math.MinInt }, "nice"},
		{"huge count", func(s *Spec) { s.NTasks = math.MaxInt }, "ntasks"},
		{"negative GPUs", func(s *Spec) { s.GPUs = -1 }, "gpus"},
		{"bad array", func(s *Spec) { s.Array = "5-1" }, "array"},
		{"bad dependency", func(s *Spec) { s.Dependency = "whenever:1" }, "dependency"},
		{"bad signal", func(s *Spec) { s.Signal = "NOPE" }, "signal"},
		{"bad open mode", func(s *Spec) { s.OpenMode = "sideways" }, "open_mode"},
		{"bad mail type", func(s *Spec) { s.MailType = "SOMETIMES" }, "mail_type"},
		{"long name", func(s *Spec) { s.Name = big }, "(name): 204800 bytes is over the limit of 1024"},
		{"long comment", func(s *Spec) { s.Comment = big }, "(comment)"},
		{"long output path", func(s *Spec) { s.Output = big }, "(output)"},
		{"long account", func(s *Spec) { s.Account = big }, "(account)"},
		{"NUL in a path", func(s *Spec) { s.Chdir = "/tmp\x00x" }, "NUL"},
		{"many partitions", func(s *Spec) { s.Partitions = strings.Split(strings.Repeat("gpu,", 65)+"gpu", ",") }, "partitions"},
		{"empty partition", func(s *Spec) { s.Partitions = []string{""} }, "partitions[0]"},
		{"environment too large", func(s *Spec) { s.Env = env }, "env: 1126422 bytes in all is over the limit of 1048576"},
		{"environment entry without =", func(s *Spec) { s.Env = []string{"JUSTANAME"} }, "env[0]"},
		{"too many arguments", func(s *Spec) { s.Argv = make([]string, MaxArgs+1) }, "argv"},
		{"array of big tasks", func(s *Spec) { s.Array, s.Env = "0-1000", env[:1] }, "the submission stores"},
	}
	for _, tc := range tests {
		s := ok()
		tc.edit(&s)
		_, err := Resolve(&s, c)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: Resolve error = %v; want ErrInvalid mentioning %q", tc.name, err, tc.msg)
		}
	}
	s := ok()
	if _, err := Resolve(&s, c); err != nil {
		t.Errorf("Resolve(a plain spec) = %v; want it accepted", err)
	}
	// Every problem is reported at once.
	s.Script, s.Nice, s.OpenMode = "", MaxNice+1, "x"
	err := s.Validate()
	for _, field := range []string{"script", "nice", "open_mode"} {
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("Validate() = %v; want it to name %s", err, field)
		}
	}
}

func TestNodesZeroRejected(t *testing.T) {
	for _, v := range []string{"0", "0-4", "0,2"} {
		var s Spec
		if _, _, err := ParseOptions([]string{"--nodes=" + v}, &s); err == nil {
			t.Errorf("--nodes=%s: accepted as %d-%d; want an invalid node count error, as Slurm", v, s.NodesMin, s.NodesMax)
		}
	}
}
