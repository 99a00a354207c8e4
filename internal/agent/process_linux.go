//go:build linux

package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/job"
)

// launched is a started batch script.
type launched struct {
	cmd    *exec.Cmd
	pid    int
	cgroup string
	// done, for a container, turns runc's exit into the script's and
	// cleans up.
	done func(code int, sig string) (int, string)
	// failure is why the container did not start, once waited for.
	failure string
}

// wait waits for the batch shell and returns its exit code, or the name
// (or number) of the signal that ended it.
func (l *launched) wait() (code int, sig string) {
	code, sig = l.waitProcess()
	if l.done != nil {
		code, sig = l.done(code, sig)
	}
	return code, sig
}

func (l *launched) waitProcess() (code int, sig string) {
	err := l.cmd.Wait()
	if l.cmd.ProcessState == nil {
		return 1, ""
	}
	ws, ok := l.cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok {
		if err != nil {
			return 1, ""
		}
		return l.cmd.ProcessState.ExitCode(), ""
	}
	if ws.Signaled() {
		n := int(ws.Signal())
		if _, name, err := job.SignalNumber(strconv.Itoa(n)); err == nil && name != "" {
			return 0, name
		}
		return 0, strconv.Itoa(n)
	}
	return ws.ExitStatus(), ""
}

// launch writes the job's script and starts it as the job's user, in its
// own process group and cgroup, with its environment and files. Nothing
// the user wrote is ever given to a shell as a command line: the script is
// a file executed through its #! line, its arguments are an argv.
func (p *Process) launch(j *pjob) (*launched, error) {
	a := j.a
	u, err := p.jobUser(a)
	if err != nil {
		return nil, err
	}
	wd := jobWorkDir(a, u.Home)

	// The script, in a directory only the user can read.
	dir := p.spoolDir(a.JobID)
	_ = os.RemoveAll(dir) // left by an earlier run of a requeued job
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating the job's spool directory: %w", err)
	}
	script := filepath.Join(dir, "slurm_script")
	if err := os.WriteFile(script, []byte(a.Spec.Script), 0o700); err != nil {
		return nil, fmt.Errorf("writing the job's script: %w", err)
	}
	if p.root {
		for _, f := range []string{dir, script} {
			if err := os.Chown(f, u.UID, u.GID); err != nil {
				return nil, fmt.Errorf("giving the job's script to %s: %w", u.Name, err)
			}
		}
	}

	// The files, opened with the user's rights and created with the
	// user's ownership.
	outPath, errPath, same := OutputPaths(a, wd, u.Name)
	inPath := InputPath(a, wd, u.Name)
	var stdin, stdout, stderr *os.File
	err = p.asUser(u, func() error {
		// The messages are the job's failure reason, shown by why, acct
		// and scontrol: the path and what the system said of it.
		fi, err := os.Stat(wd)
		switch {
		case err != nil:
			return fmt.Errorf("chdir %s: %s", wd, pathReason(wd, err))
		case !fi.IsDir():
			return fmt.Errorf("chdir %s: %s", wd, syscall.ENOTDIR)
		}
		if stdin, err = os.Open(inPath); err != nil {
			return fmt.Errorf("cannot open input file %s: %s", inPath, pathReason(inPath, err))
		}
		if stdout, err = openOutput(outPath, a.Spec.OpenMode); err != nil {
			return fmt.Errorf("cannot open output file %s: %s", outPath, pathReason(outPath, err))
		}
		if same {
			stderr = stdout
		} else if stderr, err = openOutput(errPath, a.Spec.OpenMode); err != nil {
			return fmt.Errorf("cannot open error file %s: %s", errPath, pathReason(errPath, err))
		}
		return nil
	})
	defer func() {
		for _, f := range []*os.File{stdin, stdout, stderr} {
			if f != nil {
				f.Close()
			}
		}
	}()
	if err != nil {
		return nil, err
	}

	// In a container, the image is pulled or unpacked first: the job
	// is running meanwhile, as under Pyxis, and a cancel stops the pull.
	var ctrRoot *ctrRootfs
	var ctrRelease func()
	if c := a.Spec.Container; !c.IsZero() {
		ctx, cancel := context.WithCancel(context.Background())
		j.mu.Lock()
		j.cancelStart = cancel
		j.mu.Unlock()
		ctrRoot, ctrRelease, err = p.prepareContainer(ctx, j, u, c, "batch")
		j.mu.Lock()
		j.cancelStart = nil
		cancelled := ctx.Err() != nil || j.ended
		j.mu.Unlock()
		cancel()
		if cancelled {
			if err == nil {
				ctrRelease()
			}
			err = errors.New("the job was cancelled while its container image was prepared")
		}
		if err != nil {
			return nil, err
		}
	}
	argv := append([]string{script}, a.Spec.Argv...)
	if ctrRoot != nil {
		argv = append([]string{ctrSpool + "/slurm_script"}, a.Spec.Argv...)
	}
	if !strings.HasPrefix(a.Spec.Script, "#!") {
		// Slurm refuses such scripts at submission; one that got here
		// anyway runs under the POSIX shell, as a file, not a string.
		argv = append([]string{"/bin/sh"}, argv...)
	}
	cmd := &exec.Cmd{
		Path: argv[0], Args: argv, Dir: wd,
		Env:   p.withControllerAddr(JobEnv(a, EnvInput{Cluster: p.cfg.Cluster, WorkDir: wd, User: u})),
		Stdin: stdin, Stdout: stdout, Stderr: stderr,
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true},
	}
	if p.root {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(u.UID), Gid: uint32(u.GID), Groups: u.Groups}
	}
	var cg *jobCgroup
	if p.cg != nil {
		// Named by node too: agents of several (virtual or test) nodes
		// may share one host and its cgroup tree.
		cg, err = p.cg.create(strings.ReplaceAll(a.Node, "/", "_")+".job"+strconv.FormatInt(int64(a.JobID), 10), a.MemMB, a.CPUs)
		if err != nil {
			p.cfg.Log.Warn("job runs without a cgroup", "job", a.JobID, "err", err)
		} else {
			cmd.SysProcAttr.UseCgroupFD, cmd.SysProcAttr.CgroupFD = true, cg.fd()
		}
	}
	var ctrCleanup func()
	var pidFile string
	if ctrRoot != nil {
		c := a.Spec.Container
		t := ctrTask{id: ctrID(a.Node, a.JobID, "batch", 0), argv: argv, env: containerEnv(cmd.Env, ctrRoot.img.Env, c.Env),
			hostWD: wd, gpus: a.GPUs, spool: dir}
		cgPath := ""
		if cg != nil {
			cgPath = cg.path
		}
		var rc *exec.Cmd
		rc, pidFile, ctrCleanup, err = p.containerCommand(ctrRoot, u, c, t, cgPath)
		if err != nil {
			if cg != nil {
				_ = cg.remove(0)
			}
			ctrRelease()
			return nil, err
		}
		// runc starts as root and makes the user's namespace itself.
		cmd.Path, cmd.Args, cmd.Env, cmd.Dir = rc.Path, rc.Args, rc.Env, rc.Dir
		cmd.SysProcAttr.Credential = nil
	}
	if err := cmd.Start(); err != nil {
		if cg != nil {
			_ = cg.remove(0)
		}
		if ctrRoot != nil {
			ctrCleanup()
			ctrRelease()
		}
		return nil, fmt.Errorf("starting the batch script as %s: %w", u.Name, err)
	}
	l := &launched{cmd: cmd, pid: cmd.Process.Pid}
	if ctrRoot != nil {
		ctr := &ctrProc{runc: l.pid}
		ctr.watchPid(pidFile)
		j.mu.Lock()
		j.ctr = ctr
		j.mu.Unlock()
		l.done = func(code int, sig string) (int, string) {
			ctr.exited()
			if code != 0 {
				l.failure = ctr.startFailure(filepath.Join(filepath.Dir(pidFile), "runc.log"))
			}
			ctrCleanup()
			ctrRelease()
			return ctrExit(code, sig)
		}
	}
	if cg != nil {
		l.cgroup = cg.path
	}
	j.mu.Lock()
	j.pid, j.cg = l.pid, cg
	j.mu.Unlock()
	return l, nil
}

// openOutput opens an output file as --open-mode says (truncate by
// default), creating its directory if missing.
func openOutput(path, mode string) (*os.File, error) {
	flags := os.O_WRONLY | os.O_CREATE
	if strings.EqualFold(mode, "append") {
		flags |= os.O_APPEND
	} else {
		flags |= os.O_TRUNC
	}
	f, err := os.OpenFile(path, flags, 0o644)
	if errors.Is(err, os.ErrNotExist) {
		// Slurm fails the job here; creating the directory (as the user)
		// is what the user meant by --output=logs/%j.out.
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, err
		}
		f, err = os.OpenFile(path, flags, 0o644)
	}
	return f, err
}

// pathReason is what the system said of path: err without the operation
// and path that os adds, when err is about path itself; whole, when it is
// about another (a parent directory that could not be made).
func pathReason(path string, err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) && pe.Path == path {
		return pe.Err.Error()
	}
	return err.Error()
}

// asUser runs fn with the file-system identity of u (fsuid, fsgid and
// groups) when the agent is root, so that the job's files are opened with
// the user's rights and created with the user's ownership. The identity
// is changed on one OS thread, which fn runs on and which is never given
// back to the Go scheduler: the runtime ends it when the goroutine exits,
// so no other code ever runs with the changed identity.
func (p *Process) asUser(u JobUser, fn func() error) error {
	if !p.root {
		return fn()
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// Never unlocked, on purpose (see above).
		if err := setThreadFSIdentity(u); err != nil {
			errc <- err
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// setThreadFSIdentity sets the calling thread's supplementary groups,
// fsgid and fsuid. The raw system calls affect this thread only (the
// C library's and Go's wrappers change every thread).
func setThreadFSIdentity(u JobUser) error {
	groups := u.Groups
	if len(groups) == 0 {
		groups = []uint32{uint32(u.GID)}
	}
	if _, _, e := syscall.RawSyscall(syscall.SYS_SETGROUPS, uintptr(len(groups)), uintptr(unsafe.Pointer(&groups[0])), 0); e != 0 {
		return fmt.Errorf("setting groups for %s: %w", u.Name, e)
	}
	syscall.RawSyscall(syscall.SYS_SETFSGID, uintptr(u.GID), 0, 0)
	syscall.RawSyscall(syscall.SYS_SETFSUID, uintptr(u.UID), 0, 0)
	// setfsuid reports no error; it returns the previous value, so asking
	// again tells whether the change took.
	if got, _, _ := syscall.RawSyscall(syscall.SYS_SETFSUID, uintptr(u.UID), 0, 0); int(got) != u.UID {
		return fmt.Errorf("cannot take the file-system identity of %s (uid %d)", u.Name, u.UID)
	}
	if got, _, _ := syscall.RawSyscall(syscall.SYS_SETFSGID, uintptr(u.GID), 0, 0); int(got) != u.GID {
		return fmt.Errorf("cannot take the file-system group of %s (gid %d)", u.Name, u.GID)
	}
	return nil
}

// checkStateDir refuses, for a root agent, a state directory that another
// user could have planted or can write to: job spool directories are
// created and chowned inside it, and a planted symlink would redirect them.
func checkStateDir(dir string) error {
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !fi.IsDir() || !ok || st.Uid != 0 || fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("the agent's state directory %s must be a directory owned by root and writable by no one else (it is %v, owner uid %d): remove it or set GEFION_AGENT_STATE_DIR to one that is", dir, fi.Mode(), ownerOf(st))
	}
	return nil
}

func ownerOf(st *syscall.Stat_t) int64 {
	if st == nil {
		return -1
	}
	return int64(st.Uid)
}

// jobWorkDir is the directory a job's batch script runs in: --chdir
// (relative to the submission directory), else the submission directory,
// else the user's home, else /.
func jobWorkDir(a api.Assignment, home string) string {
	wd := a.Spec.Chdir
	if wd != "" && !filepath.IsAbs(wd) && a.Spec.SubmitDir != "" {
		wd = filepath.Join(a.Spec.SubmitDir, wd)
	}
	if wd == "" {
		wd = a.Spec.SubmitDir
	}
	if wd == "" {
		wd = home
	}
	if wd == "" {
		wd = "/"
	}
	return wd
}

// Tail reads the last max bytes of a job's output file, opened with the
// job user's rights (as the file was written): a controller asks it for
// the web view and never reads its users' files itself.
func (p *Process) Tail(a api.Assignment, max int) (string, bool, error) {
	u, err := p.jobUser(a)
	if err != nil {
		return "", false, err
	}
	out, _, _ := OutputPaths(a, jobWorkDir(a, u.Home), u.Name)
	var text string
	missing := false
	err = p.asUser(u, func() error {
		f, err := os.Open(out)
		if errors.Is(err, fs.ErrNotExist) {
			missing = true
			return fmt.Errorf("no output file %s (yet)", out)
		}
		if err != nil {
			return fmt.Errorf("cannot read the output file %s: %s", out, pathReason(out, err))
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return err
		}
		if !st.Mode().IsRegular() {
			return fmt.Errorf("the output %s is not a regular file", out)
		}
		off := st.Size() - int64(max)
		if off < 0 {
			off = 0
		}
		buf := make([]byte, st.Size()-off)
		n, err := f.ReadAt(buf, off)
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("reading %s: %w", out, err)
		}
		text = string(buf[:n])
		return nil
	})
	return text, missing, err
}
