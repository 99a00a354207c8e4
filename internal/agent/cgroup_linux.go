//go:build linux

package agent

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Jobs get a cgroup v2 each, under one parent the agent owns:
//
//	<agent's cgroup>/gefion.jobs/job<ID>
//
// where the agent's cgroup is its own (from /proc/self/cgroup), or its
// parent when the agent runs in a leaf named "agent" (systemd's
// DelegateSubgroup=agent, as in deploy/gefion-agent.service): cgroup v2
// forbids enabling controllers below a cgroup that holds processes, so a
// delegated service puts itself in a leaf and its jobs beside it.
//
// A job's processes are started in their cgroup (clone3 with
// CLONE_INTO_CGROUP through SysProcAttr.UseCgroupFD), so none runs a moment
// outside it; the cgroup caps memory (memory.max) and CPU time (cpu.max)
// where those controllers are delegated, and whatever the controllers, it
// lets the agent signal and kill every process of the job, also those that
// left the process group (cgroup.kill).

// cgroupRoot is the parent of the jobs' cgroups.
type cgroupRoot struct {
	dir string
	// controllers are the ones enabled for the jobs' cgroups.
	controllers []string
}

// wantControllers are the controllers the agent enables for jobs.
var wantControllers = []string{"cpu", "memory", "pids"}

// cgroup2Mount returns where the cgroup v2 hierarchy is mounted.
func cgroup2Mount() (string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// ID parent major:minor root mountpoint options ... - fstype source super
		fields := strings.Fields(sc.Text())
		sep := slices.Index(fields, "-")
		if sep < 0 || sep+1 >= len(fields) || len(fields) < 5 {
			continue
		}
		if fields[sep+1] == "cgroup2" {
			return fields[4], nil
		}
	}
	return "", errors.New("no cgroup v2 hierarchy is mounted")
}

// ownCgroup returns the agent's cgroup v2 path ("/system.slice/x").
func ownCgroup() (string, error) {
	data, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			return p, nil
		}
	}
	return "", errors.New("the agent is in no cgroup v2")
}

// openCgroupRoot prepares the jobs' parent cgroup under parent (empty:
// found as described above). It fails where there is no writable cgroup
// v2; a root without some controllers is not an error, the jobs then run
// without those limits.
func openCgroupRoot(parent string) (*cgroupRoot, error) {
	if parent == "" {
		mnt, err := cgroup2Mount()
		if err != nil {
			return nil, err
		}
		own, err := ownCgroup()
		if err != nil {
			return nil, err
		}
		parent = filepath.Join(mnt, own)
		if filepath.Base(own) == "agent" {
			parent = filepath.Dir(parent)
		}
	}
	dir := filepath.Join(parent, "gefion.jobs")
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("cgroup v2 at %s is not writable: %w", parent, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "cgroup.procs")); err != nil {
		return nil, fmt.Errorf("%s is not a cgroup v2 directory: %w", dir, err)
	}
	r := &cgroupRoot{dir: dir}
	for _, c := range wantControllers {
		// Enabling may fail at either level (not delegated, or the parent
		// holds processes); the job then goes without this controller.
		_ = os.WriteFile(filepath.Join(parent, "cgroup.subtree_control"), []byte("+"+c), 0)
		if os.WriteFile(filepath.Join(dir, "cgroup.subtree_control"), []byte("+"+c), 0) == nil {
			r.controllers = append(r.controllers, c)
		}
	}
	return r, nil
}

// has reports whether jobs' cgroups get controller c.
func (r *cgroupRoot) has(c string) bool { return slices.Contains(r.controllers, c) }

// jobCgroup is one job's cgroup.
type jobCgroup struct {
	path string
	dir  *os.File // open for CLONE_INTO_CGROUP
}

// create makes the cgroup of a job with its limits: memMB of memory (0: no
// limit) and cpus CPUs' worth of time (0: no limit).
func (r *cgroupRoot) create(name string, memMB int64, cpus int) (*jobCgroup, error) {
	p := filepath.Join(r.dir, name)
	if err := os.Mkdir(p, 0o755); err != nil {
		if !errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("creating cgroup %s: %w", p, err)
		}
		// A cgroup left by an earlier run of the same job: empty it.
		old := &jobCgroup{path: p}
		old.kill()
		_ = old.remove(time.Second)
		if err := os.Mkdir(p, 0o755); err != nil {
			return nil, fmt.Errorf("creating cgroup %s: %w", p, err)
		}
	}
	cg := &jobCgroup{path: p}
	var errs []error
	if memMB > 0 && r.has("memory") {
		errs = append(errs, os.WriteFile(filepath.Join(p, "memory.max"), []byte(strconv.FormatInt(memMB<<20, 10)), 0))
		// Swapping a job out is worse than stopping it at its limit.
		_ = os.WriteFile(filepath.Join(p, "memory.swap.max"), []byte("0"), 0)
	}
	if cpus > 0 && r.has("cpu") {
		const period = 100000
		errs = append(errs, os.WriteFile(filepath.Join(p, "cpu.max"), []byte(fmt.Sprintf("%d %d", cpus*period, period)), 0))
	}
	if err := errors.Join(errs...); err != nil {
		_ = cg.remove(0)
		return nil, fmt.Errorf("setting the limits of cgroup %s: %w", p, err)
	}
	f, err := os.Open(p)
	if err != nil {
		_ = cg.remove(0)
		return nil, err
	}
	cg.dir = f
	return cg, nil
}

// fd is the descriptor SysProcAttr.CgroupFD takes.
func (c *jobCgroup) fd() int { return int(c.dir.Fd()) }

// pids lists the processes in the cgroup.
func (c *jobCgroup) pids() []int {
	data, err := os.ReadFile(filepath.Join(c.path, "cgroup.procs"))
	if err != nil {
		return nil
	}
	var out []int
	for _, f := range strings.Fields(string(data)) {
		if pid, err := strconv.Atoi(f); err == nil {
			out = append(out, pid)
		}
	}
	return out
}

// signal sends sig to every process in the cgroup.
func (c *jobCgroup) signal(sig syscall.Signal) {
	for _, pid := range c.pids() {
		_ = syscall.Kill(pid, sig)
	}
}

// kill kills every process in the cgroup (cgroup.kill, Linux 5.14; one
// SIGKILL each before that).
func (c *jobCgroup) kill() {
	if os.WriteFile(filepath.Join(c.path, "cgroup.kill"), []byte("1"), 0) != nil {
		c.signal(syscall.SIGKILL)
	}
}

// memoryPeak returns the cgroup's peak memory use in MiB (0 if unknown).
func (c *jobCgroup) memoryPeak() int64 {
	data, err := os.ReadFile(filepath.Join(c.path, "memory.peak"))
	if err != nil {
		return 0
	}
	v, _ := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
	return v >> 20
}

// remove deletes the cgroup once its processes are gone, waiting up to
// wait for them to die.
func (c *jobCgroup) remove(wait time.Duration) error {
	if c.dir != nil {
		c.dir.Close()
		c.dir = nil
	}
	deadline := time.Now().Add(wait)
	for {
		err := os.Remove(c.path)
		if err == nil || errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("removing cgroup %s: %w", c.path, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
