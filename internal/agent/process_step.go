//go:build linux

package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/job"
	"github.com/gefion-hpc/gefion/internal/pmi"
	"golang.org/x/sys/unix"
)

// Steps on the process executor. Each task of a step is a process of the
// job's user, in a process group of its own and in the job's cgroup where
// the job has one, with StepEnv's environment. Its stdout and stderr are
// pipes that the agent reads and sends to srun as frames (stepio.go); the
// task that reads srun's stdin gets a pipe fed from srun's frames, the
// others /dev/null. A task's exit frame follows all of its output. When a
// task's main process exits, what is left of its process group is
// killed, as Slurm's step end does, so that a stray background process
// cannot hold the step open.

// stepKey names a step's part on one node.
type stepKey struct {
	job  job.ID
	step int
	node string
}

// pstep is a step's part on this node.
type pstep struct {
	l        *api.StepLaunch
	mu       sync.Mutex
	tasks    []*ptask
	timers   []*time.Timer
	ended    chan struct{}
	timedOut atomic.Bool
	// stopSig is the signal that ends the step once one was sent: a
	// task started after it (the cancel overtook the launch) gets it too.
	stopSig syscall.Signal
	// pmi serves the tasks' MPI wire-up (srun --mpi=pmi2), or is nil;
	// pmiCtx ends with the node's part of the step.
	pmi    *stepPMI
	pmiCtx context.Context
	// ctr is the root file system of the step's containers, or nil;
	// cancelStart stops its preparation.
	ctr         *ctrRootfs
	cancelStart func()
}

// ptask is one started task.
type ptask struct {
	rank  int
	pid   int
	stdin *os.File // write end of the task's stdin, or nil
	// pty is the master side of the task's pseudo-terminal (srun --pty),
	// or nil: its input is written there, and its window size set.
	pty *os.File
	// exited is set once the task's main process has been waited for:
	// its PID may then name another process.
	exited atomic.Bool
	// ctr is the task's container, or nil.
	ctr *ctrProc
	// The largest memory sizes sampled (stepusage_linux.go), under the
	// step's mu.
	maxRSSKB, maxVMKB int64
}

var _ StepExecutor = (*Process)(nil)

// dialStep is how the agent reaches srun (a variable for tests).
var dialStep = func(ctx context.Context, addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: 10 * time.Second, KeepAlive: 15 * time.Second}
	return d.DialContext(ctx, "tcp", addr)
}

// Step starts a step's tasks on a node or signals them.
func (p *Process) Step(cmd api.StepCommand, report StepReport) {
	switch {
	case cmd.Launch != nil:
		l := cmd.Launch
		k := stepKey{l.JobID, l.StepID, l.Node}
		st := &pstep{l: l, ended: make(chan struct{})}
		p.mu.Lock()
		if p.steps == nil {
			p.steps = map[stepKey]*pstep{}
		}
		if _, dup := p.steps[k]; dup {
			p.mu.Unlock()
			return
		}
		p.steps[k] = st
		p.mu.Unlock()
		go p.runStep(k, st, report)
	case cmd.Signal != nil:
		s := cmd.Signal
		p.mu.Lock()
		st := p.steps[stepKey{s.JobID, s.StepID, s.Node}]
		p.mu.Unlock()
		if st == nil {
			return
		}
		num, _, err := job.SignalNumber(s.Signal)
		if err != nil {
			p.cfg.Log.Warn("ignoring an unknown signal for a step", "job", s.JobID, "step", s.StepID, "signal", s.Signal)
			return
		}
		p.cfg.Log.Info("signalling a step", "job", s.JobID, "step", s.StepID, "signal", s.Signal)
		p.stepTerminate(st, syscall.Signal(num))
	}
}

// stepTerminate sends sig to every task of the step; TERM is followed by
// KILL after KillWait, as for a job.
func (p *Process) stepTerminate(st *pstep, sig syscall.Signal) {
	st.mu.Lock()
	if st.cancelStart != nil {
		st.cancelStart()
	}
	if st.stopSig != syscall.SIGKILL {
		st.stopSig = sig
	}
	st.mu.Unlock()
	if sig == syscall.SIGTERM {
		st.signal(syscall.SIGCONT)
	}
	st.signal(sig)
	if sig == syscall.SIGTERM || sig == syscall.SIGINT {
		st.after(p.cfg.KillWait, func() { st.signal(syscall.SIGKILL) })
	}
}

// signal sends sig to every task's process group.
func (st *pstep) signal(sig syscall.Signal) {
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, t := range st.tasks {
		switch {
		case t.ctr != nil:
			t.ctr.signal(sig)
		case t.pid > 0:
			_ = syscall.Kill(-t.pid, sig)
		}
	}
}

// after runs f after d unless the step has ended.
func (st *pstep) after(d time.Duration, f func()) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.timers = append(st.timers, time.AfterFunc(d, func() {
		select {
		case <-st.ended:
		default:
			f()
		}
	}))
}

// endSteps kills the tasks of every step of a job's share that ends.
func (p *Process) endSteps(k share) {
	p.mu.Lock()
	var ss []*pstep
	for sk, st := range p.steps {
		if sk.job == k.id && sk.node == k.node {
			ss = append(ss, st)
		}
	}
	p.mu.Unlock()
	for _, st := range ss {
		p.stepTerminate(st, syscall.SIGKILL)
	}
}

// taskEnd is how one task ended.
type taskEnd struct {
	rank int
	code int
	sig  string
}

func (p *Process) runStep(k stepKey, st *pstep, report StepReport) {
	l := st.l
	log := p.cfg.Log.With("job", l.JobID, "step", l.StepID)
	defer func() {
		p.mu.Lock()
		delete(p.steps, k)
		p.mu.Unlock()
	}()
	end := api.Report{Kind: api.ReportStepEnd, JobID: l.JobID, Step: l.StepID, Node: l.Node, Restart: l.Restart}
	fail := func(msg string) <-chan struct{} {
		end.State, end.ExitCode, end.Message = job.Failed, 1, msg
		close(st.ended)
		return report(end)
	}
	key, err := DecodeStepKey(l.IOKey)
	if err != nil {
		fail(err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	conn, err := dialStep(ctx, l.IOAddr)
	cancel()
	if err != nil {
		log.Warn("cannot reach srun", "addr", l.IOAddr, "err", err)
		fail("cannot reach srun at " + l.IOAddr + ": " + err.Error())
		return
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if err := AgentHandshake(conn, key, StepHello{JobID: l.JobID, StepID: l.StepID, NodeIndex: l.NodeIndex}); err != nil {
		log.Warn("step I/O handshake failed", "addr", l.IOAddr, "err", err)
		fail("step I/O handshake with srun failed: " + err.Error())
		return
	}
	_ = conn.SetDeadline(time.Time{})
	fw := NewFrameWriter(conn)
	if l.MPI == "pmi2" {
		var cancel context.CancelFunc
		st.pmiCtx, cancel = context.WithCancel(context.Background())
		defer cancel()
		st.pmi = newStepPMI(l, fw)
	}
	// refuse tells srun why the node runs none of the tasks.
	refuse := func(msg string) {
		_ = fw.Write(FrameError, 0, []byte(l.Node+": "+msg))
		for _, r := range l.Part.Tasks {
			_ = fw.WriteExit(r, 1, "")
		}
		waitDelivered(fail(msg))
		_ = fw.Write(FrameDone, 0, nil)
	}

	p.mu.Lock()
	j := p.jobs[share{l.JobID, l.Node}]
	p.mu.Unlock()
	if j == nil || j.a.Restarts != l.Restart {
		refuse(fmt.Sprintf("job %d is not running on this node", l.JobID))
		return
	}
	u, err := p.jobUser(j.a)
	if err != nil {
		refuse(err.Error())
		return
	}
	wd := l.Cwd
	if wd == "" {
		wd = u.Home
	}
	if wd == "" {
		wd = "/"
	}

	// A container's image is pulled or unpacked once per node for the
	// step (a named one once for the job), before any task starts.
	if c := l.Container; !c.IsZero() {
		ctx, cancel := context.WithCancel(context.Background())
		st.mu.Lock()
		st.cancelStart = cancel
		st.mu.Unlock()
		r, release, err := p.prepareContainer(ctx, j, u, c, "step"+strconv.Itoa(l.StepID))
		cancelled := ctx.Err() != nil
		cancel()
		if cancelled {
			if err == nil {
				release()
			}
			err = errors.New("the step was cancelled while its container image was prepared")
		}
		if err != nil {
			log.Info("step's container cannot start", "err", err)
			refuse(err.Error())
			return
		}
		defer release()
		st.ctr = r
	}

	// The tasks start side by side: a fork and exec each, which on a
	// many-core node need not wait for one another.
	ends := make(chan taskEnd, len(l.Part.Tasks))
	errs := make([]error, len(l.Part.Tasks))
	var started sync.WaitGroup
	for local, rank := range l.Part.Tasks {
		started.Add(1)
		go func() {
			defer started.Done()
			env := p.withControllerAddr(StepEnv(l, local, EnvInput{Cluster: p.cfg.Cluster, WorkDir: wd, User: u}))
			errs[local] = p.startTask(st, j, u, wd, env, rank, fw, ends)
		}()
	}
	started.Wait()
	for _, err := range errs {
		if err != nil {
			// What started is killed; srun hears why.
			p.stepTerminate(st, syscall.SIGKILL)
			for range st.startedCount() {
				<-ends
			}
			refuse(err.Error())
			return
		}
	}
	log.Info("step started", "tasks", len(l.Part.Tasks), "srun", l.IOAddr)

	// srun's frames: input for the stdin task. A connection that drops
	// before the step is done means srun is gone: its tasks end too.
	go func() {
		fr := NewFrameReader(conn)
		var buf []byte
		for {
			var f Frame
			var err error
			f, buf, err = fr.Read(buf)
			if err != nil {
				select {
				case <-st.ended:
				default:
					log.Info("srun went away; killing the step's tasks", "err", err)
					st.signal(syscall.SIGKILL)
				}
				st.closeStdin(-1)
				if st.pmi != nil {
					st.pmi.closed()
				}
				return
			}
			if st.pmi != nil && st.pmi.frame(f) {
				continue
			}
			switch f.Type {
			case FrameStdin:
				st.writeStdin(f.Task, f.Payload)
			case FrameStdinEOF:
				st.closeStdin(f.Task)
			case FrameWinsize:
				st.setWinsize(f.Task, f.Payload)
			}
		}
	}()
	if l.TimeLimitS > 0 {
		st.after(time.Duration(l.TimeLimitS)*time.Second, func() {
			log.Info("step time limit reached")
			st.timedOut.Store(true)
			p.stepTerminate(st, syscall.SIGTERM)
		})
	}

	for range l.Part.Tasks {
		e := <-ends
		if e.code > end.ExitCode {
			end.ExitCode = e.code
		}
		if e.sig != "" && end.Signal == "" {
			end.Signal = e.sig
		}
		if l.KillOnBadExit && (e.code != 0 || e.sig != "") {
			p.stepTerminate(st, syscall.SIGTERM)
		}
	}
	close(st.ended)
	st.mu.Lock()
	for _, t := range st.timers {
		t.Stop()
	}
	st.mu.Unlock()
	if st.timedOut.Load() {
		end.State = job.Timeout
	}
	log.Info("step ended", "exit", end.ExitCode, "signal", end.Signal)
	// srun hears that the node is done once the controller has the
	// step's end: when srun exits, the step is over everywhere.
	waitDelivered(report(end))
	_ = fw.Write(FrameDone, 0, nil)
}

// waitDelivered waits for a report to reach the controller, but not for
// long: an unreachable controller must not hold srun's exit (the report
// is still delivered later).
func waitDelivered(ch <-chan struct{}) {
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
	}
}

func (st *pstep) startedCount() int {
	st.mu.Lock()
	defer st.mu.Unlock()
	return len(st.tasks)
}

func (st *pstep) writeStdin(rank int, data []byte) {
	st.mu.Lock()
	var ws []*os.File
	for _, t := range st.tasks {
		switch {
		case t.rank != rank && rank != api.StdinAll:
		case t.pty != nil:
			ws = append(ws, t.pty)
		case t.stdin != nil:
			ws = append(ws, t.stdin)
		}
	}
	st.mu.Unlock()
	for _, w := range ws {
		// A task that stopped reading loses its input, not the step.
		_, _ = w.Write(data)
	}
}

// closeStdin closes a task's stdin (every task's for a negative rank:
// -1, or api.StdinAll).
func (st *pstep) closeStdin(rank int) {
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, t := range st.tasks {
		if rank >= 0 && t.rank != rank {
			continue
		}
		if t.stdin != nil {
			t.stdin.Close()
			t.stdin = nil
		}
		if t.pty != nil {
			// A terminal has no end of input to close: it reads the
			// end-of-file character, as a shell does at Ctrl-D.
			_, _ = t.pty.Write([]byte{4})
		}
	}
}

// startTask starts one task and a goroutine that forwards its output and
// sends its end on ends.
func (p *Process) startTask(st *pstep, j *pjob, u JobUser, wd string, env []string, rank int, fw *FrameWriter, ends chan<- taskEnd) error {
	l := st.l
	path := ""
	if st.ctr == nil {
		var err error
		if path, err = lookPathIn(l.Argv[0], envValue(env, "PATH"), wd); err != nil {
			return err
		}
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		return err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return err
	}
	var inR, inW *os.File
	if rank == l.Stdin || l.Stdin == api.StdinAll {
		if inR, inW, err = os.Pipe(); err != nil {
			outR.Close()
			outW.Close()
			errR.Close()
			errW.Close()
			return err
		}
	}
	cmd := &exec.Cmd{Path: path, Args: l.Argv, Dir: wd, Env: env, Stdout: outW, Stderr: errW,
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true}}
	// srun --pty: task 0 runs on a pseudo-terminal, as the leader of a
	// session of its own whose controlling terminal it is; its output is
	// read from the master side, its input written there.
	var ptyMaster, ptySlave *os.File
	if l.PTY && rank == 0 {
		if ptyMaster, ptySlave, err = openPTY(); err != nil {
			outR.Close()
			outW.Close()
			errR.Close()
			errW.Close()
			if inR != nil {
				inR.Close()
				inW.Close()
			}
			return fmt.Errorf("pseudo-terminal for task 0: %v", err)
		}
		if inR != nil {
			inR.Close()
			inW.Close()
			inR, inW = nil, nil
		}
		cmd.Stdin, cmd.Stdout, cmd.Stderr = ptySlave, ptySlave, ptySlave
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	}
	// An MPI rank talks PMI on descriptor 3, one end of a socket pair
	// whose other end this node serves.
	var pmiOurs, pmiTheirs *os.File
	if st.pmi != nil {
		fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
		if err != nil {
			outR.Close()
			outW.Close()
			errR.Close()
			errW.Close()
			if inR != nil {
				inR.Close()
				inW.Close()
			}
			return fmt.Errorf("PMI socket for task %d: %v", rank, err)
		}
		pmiOurs, pmiTheirs = os.NewFile(uintptr(fds[0]), "pmi"), os.NewFile(uintptr(fds[1]), "pmi-task")
		cmd.ExtraFiles = []*os.File{pmiTheirs}
		cmd.Env = append(cmd.Env, PMIEnv(l, rank)...)
	}
	if inR != nil {
		cmd.Stdin = inR
	}
	if p.root {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(u.UID), Gid: uint32(u.GID), Groups: u.Groups}
	}
	var ctr *ctrProc
	var ctrCleanup func()
	var ctrPidFile string
	if st.ctr != nil {
		t := ctrTask{id: ctrID(l.Node, l.JobID, "step"+strconv.Itoa(l.StepID), rank), argv: l.Argv,
			env: containerEnv(cmd.Env, st.ctr.img.Env, l.Container.Env), hostWD: wd, gpus: taskGPUs(l, rank),
			extraFDs: len(cmd.ExtraFiles)}
		j.mu.Lock()
		cgPath := ""
		if j.cg != nil {
			cgPath = j.cg.path
		}
		j.mu.Unlock()
		rc, pidFile, cleanup, cerr := p.containerCommand(st.ctr, u, l.Container, t, cgPath)
		if cerr != nil {
			for _, f := range []*os.File{outR, outW, errR, errW, inR, inW, pmiOurs, pmiTheirs, ptyMaster, ptySlave} {
				if f != nil {
					f.Close()
				}
			}
			return cerr
		}
		// runc starts as root and makes the user's namespace itself.
		cmd.Path, cmd.Args, cmd.Env, cmd.Dir = rc.Path, rc.Args, rc.Env, rc.Dir
		cmd.SysProcAttr.Credential = nil
		ctr, ctrCleanup, ctrPidFile = &ctrProc{}, cleanup, pidFile
		defer func() {
			if ctr.runc == 0 {
				cleanup() // not started
			} else {
				ctr.watchPid(pidFile)
			}
		}()
	}
	// The job's cgroup must stay open while a task starts in it; a job
	// without one lets its tasks start at once.
	j.mu.Lock()
	if j.cg != nil {
		cmd.SysProcAttr.UseCgroupFD, cmd.SysProcAttr.CgroupFD = true, j.cg.fd()
		err = cmd.Start()
		j.mu.Unlock()
	} else {
		j.mu.Unlock()
		err = cmd.Start()
	}
	// The task has its ends of the pipes; the agent keeps the others.
	outW.Close()
	errW.Close()
	if inR != nil {
		inR.Close()
	}
	if pmiTheirs != nil {
		pmiTheirs.Close()
	}
	if ptySlave != nil {
		ptySlave.Close()
	}
	if err != nil {
		if ptyMaster != nil {
			ptyMaster.Close()
		}
		outR.Close()
		errR.Close()
		if inW != nil {
			inW.Close()
		}
		if pmiOurs != nil {
			pmiOurs.Close()
		}
		return fmt.Errorf("cannot start %s as %s: %v", l.Argv[0], u.Name, err)
	}
	if pmiOurs != nil {
		go func() {
			defer pmiOurs.Close()
			err := st.pmi.srv.Serve(st.pmiCtx, rank, pmiOurs)
			if errors.Is(err, pmi.ErrAborted) {
				// MPI_Abort ends the whole step, as under Slurm.
				p.cfg.Log.Info("an MPI rank aborted; ending the step", "job", l.JobID, "step", l.StepID, "err", err)
				p.stepTerminate(st, syscall.SIGKILL)
			}
		}()
	}
	t := &ptask{rank: rank, pid: cmd.Process.Pid, stdin: inW, pty: ptyMaster}
	if ctr != nil {
		ctr.runc, t.ctr = t.pid, ctr
	}
	st.mu.Lock()
	st.tasks = append(st.tasks, t)
	if st.stopSig != 0 {
		_ = syscall.Kill(-t.pid, st.stopSig)
	}
	st.mu.Unlock()

	var wg sync.WaitGroup
	forward := func(r *os.File, typ byte) {
		defer wg.Done()
		defer r.Close()
		// Small reads to start with, since most tasks write little and a
		// step starts many; a task whose reads fill the buffer gets a
		// large pipe and large reads, so that 1 GiB to stdout streams at
		// hundreds of MB/s in few system calls.
		buf := make([]byte, 32<<10)
		for {
			n, err := r.Read(buf)
			if n > 0 {
				// srun gone: keep draining so the task never blocks on
				// a full pipe before it is killed.
				_ = fw.Write(typ, rank, buf[:n])
			}
			if n == len(buf) && len(buf) < 512<<10 {
				growPipe(r)
				buf = make([]byte, 512<<10)
			}
			if err != nil {
				return
			}
		}
	}
	wg.Add(2)
	go forward(outR, FrameStdout)
	go forward(errR, FrameStderr)
	if ptyMaster != nil {
		// Reading the master ends (EIO) once the task and everything it
		// left on the terminal have closed it.
		wg.Add(1)
		go forward(ptyMaster, FrameStdout)
	}
	go func() {
		l := &launched{cmd: cmd, pid: t.pid}
		code, sig := l.wait()
		if ctr != nil {
			ctr.exited()
			if code != 0 {
				if msg := ctr.startFailure(filepath.Join(filepath.Dir(ctrPidFile), "runc.log")); msg != "" {
					_ = fw.Write(FrameError, 0, []byte(st.l.Node+": task "+strconv.Itoa(rank)+": "+msg))
				}
			}
			ctrCleanup()
			code, sig = ctrExit(code, sig)
		}
		t.exited.Store(true)
		// What the task left behind in its group ends with it.
		_ = syscall.Kill(-t.pid, syscall.SIGKILL)
		wg.Wait()
		st.closeStdin(rank)
		_ = fw.WriteExit(rank, code, sig)
		ends <- taskEnd{rank: rank, code: code, sig: sig}
	}()
	return nil
}

// lookPathIn finds a program as a shell would with the task's PATH
// (not the agent's): a name with a slash is taken as it is, relative to
// the task's working directory.
func lookPathIn(file, pathEnv, wd string) (string, error) {
	check := func(p string) bool {
		fi, err := os.Stat(p)
		return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
	}
	if strings.Contains(file, "/") {
		p := file
		if !filepath.IsAbs(p) {
			p = filepath.Join(wd, p)
		}
		if !check(p) {
			return "", fmt.Errorf("%s: no such executable file", file)
		}
		return p, nil
	}
	for _, dir := range filepath.SplitList(pathEnv) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, file)
		if !filepath.IsAbs(p) {
			p = filepath.Join(wd, p)
		}
		if check(p) {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: command not found in the task's PATH (%s)", file, pathEnv)
}

// growPipe asks for a 1 MiB pipe buffer (Linux's default is 64 KiB), so a
// task writing fast blocks less often while the agent sends to srun.
func growPipe(f *os.File) {
	if raw, err := f.SyscallConn(); err == nil {
		_ = raw.Control(func(fd uintptr) {
			_, _ = unix.FcntlInt(fd, unix.F_SETPIPE_SZ, 1<<20)
		})
	}
}

// openPTY opens a pseudo-terminal pair: the master side for the agent, the
// slave side for the task.
func openPTY() (master, slave *os.File, err error) {
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, err
	}
	fd := int(m.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		m.Close()
		return nil, nil, fmt.Errorf("unlocking the pseudo-terminal: %w", err)
	}
	n, err := unix.IoctlGetUint32(fd, unix.TIOCGPTN)
	if err != nil {
		m.Close()
		return nil, nil, fmt.Errorf("naming the pseudo-terminal: %w", err)
	}
	sl, err := os.OpenFile("/dev/pts/"+strconv.FormatUint(uint64(n), 10), os.O_RDWR|syscall.O_NOCTTY|syscall.O_CLOEXEC, 0)
	if err != nil {
		m.Close()
		return nil, nil, err
	}
	return m, sl, nil
}

// setWinsize sets the window size of task rank's pseudo-terminal, from a
// FrameWinsize payload (rows and columns, 2 bytes each).
func (st *pstep) setWinsize(rank int, p []byte) {
	rows, cols, ok := ParseWinsize(p)
	if !ok {
		return
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, t := range st.tasks {
		if t.pty != nil && t.rank == rank {
			_ = unix.IoctlSetWinsize(int(t.pty.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: rows, Col: cols})
		}
	}
}
