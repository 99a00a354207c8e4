// Package testdev runs the real gefion binary for tests that drive it from
// outside, as users and their tools do: it builds cmd/gefion once per test
// binary and starts `gefion dev` as a separate process on a free loopback
// port, with a fresh data directory, ended when the test ends.
package testdev

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var built struct {
	sync.Mutex
	bin string
	err error
}

// Binary builds cmd/gefion (the full build) once per test binary and
// returns its path. It skips the test under -short.
func Binary(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the gefion binary; skipped with -short")
	}
	built.Lock()
	defer built.Unlock()
	if built.bin == "" && built.err == nil {
		built.err = func() error {
			_, here, _, ok := runtime.Caller(0)
			if !ok {
				return fmt.Errorf("cannot find the source tree")
			}
			src := filepath.Join(filepath.Dir(here), "..", "..", "cmd", "gefion")
			dir, err := os.MkdirTemp("", "gefion-testdev-")
			if err != nil {
				return err
			}
			bin := filepath.Join(dir, "gefion")
			cmd := exec.Command("go", "build", "-o", bin, ".")
			cmd.Dir = src
			if out, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("go build: %v\n%s", err, out)
			}
			built.bin = bin
			return nil
		}()
	}
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.bin
}

// Dev is a running gefion dev.
type Dev struct {
	// Bin is the gefion binary; Addr the controller's URL; Dir its data
	// directory.
	Bin, Addr, Dir string

	mu  sync.Mutex
	log bytes.Buffer
}

// Log returns what gefion dev wrote to stderr so far.
func (d *Dev) Log() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.log.String()
}

var addrRE = regexp.MustCompile(`controller at (http://127\.0\.0\.1:\d+)`)

// Start runs `gefion dev --listen 127.0.0.1:0 --data-dir DIR ARGS...`
// without cgroups and waits until it says where it listens.
func Start(t testing.TB, args ...string) *Dev {
	t.Helper()
	d := &Dev{Bin: Binary(t), Dir: t.TempDir()}
	cmd := exec.Command(d.Bin, append([]string{"dev", "--data-dir", d.Dir, "--listen", "127.0.0.1:0"}, args...)...)
	cmd.Env = append(os.Environ(), "GEFION_NO_CGROUPS=1", "GEFION_AGENT_STATE_DIR="+filepath.Join(d.Dir, "agent"))
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("gefion dev's log:\n%s", d.Log())
		}
	})
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			d.mu.Lock()
			d.log.WriteString(line + "\n")
			d.mu.Unlock()
			if m := addrRE.FindStringSubmatch(line); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
		_ = cmd.Wait()
		close(exited)
	}()
	select {
	case d.Addr = <-found:
	case <-exited:
		t.Fatalf("gefion dev exited before it listened:\n%s", d.Log())
	case <-time.After(60 * time.Second):
		t.Fatalf("gefion dev did not start within 60 s:\n%s", d.Log())
	}
	return d
}

// Commands makes a directory of the Slurm command names linked to the
// gefion binary, to put first on a tool's PATH.
func (d *Dev) Commands(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range strings.Fields("sbatch squeue scancel sinfo sacct scontrol srun salloc sacctmgr sshare sstat sprio") {
		if err := os.Symlink(d.Bin, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}
