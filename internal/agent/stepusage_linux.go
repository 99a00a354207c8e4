//go:build linux

package agent

import (
	"bytes"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/gefion-hpc/gefion/internal/api"
)

// Step usage (sstat): at each heartbeat the agent reads /proc once and
// adds up, for every running task, the processes that belong to it: the
// task's own process, its descendants, and whatever is left in its
// process group (a daemon that double-forked away from its parent). The
// peak memory is the largest sum sampled, as Slurm's jobacct_gather/linux
// takes it. A task's CPU time is its processes' user and system time plus
// that of the children they waited for, so no CPU second is counted
// twice.

// procRoot is where the process table is read (a variable for tests).
var procRoot = "/proc"

// clockTicks is the kernel's USER_HZ, the unit of /proc/PID/stat's
// times: 100 on every Linux architecture Gefion runs on (it is fixed in
// the kernel's ABI, whatever CONFIG_HZ is).
const clockTicks = 100

// procStat is what sstat needs of one line of /proc/PID/stat.
type procStat struct {
	pid, ppid, pgrp int
	// ticks is utime+stime+cutime+cstime.
	ticks  uint64
	majflt int64
	vsizeB int64
	rssPg  int64
}

// parseProcStat reads /proc/PID/stat's line. The command name is in
// parentheses and may hold spaces and parentheses itself, so the fields
// are counted from the last ')'.
func parseProcStat(b []byte) (procStat, bool) {
	var s procStat
	open := bytes.IndexByte(b, '(')
	end := bytes.LastIndexByte(b, ')')
	if open < 1 || end < open || end+2 > len(b) {
		return s, false
	}
	pid, err := strconv.Atoi(string(bytes.TrimSpace(b[:open])))
	if err != nil {
		return s, false
	}
	f := bytes.Fields(b[end+2:])
	// f[0] is the state; the rest follow proc(5)'s numbering less 3.
	if len(f) < 22 {
		return s, false
	}
	num := func(i int) int64 {
		v, _ := strconv.ParseInt(string(f[i]), 10, 64)
		return v
	}
	s.pid = pid
	s.ppid, s.pgrp = int(num(1)), int(num(2))
	s.majflt = num(9)
	s.ticks = uint64(max(num(11), 0) + max(num(12), 0) + max(num(13), 0) + max(num(14), 0))
	s.vsizeB, s.rssPg = num(20), num(21)
	return s, true
}

// readProcTable reads every process's stat line.
func readProcTable() []procStat {
	d, err := os.ReadDir(procRoot)
	if err != nil {
		return nil
	}
	out := make([]procStat, 0, len(d))
	for _, e := range d {
		n := e.Name()
		if n[0] < '0' || n[0] > '9' {
			continue
		}
		b, err := os.ReadFile(procRoot + "/" + n + "/stat")
		if err != nil {
			continue // ended meanwhile
		}
		if s, ok := parseProcStat(b); ok {
			out = append(out, s)
		}
	}
	return out
}

// taskSample adds up the processes of the task whose main process is
// root: memory in KiB, CPU seconds, major page faults. ok is false when
// no such process exists any more.
func taskSample(table []procStat, children map[int][]int, byPID map[int]int, root int) (rssKB, vmKB int64, cpuS float64, pages int64, ok bool) {
	page := int64(os.Getpagesize())
	seen := map[int]bool{}
	var add func(pid int)
	add = func(pid int) {
		i, found := byPID[pid]
		if !found || seen[pid] {
			return
		}
		seen[pid] = true
		s := &table[i]
		rssKB += s.rssPg * page / 1024
		vmKB += s.vsizeB / 1024
		cpuS += float64(s.ticks) / clockTicks
		pages += s.majflt
		for _, c := range children[pid] {
			add(c)
		}
	}
	add(root)
	if !seen[root] {
		return 0, 0, 0, 0, false
	}
	for i := range table {
		if table[i].pgrp == root {
			add(table[i].pid)
		}
	}
	return rssKB, vmKB, cpuS, pages, true
}

// usageRefresh is how old the last sample may be before SampleSteps
// takes a new one: reading the process table costs milliseconds (about
// 35 us a process here), so it is done at most this often, and off the
// heartbeat's path.
const usageRefresh = 2 * time.Second

// usageCache holds the last sample of the running steps.
type usageCache struct {
	mu      sync.Mutex
	at      time.Time
	last    []api.StepUsage
	running bool
}

// SampleSteps returns the last sample of the running steps' tasks on
// this node's parts (StepSampler) and, when it is older than
// usageRefresh, starts taking the next one in the background, so that a
// heartbeat never waits for /proc. A sample is thus up to one heartbeat
// old; the controller drops samples of steps that have ended.
func (p *Process) SampleSteps() []api.StepUsage {
	c := &p.stepUse
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.running && time.Since(c.at) >= usageRefresh {
		c.running = true
		go func() {
			u := p.sampleSteps()
			c.mu.Lock()
			c.last, c.at, c.running = u, time.Now(), false
			c.mu.Unlock()
		}()
	}
	return append([]api.StepUsage(nil), c.last...)
}

// sampleSteps measures the running steps' tasks now.
func (p *Process) sampleSteps() []api.StepUsage {
	p.mu.Lock()
	type part struct {
		k  stepKey
		st *pstep
	}
	parts := make([]part, 0, len(p.steps))
	for k, st := range p.steps {
		parts = append(parts, part{k, st})
	}
	p.mu.Unlock()
	if len(parts) == 0 {
		return nil
	}
	table := readProcTable()
	byPID := make(map[int]int, len(table))
	children := map[int][]int{}
	for i, s := range table {
		byPID[s.pid] = i
		children[s.ppid] = append(children[s.ppid], s.pid)
	}
	now := time.Now().Unix()
	var out []api.StepUsage
	for _, pt := range parts {
		u := api.StepUsage{JobID: pt.k.job, StepID: pt.k.step, Node: pt.k.node, TimeS: now}
		pt.st.mu.Lock()
		for _, t := range pt.st.tasks {
			if t.pid <= 0 || t.exited.Load() {
				continue
			}
			rss, vm, cpu, pages, ok := taskSample(table, children, byPID, t.pid)
			if !ok {
				continue
			}
			t.maxRSSKB, t.maxVMKB = max(t.maxRSSKB, rss), max(t.maxVMKB, vm)
			u.Tasks = append(u.Tasks, api.TaskUsage{Rank: t.rank, RSSKB: rss, MaxRSSKB: t.maxRSSKB, VMSizeKB: vm,
				MaxVMSizeKB: t.maxVMKB, CPUS: cpu, Pages: pages})
		}
		pt.st.mu.Unlock()
		if len(u.Tasks) == 0 {
			continue
		}
		p.sampleStepGPUs(pt.st.l.Part.GPUs, &u)
		out = append(out, u)
	}
	return out
}

// sampleStepGPUs adds the average utilisation and the memory in use of a
// step's GPUs, where the node's meter reads them.
func (p *Process) sampleStepGPUs(gpus []int, u *api.StepUsage) {
	if p.gpus == nil || p.gpus.Meter == nil || len(gpus) == 0 {
		return
	}
	var sum float64
	n := 0
	for _, g := range gpus {
		s, err := p.gpus.Meter.Sample(g)
		if err != nil {
			continue
		}
		u.GPUMemMB += s.MemUsedMB
		if s.HasUtil {
			sum += s.UtilPct
			n++
		}
	}
	if n > 0 {
		avg := sum / float64(n)
		u.GPUUtil = &avg
	}
}
