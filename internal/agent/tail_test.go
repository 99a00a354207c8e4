//go:build linux

package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/job"
)

func TestProcessTailReadsTheEndOfTheOutput(t *testing.T) {
	p := newTestProcess(t, ProcessConfig{}, nil)
	dir := t.TempDir()
	a := api.Assignment{JobID: 42, Node: p.cfg.Node, Spec: job.Spec{User: p.self.Name, SubmitDir: dir, Output: "train-%j.out"}}
	if _, missing, err := p.Tail(a, 10); !missing || err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "train-42.out")) {
		t.Errorf("Tail before the file exists = missing %v, %v; want missing, naming the path", missing, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "train-42.out"), []byte("epoch 1\nepoch 2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if text, missing, err := p.Tail(a, 8); err != nil || missing || text != "epoch 2\n" {
		t.Errorf("Tail(8) = %q, %v, %v; want the last 8 bytes", text, missing, err)
	}
	if text, _, err := p.Tail(a, 1000); err != nil || text != "epoch 1\nepoch 2\n" {
		t.Errorf("Tail(1000) = %q, %v; want the whole file", text, err)
	}
}

// A root agent reads the file as the job's user: a file that user may not
// read is refused, even though root could read it.
func TestRootAgentTailsWithTheUsersRights(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: only a root agent switches users")
	}
	p := newTestProcess(t, ProcessConfig{}, nil)
	dir, err := os.MkdirTemp("", "gefion-tail-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(dir, "secret.out")
	if err := os.WriteFile(secret, []byte("root only\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a := api.Assignment{JobID: 7, Node: p.cfg.Node, Spec: job.Spec{User: "nobody", SubmitDir: dir, Output: secret}}
	if text, _, err := p.Tail(a, 100); err == nil || text != "" || !strings.Contains(err.Error(), "cannot read the output file") {
		t.Errorf("Tail of a root-only file as nobody = %q, %v; want refused", text, err)
	}
	mine := filepath.Join(dir, "nobody.out")
	if err := os.WriteFile(mine, []byte("nobody's line\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(mine, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	a.Spec.Output = mine
	if text, _, err := p.Tail(a, 100); err != nil || text != "nobody's line\n" {
		t.Errorf("Tail of nobody's file as nobody = %q, %v; want its content", text, err)
	}
}
