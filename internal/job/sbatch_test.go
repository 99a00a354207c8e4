package job

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// testNow is the clock of the tests: Tuesday 10 March 2026, 14:30 UTC.
var testNow = time.Date(2026, 3, 10, 14, 30, 0, 0, time.UTC)

func parse(t *testing.T, script string) (*Spec, []Warning, error) {
	t.Helper()
	p := Parser{Now: func() time.Time { return testNow }}
	s := &Spec{}
	w, err := p.Script([]byte(script), s)
	return s, w, err
}

func mustParse(t *testing.T, script string) (*Spec, []Warning) {
	t.Helper()
	s, w, err := parse(t, script)
	if err != nil {
		t.Fatalf("Script(%q) error: %v", script, err)
	}
	return s, w
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func boolp(b bool) *bool { return &b }

func TestDirectiveRules(t *testing.T) {
	tests := []struct {
		name   string
		script string
		want   Spec
	}{
		{"shebang then directives", "#!/bin/bash\n#SBATCH -J a\n#SBATCH -N 2\n", Spec{Name: "a", NodesMin: 2}},
		{"blank lines and comments do not end directives",
			"#!/bin/bash\n\n# a comment\n   # indented comment\n\t\n#SBATCH -J late\n", Spec{Name: "late"}},
		{"the first command ends directives",
			"#!/bin/bash\n#SBATCH -J before\nmodule load cuda\n#SBATCH -J after\n#SBATCH -N 9\n", Spec{Name: "before"}},
		{"an indented command ends directives",
			"#!/bin/bash\n  echo hi\n#SBATCH -J after\n", Spec{}},
		{"#SBATCH must be at column 0",
			"#!/bin/bash\n #SBATCH -J indented\n\t#SBATCH -N 3\n#SBATCH -n 2\n", Spec{NTasks: 2}},
		{"#SBATCH is case-sensitive", "#!/bin/bash\n#sbatch -J lower\n#SBATCH -n 1\n", Spec{NTasks: 1}},
		{"trailing comment after white space", "#!/bin/bash\n#SBATCH -J name # the name\n", Spec{Name: "name"}},
		{"an unquoted # ends the line even inside a word", "#!/bin/bash\n#SBATCH -J a#b -N 4\n", Spec{Name: "a"}},
		{"double quotes group", "#!/bin/bash\n#SBATCH --job-name=\"my job\" -N 1\n", Spec{Name: "my job", NodesMin: 1}},
		{"single quotes group", "#!/bin/bash\n#SBATCH -J 'a b # c'\n", Spec{Name: "a b # c"}},
		{"quotes in the middle of a word", "#!/bin/bash\n#SBATCH --comment=x\"y z\"w\n", Spec{Comment: "xy zw"}},
		{"escaped space", "#!/bin/bash\n#SBATCH -J a\\ b\n", Spec{Name: "a b"}},
		{"escaped quote and hash", "#!/bin/bash\n#SBATCH --comment=a\\\"b\\#c\n", Spec{Comment: "a\"b#c"}},
		{"value on the next word", "#!/bin/bash\n#SBATCH --time 10\n", Spec{TimeLimitS: 600}},
		{"value on the next line", "#!/bin/bash\n#SBATCH --time\n#SBATCH 10\n", Spec{TimeLimitS: 600}},
		{"several options on a line", "#!/bin/bash\n#SBATCH -N 2 -n16 --cpus-per-task=4\n", Spec{NodesMin: 2, NTasks: 16, CPUsPerTask: 4}},
		{"no space after #SBATCH", "#!/bin/bash\n#SBATCH--nodes=3\n", Spec{NodesMin: 3}},
		{"tabs separate", "#!/bin/bash\n#SBATCH\t-N\t5\n", Spec{NodesMin: 5}},
		{"later lines override earlier", "#!/bin/bash\n#SBATCH -t 10\n#SBATCH -t 20\n", Spec{TimeLimitS: 1200}},
		{"#SLURM lines are read", "#!/bin/bash\n#SLURM -N 7\n", Spec{NodesMin: 7}},
		{"an empty quoted word ends the line", "#!/bin/bash\n#SBATCH -J a \"\" -N 4\n", Spec{Name: "a"}},
		{"script without a newline at the end", "#!/bin/bash\n#SBATCH -J end", Spec{Name: "end"}},
		{"-- ends the options of a directive", "#!/bin/bash\n#SBATCH -J x --\n", Spec{Name: "x"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, _ := mustParse(t, tc.script)
			got.Script = ""
			if !reflect.DeepEqual(*got, tc.want) {
				t.Errorf("Script(%q)\n got  %s\n want %s", tc.script, jsonOf(got), jsonOf(tc.want))
			}
		})
	}
}

func TestDirectiveErrors(t *testing.T) {
	tests := []struct {
		name, script string
		line         int
		option       string // part of the message naming the option
		msg          string // another part of the message
	}{
		{"unknown long option", "#!/bin/bash\n#SBATCH -J a\n#SBATCH --frobnicate=3\n", 3, "--frobnicate", "unrecognized option"},
		{"unknown short option", "#!/bin/bash\n\n\n#SBATCH -y\n", 4, "-y", "unrecognized option"},
		{"bad time", "#!/bin/bash\n#SBATCH -J a\n#SBATCH -N 1\n#SBATCH --time=abc\n", 4, "--time=abc", "invalid time"},
		{"bad time, short option", "#!/bin/bash\n#SBATCH -t 1:2:3:4\n", 2, "-t 1:2:3:4", "invalid time"},
		{"ambiguous abbreviation", "#!/bin/bash\n#SBATCH --mem-per=4G\n", 2, "--mem-per", "ambiguous"},
		{"value missing at the end", "#!/bin/bash\n#SBATCH -J a\n#SBATCH --partition\n", 3, "--partition", "needs a value"},
		{"short value missing", "#!/bin/bash\n#SBATCH -t\n", 2, "-t", "needs a value"},
		{"value given to a flag", "#!/bin/bash\n#SBATCH --hold=yes\n", 2, "--hold=yes", "takes no value"},
		{"stray word", "#!/bin/bash\n#SBATCH -N 2 four\n", 2, "four", "not an option"},
		{"optional value needs =", "#!/bin/bash\n#SBATCH --nice 5\n", 2, "5", "not an option"},
		{"unmatched quote", "#!/bin/bash\n#SBATCH -J \"open\n", 2, "#SBATCH", "unmatched"},
		{"heterogeneous job", "#!/bin/bash\n#SBATCH -N 1\n#SBATCH hetjob\n#SBATCH -N 2\n", 3, "hetjob", "heterogeneous"},
		{"bad node count", "#!/bin/bash\n#SBATCH -N two\n", 2, "-N two", "node count"},
		{"node range backwards", "#!/bin/bash\n#SBATCH --nodes=4-2\n", 2, "--nodes=4-2", "below the minimum"},
		{"zero tasks", "#!/bin/bash\n#SBATCH -n 0\n", 2, "-n 0", "above 0"},
		{"bad memory", "#!/bin/bash\n#SBATCH --mem=lots\n", 2, "--mem=lots", "memory size"},
		{"mem options exclusive", "#!/bin/bash\n#SBATCH --mem=4G --mem-per-cpu=1G\n", 2, "--mem-per-cpu=1G", "mutually exclusive"},
		{"bad dependency", "#!/bin/bash\n#SBATCH -d afterfoo:12\n", 2, "-d afterfoo:12", "unknown type"},
		{"bad array", "#!/bin/bash\n#SBATCH --array=0-5000\n", 2, "--array=0-5000", "MaxArraySize"},
		{"bad signal", "#!/bin/bash\n#SBATCH --signal=FOO@10\n", 2, "--signal=FOO@10", "invalid signal"},
		{"bad open mode", "#!/bin/bash\n#SBATCH --open-mode=rewrite\n", 2, "--open-mode=rewrite", "append or truncate"},
		{"bad exclusive", "#!/bin/bash\n#SBATCH --exclusive=always\n", 2, "--exclusive=always", "--exclusive alone"},
		{"bad requeue", "#!/bin/bash\n#SBATCH --requeue=now\n", 2, "--requeue=now", "expedite"},
		{"bad mail type", "#!/bin/bash\n#SBATCH --mail-type=SOMETIMES\n", 2, "--mail-type=SOMETIMES", "BEGIN"},
		{"bad gpus", "#!/bin/bash\n#SBATCH --gpus=h100:eight\n", 2, "--gpus=h100:eight", "GPU count"},
		{"bad gres", "#!/bin/bash\n#SBATCH --gres=gpu:a:b:4\n", 2, "--gres=gpu:a:b:4", "name[:type][:count]"},
		{"bad begin", "#!/bin/bash\n#SBATCH --begin=someday\n", 2, "--begin=someday", "invalid time"},
		{"bad switches", "#!/bin/bash\n#SBATCH --switches=0\n", 2, "--switches=0", "switch count"},
		{"bad switches wait", "#!/bin/bash\n#SBATCH --switches=1@soon\n", 2, "--switches=1@soon", "maximum wait"},
		{"bad nice", "#!/bin/bash\n#SBATCH --nice=high\n", 2, "--nice=high", "whole number"},
		{"nice out of range", "#!/bin/bash\n#SBATCH --nice=9999999999\n", 2, "--nice=9999999999", "out of range"},
		{"no-effect option still checked", "#!/bin/bash\n#SBATCH --cores-per-socket=x\n", 2, "--cores-per-socket=x", "whole number"},
		{"bad qpu backend", "#!/bin/bash\n#SBATCH --qpu-backend=ion-trap\n", 2, "--qpu-backend=ion-trap", "nvidia"},
		{"gefion's CLI flags are not directives", "#!/bin/bash\n#SBATCH --json\n", 2, "--json", "unrecognized"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := parse(t, tc.script)
			var oe *OptionError
			if !errors.As(err, &oe) {
				t.Fatalf("Script(%q) error = %v; want an *OptionError", tc.script, err)
			}
			if oe.Line != tc.line {
				t.Errorf("Script(%q) error line = %d; want %d (%v)", tc.script, oe.Line, tc.line, err)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "line ") || !strings.Contains(msg, tc.option) || !strings.Contains(msg, tc.msg) {
				t.Errorf("Script(%q) error = %q; want line %d, %q and %q in it", tc.script, msg, tc.line, tc.option, tc.msg)
			}
		})
	}
}

func TestLongOptionAbbreviations(t *testing.T) {
	tests := []struct {
		args []string
		want Spec
		err  string
	}{
		{args: []string{"--job=x"}, want: Spec{Name: "x"}},
		{args: []string{"--part=a,b"}, want: Spec{Partitions: []string{"a", "b"}}},
		{args: []string{"--cpus-per-t=3"}, want: Spec{CPUsPerTask: 3}},
		{args: []string{"--ntasks-per-n=4"}, want: Spec{NTasksPerNode: 4}},
		{args: []string{"--tasks-per=4"}, want: Spec{NTasksPerNode: 4}},
		// An exact name wins over longer names it prefixes.
		{args: []string{"--gpus=2"}, want: Spec{GPUs: 2}},
		{args: []string{"--mem=1G"}, want: Spec{Mem: "1G", MemPerNodeMB: 1024}},
		{args: []string{"--time=5"}, want: Spec{TimeLimitS: 300}},
		{args: []string{"--nodes", "2"}, want: Spec{NodesMin: 2}},
		{args: []string{"--dep", "afterok:1"}, want: Spec{Dependency: "afterok:1"}},
		{args: []string{"--ti=5"}, err: "ambiguous"},
		{args: []string{"--gpus-per=2"}, err: "ambiguous"},
		{args: []string{"--n=2"}, err: "ambiguous"},
		{args: []string{"--mem-per=2G"}, err: "ambiguous"},
		{args: []string{"--clus=x"}, err: "ambiguous"},
		{args: []string{"--"}, want: Spec{}},
		{args: []string{"--nodess=2"}, err: "unrecognized"},
	}
	for _, tc := range tests {
		var s Spec
		_, _, err := ParseOptions(tc.args, &s)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("ParseOptions(%q) error = %v; want %q", tc.args, err, tc.err)
		case tc.err == "" && err != nil:
			t.Errorf("ParseOptions(%q) error = %v", tc.args, err)
		case tc.err == "" && !reflect.DeepEqual(s, tc.want):
			t.Errorf("ParseOptions(%q) = %s; want %s", tc.args, jsonOf(s), jsonOf(tc.want))
		}
	}
}

func TestShortOptions(t *testing.T) {
	tests := []struct {
		args []string
		want Spec
	}{
		{[]string{"-N", "2"}, Spec{NodesMin: 2}},
		{[]string{"-N2"}, Spec{NodesMin: 2}},
		{[]string{"-n4"}, Spec{NTasks: 4}},
		{[]string{"-G", "2"}, Spec{GPUs: 2}},
		{[]string{"-G", "h100:2"}, Spec{GPUs: 2, GPUType: "h100"}},
		{[]string{"-t", "10"}, Spec{TimeLimitS: 600}},
		{[]string{"-J", "name"}, Spec{Name: "name"}},
		{[]string{"-A", "acct"}, Spec{Account: "acct"}},
		{[]string{"-p", "part"}, Spec{Partitions: []string{"part"}}},
		{[]string{"-q", "high"}, Spec{QOS: "high"}},
		{[]string{"-o", "o.txt", "-e", "e.txt", "-i", "in"}, Spec{Output: "o.txt", Error: "e.txt", Input: "in"}},
		{[]string{"-c", "8"}, Spec{CPUsPerTask: 8}},
		{[]string{"-a", "0-3"}, Spec{Array: "0-3"}},
		{[]string{"-d", "afterok:5"}, Spec{Dependency: "afterok:5"}},
		{[]string{"-D", "/scratch"}, Spec{Chdir: "/scratch"}},
		{[]string{"-C", "nvme"}, Spec{Constraint: "nvme"}},
		{[]string{"-H"}, Spec{Hold: true}},
		{[]string{"-HN3"}, Spec{Hold: true, NodesMin: 3}},
		{[]string{"-b", "now+60"}, Spec{BeginS: testNow.Unix() + 60}},
		{[]string{"-w", "dgx[001-004]", "-x", "dgx010"}, Spec{}},
		{[]string{"-t", "-5"}, Spec{}}, // see below: an error
	}
	for _, tc := range tests[:len(tests)-1] {
		p := Parser{Now: func() time.Time { return testNow }}
		var s Spec
		rest, _, err := p.Args(tc.args, &s)
		if err != nil {
			t.Errorf("Args(%q) error: %v", tc.args, err)
			continue
		}
		if len(rest) != 0 {
			t.Errorf("Args(%q) rest = %q; want none", tc.args, rest)
		}
		if !reflect.DeepEqual(s, tc.want) {
			t.Errorf("Args(%q) = %s; want %s", tc.args, jsonOf(s), jsonOf(tc.want))
		}
	}
	// A required value is taken from the next word even if it starts with
	// a dash, as getopt does.
	var s Spec
	if _, _, err := ParseOptions([]string{"-t", "-5"}, &s); err == nil || !strings.Contains(err.Error(), "-t -5") {
		t.Errorf("ParseOptions(-t -5) error = %v; want an invalid time naming -t -5", err)
	}
}

func TestArgsStopAtScript(t *testing.T) {
	var s Spec
	rest, _, err := ParseOptions([]string{"-N", "2", "job.sh", "--epochs=3", "-N", "5"}, &s)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"job.sh", "--epochs=3", "-N", "5"}; !reflect.DeepEqual(rest, want) {
		t.Errorf("rest = %q; want %q", rest, want)
	}
	if s.NodesMin != 2 {
		t.Errorf("NodesMin = %d; want 2 (options after the script belong to it)", s.NodesMin)
	}
	rest, _, err = ParseOptions([]string{"-J", "x", "--", "-script-"}, &s)
	if err != nil || !reflect.DeepEqual(rest, []string{"-script-"}) {
		t.Errorf("ParseOptions with -- = %q, %v; want [-script-]", rest, err)
	}
}

func TestOptionValues(t *testing.T) {
	tests := []struct {
		args []string
		want Spec
	}{
		{[]string{"--nodes=2-4"}, Spec{NodesMin: 2, NodesMax: 4}},
		{[]string{"--nodes=1k"}, Spec{NodesMin: 1024}},
		{[]string{"--nodes=2,4,8-16"}, Spec{NodesMin: 2, NodesMax: 16}},
		{[]string{"--gres=gpu:8"}, Spec{GPUsPerNode: 8}},
		{[]string{"--gres=gpu:h100:4"}, Spec{GPUsPerNode: 4, GPUType: "h100"}},
		{[]string{"--gres=gpu"}, Spec{GPUsPerNode: 1}},
		{[]string{"--gres=gres/gpu:2,shard:1"}, Spec{GPUsPerNode: 2}},
		{[]string{"--gpus-per-node=h100:8"}, Spec{GPUsPerNode: 8, GPUType: "h100"}},
		{[]string{"--gpus-per-task=1"}, Spec{GPUsPerTask: 1}},
		{[]string{"--mem=0"}, Spec{Mem: "0", MemPerNodeMB: -1}},
		{[]string{"--mem-per-cpu=2G"}, Spec{Mem: "--mem-per-cpu=2G", MemPerCPUMB: 2048}},
		{[]string{"--mem-per-gpu=80G"}, Spec{Mem: "--mem-per-gpu=80G", MemPerGPUMB: 81920}},
		{[]string{"--switches=1"}, Spec{MaxSUs: 1}},
		{[]string{"--switches=2@1:00:00"}, Spec{MaxSUs: 2, MaxSUsWaitS: 3600}},
		{[]string{"--exclusive"}, Spec{Exclusive: true}},
		{[]string{"--exclusive", "--oversubscribe"}, Spec{}},
		{[]string{"--requeue"}, Spec{Requeue: boolp(true)}},
		{[]string{"--no-requeue"}, Spec{Requeue: boolp(false)}},
		{[]string{"--requeue", "--no-requeue"}, Spec{Requeue: boolp(false)}},
		{[]string{"--nice"}, Spec{Nice: 100}},
		{[]string{"--nice=-5"}, Spec{Nice: -5}},
		{[]string{"--hold"}, Spec{Hold: true}},
		{[]string{"--comment=duration=300"}, Spec{Comment: "duration=300"}},
		{[]string{"--chdir=/w", "--export=NONE"}, Spec{Chdir: "/w", Export: "NONE"}},
		{[]string{"--open-mode=a"}, Spec{OpenMode: "append"}},
		{[]string{"--open-mode=truncate"}, Spec{OpenMode: "truncate"}},
		{[]string{"--mail-type=BEGIN,END", "--mail-user=me@x"}, Spec{MailType: "BEGIN,END", MailUser: "me@x"}},
		{[]string{"--constraint=a&b"}, Spec{Constraint: "a&b"}},
		{[]string{"--time-min=30"}, Spec{TimeMinS: 1800}},
		{[]string{"--signal=B:USR1@120"}, Spec{Signal: "B:USR1@120"}},
		{[]string{"--array=0-15:4%2"}, Spec{Array: "0-15:4%2"}},
		{[]string{"--dependency=afterok:12:13,afterany:14"}, Spec{Dependency: "afterok:12:13,afterany:14"}},
		{[]string{"--qubits=34", "--qpu-backend=mgpu", "--qpu-precision=double"}, Spec{Qubits: 34, QPUBackend: "mgpu", QPUPrecision: "double"}},
		{[]string{"--begin=16:00"}, Spec{BeginS: time.Date(2026, 3, 10, 16, 0, 0, 0, time.UTC).Unix()}},
	}
	for _, tc := range tests {
		p := Parser{Now: func() time.Time { return testNow }}
		var s Spec
		if _, _, err := p.Args(tc.args, &s); err != nil {
			t.Errorf("Args(%q) error: %v", tc.args, err)
			continue
		}
		if !reflect.DeepEqual(s, tc.want) {
			t.Errorf("Args(%q) = %s; want %s", tc.args, jsonOf(s), jsonOf(tc.want))
		}
	}
}

func TestCommandLineOverridesScript(t *testing.T) {
	script := "#!/bin/bash\n#SBATCH --nodes=2-4 --time=10 --mem=4G -J script --requeue\n"
	p := Parser{}
	s := &Spec{}
	if _, err := p.Script([]byte(script), s); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"SBATCH_TIMELIMIT": "20", "SBATCH_JOB_NAME": "env", "SBATCH_PARTITION": "gpu"}
	if _, err := p.Environment(func(k string) string { return env[k] }, s); err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.Args([]string{"-N", "3", "--mem-per-cpu=1G", "--no-requeue", "-J", "cli"}, s); err != nil {
		t.Fatal(err)
	}
	want := Spec{Name: "cli", NodesMin: 3, TimeLimitS: 1200, Partitions: []string{"gpu"},
		Mem: "--mem-per-cpu=1G", MemPerCPUMB: 1024, Requeue: boolp(false), Script: script}
	if !reflect.DeepEqual(*s, want) {
		t.Errorf("after script, environment and command line:\n got  %s\n want %s", jsonOf(s), jsonOf(want))
	}
}

func TestEnvironmentErrorsNameTheVariable(t *testing.T) {
	var p Parser
	_, err := p.Environment(func(k string) string {
		if k == "SBATCH_TIMELIMIT" {
			return "soon"
		}
		return ""
	}, &Spec{})
	if err == nil || !strings.HasPrefix(err.Error(), "SBATCH_TIMELIMIT: --time=soon") {
		t.Errorf("Environment error = %v; want it to name SBATCH_TIMELIMIT and --time=soon", err)
	}
	var s Spec
	if _, err := p.Environment(func(k string) string {
		return map[string]string{"SBATCH_REQ_SWITCH": "1", "SBATCH_WAIT4SWITCH": "30", "SBATCH_EXCLUSIVE": "user", "SBATCH_NO_REQUEUE": "1"}[k]
	}, &s); err != nil {
		t.Fatal(err)
	}
	if s.MaxSUs != 1 || s.MaxSUsWaitS != 1800 || s.Requeue == nil || *s.Requeue {
		t.Errorf("Environment = %s; want max_sus 1, wait 1800 s, requeue false", jsonOf(s))
	}
}

func TestWarningsOncePerOption(t *testing.T) {
	script := "#!/bin/bash\n#SBATCH --mail-type=BEGIN\n#SBATCH --mail-type=END --mail-user=a@b\n#SBATCH --gpu-bind=closest\n#SBATCH --gpu-bind=none --hint=nomultithread\n#SBATCH -N 1\n"
	p := Parser{}
	s := &Spec{}
	w, err := p.Script([]byte(script), s)
	if err != nil {
		t.Fatal(err)
	}
	_, w2, err := p.Args([]string{"--mail-type=FAIL", "--wckey=x"}, s)
	if err != nil {
		t.Fatal(err)
	}
	w = append(w, w2...)
	count := map[string]int{}
	lines := map[string]int{}
	for _, x := range w {
		count[x.Option]++
		lines[x.Option] = x.Line
		if !strings.Contains(x.Message, "has no effect here") || !strings.HasPrefix(x.Message, x.Option) {
			t.Errorf("warning %q: want it to start with %s and say it has no effect here", x.Message, x.Option)
		}
	}
	want := map[string]int{"--mail-type": 1, "--mail-user": 1, "--gpu-bind": 1, "--hint": 1, "--wckey": 1}
	if !reflect.DeepEqual(count, want) {
		t.Errorf("warnings per option = %v; want %v (%v)", count, want, w)
	}
	if lines["--mail-type"] != 2 || lines["--gpu-bind"] != 4 || lines["--wckey"] != 0 {
		t.Errorf("warning lines = %v; want the first line each option appeared on (0 for the command line)", lines)
	}
	if s.MailType != "FAIL" {
		t.Errorf("MailType = %q; the command line's FAIL should win", s.MailType)
	}
}

// slurmOptions is every long option of Slurm's sbatch (man page, 24.x and
// 25.x), with a value Slurm accepts ("" for options without a value).
var slurmOptions = map[string]string{
	"account": "a", "acctg-freq": "task=30", "array": "0-3", "batch": "a100", "bb": "capacity=1G",
	"bbf": "bb.conf", "begin": "now+1hour", "chdir": "/tmp", "cluster-constraint": "x",
	"clusters": "c1", "comment": "c", "consolidate-segments": "", "constraint": "a|b",
	"container": "/img", "container-id": "id", "contiguous": "", "core-spec": "2",
	"cores-per-socket": "4", "cpu-freq": "High", "cpus-per-gpu": "8", "cpus-per-task": "4",
	"deadline": "2026-12-01T10:00", "delay-boot": "10", "dependency": "afterok:1",
	"distribution": "block:cyclic", "error": "e", "exclude": "dgx001", "exclusive": "",
	"export": "ALL", "export-file": "f", "extra": "k=v", "extra-node-info": "2:8:2",
	"get-user-env": "", "gid": "100", "gpu-bind": "closest", "gpu-freq": "high",
	"gpus": "8", "gpus-per-node": "8", "gpus-per-socket": "4", "gpus-per-task": "1",
	"gres": "gpu:8", "gres-flags": "enforce-binding", "help": "", "hint": "nomultithread",
	"hold": "", "ignore-pbs": "", "input": "in", "job-name": "j", "kill-on-invalid-dep": "yes",
	"licenses": "matlab:1", "mail-type": "END", "mail-user": "u", "mcs-label": "m",
	"mem": "4G", "mem-bind": "local", "mem-per-cpu": "1G", "mem-per-gpu": "8G",
	"mem-update": "10%@60", "mincpus": "4", "network": "def_cq=1", "nice": "", "no-kill": "",
	"no-requeue": "", "nodefile": "nodes.txt", "nodelist": "dgx[001-002]", "nodes": "2",
	"ntasks": "8", "ntasks-per-core": "1", "ntasks-per-gpu": "1", "ntasks-per-node": "8",
	"ntasks-per-socket": "4", "ntasks-per-tres": "1", "oom-kill-step": "", "open-mode": "append", "output": "o",
	"overcommit": "", "oversubscribe": "", "parsable": "", "partition": "gpu", "prefer": "x",
	"priority": "10", "profile": "energy", "propagate": "", "qos": "normal", "quiet": "",
	"reboot": "", "requeue": "", "reservation": "r", "resources": "x", "resv-ports": "",
	"runtime": "oci", "segment": "4", "signal": "USR1", "sockets-per-node": "2",
	"spread-job": "", "spread-segments": "", "stepmgr": "", "switches": "1",
	"test-only": "", "thread-spec": "2", "threads-per-core": "1", "time": "10",
	"time-min": "5", "tmp": "10G", "tres-bind": "gres/gpu:closest", "tres-per-task": "cpu=4",
	"uid": "1000", "usage": "", "use-min-nodes": "", "verbose": "", "version": "", "wait": "",
	"wait-all-nodes": "1", "wckey": "w", "wrap": "hostname",
	// Hidden or second names Slurm also accepts.
	"cluster": "c1", "tasks-per-node": "4", "context": "x", "external": "", "autocomplete": "x",
	// NVIDIA Pyxis's options, which Slurm takes with its SPANK plugin.
	"container-image": "nvcr.io#nvidia/pytorch:24.05-py3", "container-mounts": "/data:/data:ro",
	"container-workdir": "/work", "container-name": "c1", "container-env": "A,B",
	"container-remap-root": "", "no-container-remap-root": "", "container-mount-home": "",
	"no-container-mount-home": "", "container-writable": "", "container-readonly": "",
}

func TestEverySlurmOptionIsAccepted(t *testing.T) {
	for name, val := range slurmOptions {
		args := []string{"--" + name}
		if val != "" {
			args[0] += "=" + val
		}
		p := Parser{Now: func() time.Time { return testNow }}
		if _, _, err := p.Args(args, &Spec{}); err != nil {
			t.Errorf("Args(%q) error: %v; Slurm accepts it", args, err)
		}
		// The same from a script, where a value follows its option.
		script := "#!/bin/bash\n#SBATCH " + args[0] + "\n"
		if _, _, err := parse(t, script); err != nil {
			t.Errorf("Script(%q) error: %v; Slurm accepts it", script, err)
		}
	}
	for _, name := range OptionNames() {
		if _, ok := slurmOptions[name]; !ok && !strings.HasPrefix(name, "q") {
			t.Errorf("option --%s is in the table but not in Slurm's list: add it to slurmOptions or remove it", name)
		}
	}
}

func TestNoEffectOptionsWarn(t *testing.T) {
	honoured := map[string]bool{}
	for name, val := range slurmOptions {
		args := []string{"--" + name}
		if val != "" {
			args[0] += "=" + val
		}
		p := Parser{Now: func() time.Time { return testNow }}
		_, w, err := p.Args(args, &Spec{})
		if err != nil {
			t.Fatalf("Args(%q): %v", args, err)
		}
		if len(w) == 0 {
			honoured[name] = true
		}
	}
	// Every honoured option must change the spec or the submission; the
	// rest must have warned. This list is the contract of what works.
	want := []string{"account", "array", "begin", "chdir", "comment", "cpus-per-task", "dependency",
		"error", "exclusive", "export", "gpus", "gpus-per-node", "gpus-per-task", "gres", "help",
		"hold", "input", "job-name", "mem", "mem-per-cpu", "mem-per-gpu", "nice", "no-kill", "no-requeue",
		"nodes", "ntasks", "ntasks-per-node", "open-mode", "output", "parsable", "partition", "qos",
		"quiet", "requeue", "signal", "switches", "tasks-per-node", "test-only", "time", "time-min",
		"usage", "verbose", "version", "wait", "wrap",
		"container-image", "container-mounts", "container-workdir", "container-name", "container-env",
		"container-remap-root", "no-container-remap-root", "container-mount-home", "no-container-mount-home",
		"container-writable", "container-readonly"}
	for _, n := range want {
		if !honoured[n] {
			t.Errorf("--%s warned; it is honoured", n)
		}
		delete(honoured, n)
	}
	for n := range honoured {
		t.Errorf("--%s gave no warning and is not in the list of honoured options", n)
	}
}

func TestSubmissionOptions(t *testing.T) {
	p := Parser{}
	rest, _, err := p.Args([]string{"--test-only", "--parsable", "-vv", "-Q", "-W", "--wrap", "srun hostname"}, &Spec{})
	if err != nil || len(rest) != 0 {
		t.Fatalf("Args = %q, %v", rest, err)
	}
	want := Submission{TestOnly: true, Parsable: true, Verbose: 2, Quiet: true, Wait: true, Wrap: "srun hostname", WrapSet: true}
	if p.Submission != want {
		t.Errorf("Submission = %+v; want %+v", p.Submission, want)
	}
	// In a script, --wrap and --help mean nothing and only warn.
	p = Parser{}
	w, err := p.Script([]byte("#!/bin/sh\n#SBATCH --wrap=x --help\n"), &Spec{})
	if err != nil || len(w) != 2 || p.Submission.WrapSet || p.Submission.Help {
		t.Errorf("Script with --wrap --help: warnings %v, err %v, submission %+v", w, err, p.Submission)
	}
}

func TestExtraOptions(t *testing.T) {
	var asJSON bool
	var addr string
	p := Parser{Extra: []ExtraOption{
		{Name: "json", Set: func(string) error { asJSON = true; return nil }},
		{Name: "addr", HasArg: true, Set: func(v string) error { addr = v; return nil }},
	}}
	if _, _, err := p.Args([]string{"--js", "--addr", "http://x", "-N1"}, &Spec{}); err != nil {
		t.Fatal(err)
	}
	if !asJSON || addr != "http://x" {
		t.Errorf("json=%v addr=%q; want true, http://x", asJSON, addr)
	}
	if _, _, err := p.Args([]string{"--a=1"}, &Spec{}); err == nil || !strings.Contains(err.Error(), "--addr") {
		t.Errorf("--a error = %v; want ambiguity naming --addr among the others", err)
	}
	if _, _, err := p.Args([]string{"--json=yes"}, &Spec{}); err == nil {
		t.Error("--json=yes: want an error, it takes no value")
	}
}

func TestCheckScript(t *testing.T) {
	tests := []struct {
		name   string
		script []byte
		want   error
	}{
		{"fine", []byte("#!/bin/sh\necho\n"), nil},
		{"empty", nil, ErrBadScript},
		{"white space", []byte(" \n\t\n"), ErrBadScript},
		{"no shebang", []byte("#SBATCH -N 1\necho\n"), ErrBadScript},
		{"NUL byte", []byte("#!/bin/sh\necho \x00\n"), ErrBadScript},
		{"DOS line breaks", []byte("#!/bin/sh\r\n#SBATCH -N 1\r\n"), ErrBadScript},
		{"too large", append([]byte("#!/bin/sh\n"), make([]byte, MaxScriptSize)...), ErrScriptTooLarge},
	}
	for _, tc := range tests {
		err := CheckScript(tc.script)
		if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("%s: CheckScript = %v; want %v", tc.name, err, tc.want)
		}
	}
	if _, _, err := ParseScript([]byte("echo hi\n")); !errors.Is(err, ErrBadScript) {
		t.Errorf("ParseScript without #! = %v; want ErrBadScript", err)
	}
}

func TestWrapScript(t *testing.T) {
	s, w, err := ParseScript(WrapScript("srun hostname # not a directive"))
	if err != nil || len(w) != 0 {
		t.Fatalf("ParseScript(WrapScript) = %v, %v", w, err)
	}
	if !strings.HasPrefix(s.Script, "#!/bin/sh\n") || !strings.Contains(s.Script, "srun hostname") {
		t.Errorf("wrapped script = %q", s.Script)
	}
}

func TestParseBegin(t *testing.T) {
	at := func(y int, mo time.Month, d, h, m, s int) time.Time { return time.Date(y, mo, d, h, m, s, 0, time.UTC) }
	tests := []struct {
		in   string
		want time.Time
	}{
		{"now", testNow},
		{"now+60", testNow.Add(time.Minute)},
		{"now+1hour", testNow.Add(time.Hour)},
		{"now+2hours", testNow.Add(2 * time.Hour)},
		{"now+30minutes", testNow.Add(30 * time.Minute)},
		{"now+1day", testNow.Add(24 * time.Hour)},
		{"now+1week", testNow.Add(7 * 24 * time.Hour)},
		{"now + 10 seconds", testNow.Add(10 * time.Second)},
		{"NOW-5minutes", testNow.Add(-5 * time.Minute)},
		{"16:00", at(2026, 3, 10, 16, 0, 0)},
		{"14:00", at(2026, 3, 11, 14, 0, 0)}, // passed today: tomorrow
		{"14:30", at(2026, 3, 11, 14, 30, 0)},
		{"16:00:30", at(2026, 3, 10, 16, 0, 30)},
		{"4:00pm", at(2026, 3, 10, 16, 0, 0)},
		{"9:15 AM", at(2026, 3, 11, 9, 15, 0)},
		{"12:00am", at(2026, 3, 11, 0, 0, 0)},
		{"midnight", at(2026, 3, 11, 0, 0, 0)},
		{"noon", at(2026, 3, 11, 12, 0, 0)},
		{"teatime", at(2026, 3, 10, 16, 0, 0)},
		{"fika", at(2026, 3, 10, 15, 0, 0)},
		{"elevenses", at(2026, 3, 11, 11, 0, 0)},
		{"today", at(2026, 3, 10, 0, 0, 0)},
		{"tomorrow", at(2026, 3, 11, 0, 0, 0)},
		{"tomorrow noon", at(2026, 3, 11, 12, 0, 0)},
		{"2026-12-24", at(2026, 12, 24, 0, 0, 0)},
		{"2026-12-24T18:30", at(2026, 12, 24, 18, 30, 0)},
		{"2026-12-24T18:30:15", at(2026, 12, 24, 18, 30, 15)},
		{"12/24", at(2026, 12, 24, 0, 0, 0)},
		{"12/24/27", at(2027, 12, 24, 0, 0, 0)},
		{"12.24.27", at(2027, 12, 24, 0, 0, 0)},
		{"122427", at(2027, 12, 24, 0, 0, 0)},
		{"1224", at(2026, 12, 24, 0, 0, 0)},
		{"03/01", at(2027, 3, 1, 0, 0, 0)}, // already past this year
		{"12/24-08:00", at(2026, 12, 24, 8, 0, 0)},
		{"uts1800000000", time.Unix(1800000000, 0).UTC()},
	}
	for _, tc := range tests {
		got, err := ParseBegin(tc.in, testNow)
		if err != nil {
			t.Errorf("ParseBegin(%q) error: %v", tc.in, err)
			continue
		}
		if !got.Equal(tc.want) {
			t.Errorf("ParseBegin(%q) = %v; want %v", tc.in, got, tc.want)
		}
	}
	for _, in := range []string{"", "soon", "now+", "now+5fortnights", "nowish", "25:00", "13:00pm", "2026-13-01", "13/01", "12/32", "uts12", "1:2x", "12/24/2"} {
		if got, err := ParseBegin(in, testNow); err == nil {
			t.Errorf("ParseBegin(%q) = %v; want an error", in, got)
		}
	}
}

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// goldenResult is what a golden file holds for one script.
type goldenResult struct {
	Spec     *Spec     `json:"spec,omitempty"`
	Warnings []Warning `json:"warnings"`
	Error    string    `json:"error,omitempty"`
}

// TestGoldenScripts parses the realistic scripts under testdata/ and
// compares the spec, warnings and error with testdata/NAME.golden. Run
// with -update to rewrite them after a deliberate change.
func TestGoldenScripts(t *testing.T) {
	scripts, err := filepath.Glob("testdata/*.sh")
	if err != nil || len(scripts) == 0 {
		t.Fatalf("no scripts under testdata/: %v", err)
	}
	for _, path := range scripts {
		t.Run(filepath.Base(path), func(t *testing.T) {
			src, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			p := Parser{Now: func() time.Time { return testNow }}
			s := &Spec{}
			w, err := p.Script(src, s)
			res := goldenResult{Warnings: w}
			if res.Warnings == nil {
				res.Warnings = []Warning{}
			}
			if err != nil {
				res.Error = err.Error()
			} else {
				s.Script = "" // the script is the input; keep the golden file readable
				res.Spec = s
			}
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			enc.SetIndent("", "  ")
			if err := enc.Encode(res); err != nil {
				t.Fatal(err)
			}
			got := buf.Bytes()
			golden := strings.TrimSuffix(path, ".sh") + ".golden"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -run TestGoldenScripts -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from %s (-want +got):\n%s", path, golden, lineDiff(string(want), string(got)))
			}
		})
	}
}

// lineDiff shows the lines that differ between two texts.
func lineDiff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := 0; i < max(len(wl), len(gl)); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			b.WriteString("-" + w + "\n+" + g + "\n")
		}
	}
	return b.String()
}

// BenchmarkParseScript parses the multi-node PyTorch script of testdata/.
func BenchmarkParseScript(b *testing.B) {
	src, err := os.ReadFile("testdata/pytorch-multinode.sh")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		if _, _, err := ParseScript(src); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "scripts/s")
}

// TestNodeListCheckBuildsNoList: --nodelist and --exclude are only
// checked for syntax; checking a million-name list must not build it (it
// cost a second and a hundred megabytes per option), and a list past
// hostlist.MaxHosts is still refused.
func TestNodeListCheckBuildsNoList(t *testing.T) {
	allocs := testing.AllocsPerRun(3, func() {
		if err := checkHostlist("n[000000-999999]"); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 100 {
		t.Errorf("checking a million-name list made %.0f allocations; want it checked without building the names", allocs)
	}
	if err := checkHostlist("n[0-9999999]"); err == nil {
		t.Error("checkHostlist(n[0-9999999]) = nil; want the list refused as too long")
	}
}
