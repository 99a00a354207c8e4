package job

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// FuzzParseScript checks that no script makes the parser panic, and that
// what it accepts is consistent: the script is kept, the spec's ranges
// are sane, and every warning names its option.
func FuzzParseScript(f *testing.F) {
	scripts, _ := filepath.Glob("testdata/*.sh")
	for _, path := range scripts {
		if b, err := os.ReadFile(path); err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{
		"#!/bin/sh\n#SBATCH -N 2-4 --gpus=h100:8 -t 1-0\n",
		"#!/bin/sh\n#SBATCH --begin=now+1hour --array=1,3,5-7%2 -d afterok:1?afternotok:2\n",
		"#!/bin/sh\n#SBATCH \"--job-name=a b\" 'x'\\ y # c\n",
		"#!/bin/sh\n#SBATCH --nice\n#SBATCH -HvQ\n#SBATCH --mem=0 --gres=gpu\n",
		"#!/bin/sh\n#SBATCH -\n#SBATCH --\n#SBATCH ---x\n#SBATCH --=\n",
		"#!/bin/sh\n#SBATCH --signal=RB:10@5 --switches=2@1:00 --exclusive=user\n",
		"#!",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, script []byte) {
		p := Parser{Now: func() time.Time { return testNow }}
		s := &Spec{}
		w, err := p.Script(script, s)
		for _, x := range w {
			if x.Option == "" || x.Message == "" {
				t.Errorf("warning without option or message: %+v", x)
			}
		}
		if err != nil {
			return
		}
		if s.Script != string(script) {
			t.Errorf("Script not kept")
		}
		if s.NodesMax != 0 && s.NodesMax < s.NodesMin {
			t.Errorf("nodes %d-%d accepted", s.NodesMin, s.NodesMax)
		}
		// --time=0 and --time=UNLIMITED are Slurm's "no limit" and are
		// held as Unlimited, the one negative time limit that is valid.
		if s.NTasks < 0 || s.CPUsPerTask < 0 || s.GPUs < 0 || s.GPUsPerNode < 0 || s.TimeLimitS < 0 && s.TimeLimitS != Unlimited {
			t.Errorf("negative value accepted: %+v", s)
		}
		if s.Array != "" {
			if _, err := ParseArray(s.Array, 0); err != nil {
				t.Errorf("array %q accepted but does not parse: %v", s.Array, err)
			}
		}
		if s.Dependency != "" {
			if _, err := ParseDependency(s.Dependency); err != nil {
				t.Errorf("dependency %q accepted but does not parse: %v", s.Dependency, err)
			}
		}
		if s.Signal != "" {
			if _, err := ParseSignal(s.Signal); err != nil {
				t.Errorf("signal %q accepted but does not parse: %v", s.Signal, err)
			}
		}
	})
}

// FuzzParseOptions checks that no command line makes the parser panic.
func FuzzParseOptions(f *testing.F) {
	for _, s := range []string{"-N 2 job.sh", "--ti=5", "-HN3 --nice --wrap x", "--gres=gpu:a:1,b -G", "-- -x", "--begin 12/24-08:00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		args := strings.Fields(line)
		p := Parser{Now: func() time.Time { return testNow }}
		rest, _, err := p.Args(args, &Spec{})
		if err == nil && len(rest) > len(args) {
			t.Errorf("rest %q longer than args %q", rest, args)
		}
	})
}
