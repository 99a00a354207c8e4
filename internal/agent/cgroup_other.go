//go:build !linux

package agent

import "errors"

// cgroupRoot is the parent of the jobs' cgroups; there are none outside
// Linux.
type cgroupRoot struct{ dir string }

var wantControllers = []string{"cpu", "memory", "pids"}

func openCgroupRoot(string) (*cgroupRoot, error) {
	return nil, errors.New("cgroups exist on Linux only")
}

func (r *cgroupRoot) has(string) bool { return false }
