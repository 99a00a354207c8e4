package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseSlurmArgs(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		want    map[string]string
		pos     []string
		wantErr string
	}{
		{args: []string{"-nu", "alice", "-o", "Account%256"}, want: map[string]string{"n": "", "u": "alice", "o": "Account%256"}},
		{args: []string{"-nualice"}, want: map[string]string{"n": "", "u": "alice"}},
		{args: []string{"--format=JobIdRaw,State", "--noheader", "-X"}, want: map[string]string{"o": "JobIdRaw,State", "n": "", "X": ""}},
		{args: []string{"--format", "%i", "12"}, want: map[string]string{"o": "%i"}, pos: []string{"12"}},
		{args: []string{"--", "-n"}, want: map[string]string{}, pos: []string{"-n"}},
		{args: []string{"--frobnicate"}, wantErr: "unrecognized option '--frobnicate'"},
		{args: []string{"-nZ"}, wantErr: "invalid option -- 'Z'"},
		{args: []string{"-o"}, wantErr: "option -o needs a value"},
		{args: []string{"--noheader=yes"}, wantErr: "takes no value"},
	} {
		got := map[string]string{}
		opt := func(short byte, long string, arg bool) slurmOpt {
			return slurmOpt{short: short, long: long, hasArg: arg, set: func(v string) error { got[string(short)] = v; return nil }}
		}
		opts := []slurmOpt{opt('n', "noheader", false), opt('u', "user", true), opt('o', "format", true), opt('X', "allocations", false)}
		pos, err := parseSlurmArgs("sacct", opts, tc.args)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("parseSlurmArgs(%q) error %v; want %q", tc.args, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseSlurmArgs(%q): %v", tc.args, err)
			continue
		}
		if d := cmp.Diff(tc.want, got); d != "" {
			t.Errorf("parseSlurmArgs(%q) options (-want +got):\n%s", tc.args, d)
		}
		if d := cmp.Diff(tc.pos, pos); d != "" {
			t.Errorf("parseSlurmArgs(%q) words (-want +got):\n%s", tc.args, d)
		}
	}
}

// TestSlurmCommandsRefuse checks that the Slurm commands refuse what they
// do not know before they ask a controller (none is running here), with
// a usage error (status 2) that names the problem.
func TestSlurmCommandsRefuse(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"squeue", "--frobnicate"}, "unrecognized option '--frobnicate'"},
		{[]string{"squeue", "-o", "%i %@"}, "%@ is not a squeue format code"},
		{[]string{"squeue", "-t", "RUNNIN"}, `"RUNNIN" is not a job state`},
		{[]string{"sacct", "-o", "JobID,Frob"}, `sacct field "Frob"`},
		{[]string{"sacct", "--duplicates"}, "unrecognized option '--duplicates'"},
		{[]string{"sinfo", "-o", "%Q"}, "%Q is not a sinfo format code"},
		{[]string{"scontrol", "show", "frob"}, "scontrol show frob"},
		{[]string{"sacctmgr", "show", "user", "format=bogus"}, `sacctmgr field "bogus"`},
		{[]string{"sacctmgr", "show", "cluster"}, "Gefion shows user, account, assoc and qos"},
	} {
		var out, errb bytes.Buffer
		e := &Env{Stdout: &out, Stderr: &errb, Getenv: func(k string) string {
			if k == "GEFION_ADDR" {
				return "http://127.0.0.1:1"
			}
			return ""
		}}
		code := RunEnv(e, append([]string{"/usr/bin/" + tc.args[0]}, tc.args[1:]...))
		if code != 2 || !strings.Contains(errb.String(), tc.want) {
			t.Errorf("%q: status %d, stderr %q; want 2 and %q", tc.args, code, errb.String(), tc.want)
		}
	}
}
