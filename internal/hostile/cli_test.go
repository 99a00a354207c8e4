package hostile

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// gefion runs the CLI against d and returns stdout, stderr and the exit
// status.
func (d *dev) gefion(args ...string) (string, string, int) {
	d.t.Helper()
	cmd := exec.Command(d.bin, args...)
	cmd.Env = append(os.Environ(), "GEFION_ADDR="+d.addr)
	cmd.Env = slicesDelete(cmd.Env, "GEFION_USER=")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		d.t.Fatalf("gefion %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

func slicesDelete(env []string, prefix string) []string {
	out := env[:0]
	for _, e := range env {
		if !strings.HasPrefix(e, prefix) {
			out = append(out, e)
		}
	}
	return out
}

// A job name can carry escape sequences, a right-to-left override and a
// newline; tables must show them escaped, one row per job.
func TestTerminalInjection(t *testing.T) {
	d := startDev(t)
	name := "evil\x1b[2J\x1b[31m\u202eboj\nrow"
	body := `{"spec":{"script":"#!/bin/sh\nsleep 100\n","chdir":"/tmp","hold":true,"name":` + quote(name) + `}}`
	if code, resp := d.do("POST", "/v1/jobs", body, nil); code != 200 {
		// Refusing such names at submission is safe too.
		if code != 400 {
			t.Fatalf("submitting a job with control characters in its name = %d %s", code, resp)
		}
		return
	}
	for _, args := range [][]string{{"queue"}, {"queue", "--all"}, {"acct"}, {"why", "1"}, {"scontrol", "show", "job", "1"}} {
		out, errOut, code := d.gefion(args...)
		if code != 0 {
			t.Errorf("gefion %v exited %d: %s", args, code, errOut)
			continue
		}
		all := out + errOut
		if strings.ContainsAny(all, "\x1b\u202e") {
			t.Errorf("gefion %v printed raw control characters: %q", args, all)
		}
		if strings.Contains(all, "\nrow") {
			t.Errorf("gefion %v printed the name's newline raw: %q", args, all)
		}
	}
}

// A job that cannot start says why, in why and acct, not only in the
// controller's log.
func TestLaunchFailureReasonIsShown(t *testing.T) {
	d := startDev(t)
	// A regular file where a directory should be: no user, root
	// included, can create the output file under it.
	notDir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notDir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, body, want string
	}{
		{"missing chdir", `{"spec":{"script":"#!/bin/sh\ntrue\n","chdir":"/nonexistent/dir"}}`, "/nonexistent/dir"},
		{"unwritable output", `{"spec":{"script":"#!/bin/sh\ntrue\n","chdir":"/tmp","output":` + quote(filepath.Join(notDir, "sub", "o.out")) + `}}`, "o.out"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, resp := d.do("POST", "/v1/jobs", tc.body, nil)
			if code != 200 {
				// Refusing at submission with the reason is as good.
				if code == 400 && strings.Contains(resp, tc.want) {
					return
				}
				t.Fatalf("submit = %d %s", code, resp)
			}
			id := strings.TrimSpace(between(resp, `"id":`, ","))
			deadline := time.Now().Add(20 * time.Second)
			for {
				_, out := d.do("GET", "/v1/jobs/"+id, "", nil)
				if strings.Contains(out, `"FAILED"`) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("job %s did not fail within 20 s: %s", id, out)
				}
				time.Sleep(100 * time.Millisecond)
			}
			for _, args := range [][]string{{"why", id}, {"acct"}} {
				out, errOut, _ := d.gefion(args...)
				if !strings.Contains(out+errOut, tc.want) {
					t.Errorf("gefion %v does not say why job %s failed (want %q in):\n%s%s", args, id, tc.want, out, errOut)
				}
			}
		})
	}
}

func between(s, a, b string) string {
	_, rest, ok := strings.Cut(s, a)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, b)
	return v
}

// sbatch refuses a node count of 0, as Slurm does.
func TestSbatchRefusesZeroNodes(t *testing.T) {
	d := startDev(t)
	_, errOut, code := d.gefion("sbatch", "--nodes=0", "--wrap", "true")
	if code == 0 || !strings.Contains(strings.ToLower(errOut), "node") {
		t.Errorf("sbatch --nodes=0 exited %d with %q; want a refusal naming the node count", code, errOut)
	}
	if js := d.jobs(); len(js) != 0 {
		t.Errorf("a refused sbatch left %d jobs", len(js))
	}
}
