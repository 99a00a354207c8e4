//go:build !linux

package agent

import (
	"errors"

	"github.com/gefion-hpc/gefion/internal/api"
	"syscall"
	"time"
)

// launched is a started batch script.
type launched struct {
	pid     int
	cgroup  string
	failure string
}

func (l *launched) wait() (int, string) { return 1, "" }

// launch fails: the process executor uses Linux's process groups, user
// switching and cgroups.
func (p *Process) launch(j *pjob) (*launched, error) {
	return nil, errors.New("the process executor runs jobs on Linux only; use a virtual node here")
}

// Tail fails: no job ran here to leave an output file.
func (p *Process) Tail(a api.Assignment, max int) (string, bool, error) {
	return "", false, errors.New("the process executor runs jobs on Linux only; this node has no output files")
}

// jobCgroup is a job's cgroup; there are none outside Linux.
type jobCgroup struct{ path string }

func (c *jobCgroup) signal(sig syscall.Signal) {}
func (c *jobCgroup) kill()                     {}
func (c *jobCgroup) memoryPeak() int64         { return 0 }
func (c *jobCgroup) remove(time.Duration) error {
	return nil
}

// checkStateDir has nothing to check where jobs cannot run.
func checkStateDir(string) error { return nil }
