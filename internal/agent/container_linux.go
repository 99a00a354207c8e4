//go:build linux

package agent

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/job"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// How a task runs in a container:
//
//   - The image's root file system, shared and read-only, is the lower
//     layer of an overlay mounted by a root agent for the step (or batch
//     script); the mount points the tasks need are made in its upper
//     layer, and runc mounts the root read-only. A writable container
//     (--container-writable, --container-name) is instead a copy of the
//     image owned by the job's user, kept for the job's later steps when
//     named and removed when the job ends.
//   - Each task is `runc --root STATE run --bundle B --pid-file P ID`,
//     started exactly as the bare task would be (its files, process group,
//     cgroup), as root: runc creates a user namespace in which the job's
//     user is itself (uid and gid mapped to themselves; the namespace's
//     root is the unprivileged overflow uid) or, with
//     --container-remap-root, root. The user's program runs with no
//     capabilities outside the namespace and no new privileges.
//   - There is no PID, network, IPC or UTS namespace: NCCL and MPI see the
//     host's network devices and shared memory, signals reach the tasks'
//     processes as bare ones (the container's first process leads a
//     process group, signalled like a bare task's), and host tools see the
//     processes.
//   - An agent that is not root runs runc rootless: the only uid it can
//     map is its own, so the user is root inside the container.

// containerSupport is what the node can do with containers.
type containerSupport struct {
	runc    string // path of runc
	version string // "runc 1.1.5"
	why     string // what is missing, when runc is empty
}

// probeContainers finds runc and checks that user namespaces can be made.
func probeContainers(cfg ProcessConfig, root bool) containerSupport {
	name := cfg.ContainerRuntime
	if name == "" {
		name = "runc"
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return containerSupport{why: "runc is not installed (" + name + " is not in the agent's PATH)"}
	}
	out, err := exec.Command(p, "--version").Output()
	if err != nil {
		return containerSupport{why: fmt.Sprintf("runc at %s does not run (%v)", p, err)}
	}
	version := strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
	version = strings.Replace(version, "runc version", "runc", 1)
	// A user namespace made for real: sysctls, LSMs and seccomp filters
	// of the agent's own service may each forbid them.
	cmd := exec.Command(p, "--version")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWUSER}
	if err := cmd.Run(); err != nil {
		why := "user namespaces are not allowed on this node (" + err.Error() + ")"
		if b, _ := os.ReadFile("/proc/sys/user/max_user_namespaces"); strings.TrimSpace(string(b)) == "0" {
			why = "user namespaces are not allowed on this node (user.max_user_namespaces is 0)"
		} else if b, _ := os.ReadFile("/proc/sys/kernel/unprivileged_userns_clone"); !root && strings.TrimSpace(string(b)) == "0" {
			why = "user namespaces are not allowed to the agent's user (kernel.unprivileged_userns_clone is 0)"
		}
		return containerSupport{why: why}
	}
	if cfg.Images == nil {
		return containerSupport{why: "the agent has no image store"}
	}
	// runc's user namespace root must reach the bundles: every parent of
	// the state directory needs search permission for others.
	if root {
		for d := filepath.Clean(cfg.StateDir); ; d = filepath.Dir(d) {
			fi, err := os.Stat(d)
			if err == nil && fi.Mode().Perm()&0o001 == 0 {
				return containerSupport{why: fmt.Sprintf("the agent's state directory is not reachable from containers: %s has mode %v (others need search permission, o+x)", d, fi.Mode().Perm())}
			}
			if d == "/" || d == "." {
				break
			}
		}
	}
	return containerSupport{runc: p, version: version}
}

// ContainerSupport reports the OCI runtime that runs container jobs here
// ("runc 1.1.5"), or "" and what is missing.
func (p *Process) ContainerSupport() (runtime, missing string) {
	return p.ctrs.version, p.ctrs.why
}

// ctrRootfs is one container's root file system on this node: a step's
// (or the batch script's), or a named container's, shared by the job's
// later steps.
type ctrRootfs struct {
	// dir holds the container's files; rootfs is its root.
	dir, rootfs string
	img         ContainerImage
	// owned: rootfs is the user's copy (writable); mounted: an overlay is
	// mounted at rootfs.
	owned, mounted bool
	readOnly       bool
	// mu serializes the creation of mount points.
	mu sync.Mutex
}

// containerDir is where a job's containers live on this node.
func (p *Process) containerDir(id job.ID, node string) string {
	return filepath.Join(p.cfg.StateDir, "containers", strings.ReplaceAll(node, "/", "_")+".job"+strconv.FormatInt(int64(id), 10))
}

// containerError is a container that cannot start: the message names
// what to fix.
type containerError struct{ msg string }

func (e *containerError) Error() string { return e.msg }

func ctrErr(format string, a ...any) error { return &containerError{fmt.Sprintf(format, a...)} }

// prepareContainer gives the root file system a job's batch script or a
// step (key names it) runs in: the named container of the job when it has
// one, else a new one from the image. release undoes what was made, for
// all but named containers, which the job's end removes.
func (p *Process) prepareContainer(ctx context.Context, j *pjob, u JobUser, c *job.Container, key string) (r *ctrRootfs, release func(), err error) {
	if p.ctrs.runc == "" {
		return nil, nil, ctrErr("node %s cannot run containers: %s", p.cfg.Node, p.ctrs.why)
	}
	if c.Name != "" {
		j.namedMu.Lock()
		defer j.namedMu.Unlock()
		j.mu.Lock()
		r := j.named[c.Name]
		j.mu.Unlock()
		if r != nil {
			return r, func() {}, nil
		}
		if c.Image == "" {
			return nil, nil, ctrErr("there is no container named %s on node %s: create it in an earlier step with --container-image=IMAGE --container-name=%s", c.Name, p.cfg.Node, c.Name)
		}
		key = "name-" + c.Name
	}
	acc := ImageAccess{Home: u.Home, Open: func(path string) (f *os.File, err error) {
		err = p.asUser(u, func() error { f, err = os.Open(path); return err })
		return f, err
	}}
	img, err := p.cfg.Images.Get(ctx, c.Image, acc)
	if err != nil {
		return nil, nil, ctrErr("--container-image=%s: %v", c.Image, err)
	}
	imgRelease := img.Release
	if imgRelease == nil {
		imgRelease = func() {}
	}
	r = &ctrRootfs{img: *img, dir: filepath.Join(p.containerDir(j.a.JobID, j.a.Node), key)}
	fail := func(e error) (*ctrRootfs, func(), error) {
		r.remove(p)
		imgRelease()
		return nil, nil, e
	}
	unmountUnder(r.dir) // left by an agent that stopped
	_ = os.RemoveAll(r.dir)
	if err := os.MkdirAll(r.dir, 0o711); err != nil {
		return fail(fmt.Errorf("creating the container's directory: %w", err))
	}
	_ = os.Chmod(filepath.Dir(r.dir), 0o711)
	_ = os.Chmod(filepath.Dir(filepath.Dir(r.dir)), 0o711)
	writable := c.Writable || c.Name != ""
	switch {
	case writable:
		// A copy the user owns, so that the user (or root inside, with
		// --container-remap-root) may change any of it.
		r.rootfs, r.owned = filepath.Join(r.dir, "rootfs"), true
		if out, err := exec.CommandContext(ctx, "cp", "-a", "--reflink=auto", img.Rootfs, r.rootfs).CombinedOutput(); err != nil {
			return fail(fmt.Errorf("copying the image for a writable container: %v: %s", err, bytes.TrimSpace(out)))
		}
		if p.root {
			if err := chownTree(r.rootfs, u.UID, u.GID); err != nil {
				return fail(fmt.Errorf("giving the writable container to %s: %w", u.Name, err))
			}
		}
		// The copy is independent of the store's.
		imgRelease()
		imgRelease = func() {}
	case p.root:
		r.rootfs, r.readOnly = filepath.Join(r.dir, "rootfs"), true
		upper, work := filepath.Join(r.dir, "upper"), filepath.Join(r.dir, "work")
		for _, d := range []string{r.rootfs, upper, work} {
			if err := os.Mkdir(d, 0o755); err != nil {
				return fail(err)
			}
		}
		opts := "lowerdir=" + overlayEscape(img.Rootfs) + ",upperdir=" + overlayEscape(upper) + ",workdir=" + overlayEscape(work)
		if err := syscall.Mount("overlay", r.rootfs, "overlay", syscall.MS_NODEV|syscall.MS_NOSUID, opts); err != nil {
			return fail(fmt.Errorf("mounting the image's overlay: %w", err))
		}
		r.mounted = true
	default:
		// A rootless runc maps the agent's user, who owns the store's
		// files, to root inside: it makes its mount points itself.
		r.rootfs, r.readOnly = img.Rootfs, true
	}
	if c.Name != "" {
		j.mu.Lock()
		if j.named == nil {
			j.named = map[string]*ctrRootfs{}
		}
		j.named[c.Name] = r
		j.mu.Unlock()
		imgRelease()
		return r, func() {}, nil
	}
	return r, func() { r.remove(p); imgRelease() }, nil
}

// remove unmounts and deletes a container's files.
func (r *ctrRootfs) remove(p *Process) {
	if r.mounted {
		if err := syscall.Unmount(r.rootfs, syscall.MNT_DETACH); err != nil {
			p.cfg.Log.Warn("cannot unmount a container's overlay", "path", r.rootfs, "err", err)
		}
		r.mounted = false
	}
	if r.dir != "" {
		_ = os.RemoveAll(r.dir)
	}
}

// removeContainers removes a job's named containers (at its end).
func (p *Process) removeContainers(j *pjob) {
	j.mu.Lock()
	named := j.named
	j.named = nil
	j.mu.Unlock()
	for _, r := range named {
		r.remove(p)
	}
	if p.ctrs.runc != "" {
		// A step still ending has its overlay mounted: detached first,
		// so that removing the files never goes through it.
		dir := p.containerDir(j.a.JobID, j.a.Node)
		unmountUnder(dir)
		_ = os.RemoveAll(dir)
	}
}

// unmountUnder detaches every mount at or below dir, deepest first.
func unmountUnder(dir string) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return
	}
	var points []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		// The mount point, with spaces and the like octal-escaped.
		mp := strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`).Replace(f[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			points = append(points, mp)
		}
	}
	for i := len(points) - 1; i >= 0; i-- {
		_ = syscall.Unmount(points[i], syscall.MNT_DETACH)
	}
}

func overlayEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, ",", `\,`, ":", `\:`).Replace(s)
}

// chownTree gives every file under dir to uid:gid, links not followed.
func chownTree(dir string, uid, gid int) error {
	return filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}

// mountPoint makes dst (a directory, or a file when file is set) inside
// the container's root where it is missing, resolving the image's
// symbolic links inside the root, never outside it. In a copy the user
// owns, it is made with the user's rights.
func (p *Process) mountPoint(r *ctrRootfs, u JobUser, dst string, file bool) error {
	if !r.mounted && !r.owned {
		return nil // rootless runc makes them
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	mk := func() error {
		full, err := securejoin.SecureJoin(r.rootfs, dst)
		if err != nil {
			return err
		}
		if _, err := os.Lstat(full); err == nil {
			return nil
		}
		if file {
			if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
				return err
			}
			f, err := os.OpenFile(full, os.O_CREATE|os.O_WRONLY, 0o644)
			if err != nil {
				return err
			}
			return f.Close()
		}
		return os.MkdirAll(full, 0o755)
	}
	var err error
	if r.owned {
		err = p.asUser(u, mk)
	} else {
		err = mk()
	}
	if err != nil {
		return ctrErr("cannot make the mount point %s in the container: %v", dst, err)
	}
	return nil
}

// ctrTask is what one container task needs besides its root.
type ctrTask struct {
	id   string
	argv []string
	env  []string
	// hostWD is the working directory the task would have bare.
	hostWD string
	gpus   []int
	// spool, for a batch script: the host directory of the script, bound
	// at ctrSpool.
	spool string
	// extraFDs is how many descriptors from 3 on the task keeps (PMI).
	extraFDs int
}

// ctrSpool is where a batch script's directory appears inside.
const ctrSpool = "/.gefion"

// containerCommand writes the task's bundle and returns the runc command
// that runs it (its files, process group and cgroup still to be set by
// the caller, as for a bare task), the pid file runc writes, and a
// cleanup for after runc exits.
func (p *Process) containerCommand(r *ctrRootfs, u JobUser, c *job.Container, t ctrTask, cgroupPath string) (*exec.Cmd, string, func(), error) {
	spec, err := p.containerSpec(r, u, c, t)
	if err != nil {
		return nil, "", nil, err
	}
	if cgroupPath != "" {
		if rel, err := cgroupRel(cgroupPath); err == nil {
			spec.Linux.CgroupsPath = rel + "/" + t.id
		}
	}
	bundle := filepath.Join(r.dir, "bundles", t.id)
	if err := os.MkdirAll(bundle, 0o711); err != nil {
		return nil, "", nil, err
	}
	_ = os.Chmod(filepath.Dir(bundle), 0o711)
	data, err := json.Marshal(spec)
	if err != nil {
		return nil, "", nil, err
	}
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), data, 0o644); err != nil {
		return nil, "", nil, err
	}
	state := filepath.Join(p.cfg.StateDir, "runc", strconv.Itoa(u.UID))
	if err := os.MkdirAll(state, 0o700); err != nil {
		return nil, "", nil, fmt.Errorf("creating runc's state directory: %w", err)
	}
	pidFile := filepath.Join(bundle, "pid")
	// runc's own messages go to a file, not to the task's stderr; what
	// stopped a container from starting is read from it (startFailure).
	args := []string{p.ctrs.runc, "--root", state, "--log", filepath.Join(bundle, "runc.log")}
	if !p.root {
		args = append(args, "--rootless", "true")
	}
	args = append(args, "run", "--bundle", bundle, "--pid-file", pidFile, "--no-new-keyring")
	if t.extraFDs > 0 {
		args = append(args, "--preserve-fds", strconv.Itoa(t.extraFDs))
	}
	args = append(args, t.id)
	cmd := &exec.Cmd{Path: p.ctrs.runc, Args: args, Dir: bundle, Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}}
	cleanup := func() {
		// runc run deletes what it made; one that was killed leaves its
		// state behind.
		if _, err := os.Lstat(filepath.Join(state, t.id)); err == nil {
			_ = exec.Command(p.ctrs.runc, "--root", state, "delete", "--force", t.id).Run()
		}
		_ = os.RemoveAll(bundle)
	}
	return cmd, pidFile, cleanup, nil
}

// cgroupRel is a cgroup v2 directory relative to the hierarchy's root, as
// runc's cgroupsPath takes it.
func cgroupRel(dir string) (string, error) {
	m, err := cgroup2Mount()
	if err != nil {
		return "", err
	}
	rel, err := filepath.Rel(m, dir)
	if err != nil || strings.HasPrefix(rel, "..") {
		return "", fmt.Errorf("%s is not under %s", dir, m)
	}
	return "/" + rel, nil
}

// overflowID is the host ID of root inside the container when the user
// keeps their identity: the kernel's unprivileged overflow ID.
const overflowID = 65534

// containerSpec is the task's OCI runtime configuration.
func (p *Process) containerSpec(r *ctrRootfs, u JobUser, c *job.Container, t ctrTask) (*specs.Spec, error) {
	uid, gid := uint32(u.UID), uint32(u.GID)
	proc := &specs.Process{
		User: specs.User{UID: uid, GID: gid},
		Args: t.argv, Env: t.env, NoNewPrivileges: true,
	}
	var uidMap, gidMap []specs.LinuxIDMapping
	switch {
	case !p.root:
		// Rootless: the agent's own ids are the only ones it may map.
		uidMap = []specs.LinuxIDMapping{{ContainerID: 0, HostID: uid, Size: 1}}
		gidMap = []specs.LinuxIDMapping{{ContainerID: 0, HostID: gid, Size: 1}}
		proc.User = specs.User{UID: 0, GID: 0}
	case c.RemapRoot || uid == 0:
		// Root inside is the user (and root's jobs are root's).
		uidMap = []specs.LinuxIDMapping{{ContainerID: 0, HostID: uid, Size: 1}}
		gidMap = []specs.LinuxIDMapping{{ContainerID: 0, HostID: gid, Size: 1}}
		proc.User = specs.User{UID: 0, GID: 0}
	default:
		ovu, ovg := uint32(overflowID), uint32(overflowID)
		if uid == ovu {
			ovu--
		}
		if gid == ovg {
			ovg--
		}
		uidMap = []specs.LinuxIDMapping{{ContainerID: 0, HostID: ovu, Size: 1}, {ContainerID: uid, HostID: uid, Size: 1}}
		gidMap = []specs.LinuxIDMapping{{ContainerID: 0, HostID: ovg, Size: 1}, {ContainerID: gid, HostID: gid, Size: 1}}
		if gid == 0 {
			gidMap = gidMap[1:]
		}
		// The user's groups stay theirs inside, so that group-readable
		// mounts stay readable (the kernel takes up to 340 lines).
		seen := map[uint32]bool{0: true, gid: true, ovg: true}
		for _, g := range u.Groups {
			if seen[g] || len(gidMap) >= 300 {
				continue
			}
			seen[g] = true
			gidMap = append(gidMap, specs.LinuxIDMapping{ContainerID: g, HostID: g, Size: 1})
			proc.User.AdditionalGids = append(proc.User.AdditionalGids, g)
		}
	}
	if proc.User.UID == 0 {
		// Root of the user namespace: capabilities over the container's
		// own files and processes only.
		caps := []string{"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID",
			"CAP_SETUID", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_AUDIT_WRITE"}
		proc.Capabilities = &specs.LinuxCapabilities{Bounding: caps, Effective: caps, Permitted: caps}
	} else {
		proc.Capabilities = &specs.LinuxCapabilities{}
	}

	// The mounts. Sources are the host's; runc opens them as root, so
	// the user's own right to read each was checked before.
	mounts := []specs.Mount{
		{Destination: "/proc", Type: "bind", Source: "/proc", Options: []string{"rbind", "nosuid", "nodev", "noexec"}},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}},
		{Destination: "/dev/shm", Type: "bind", Source: "/dev/shm", Options: []string{"rbind", "nosuid", "nodev"}},
		{Destination: "/sys", Type: "bind", Source: "/sys", Options: []string{"rbind", "nosuid", "nodev", "noexec", "ro"}},
		{Destination: "/tmp", Type: "bind", Source: "/tmp", Options: []string{"rbind", "nosuid", "nodev"}},
	}
	for _, m := range []string{"/proc", "/dev", "/sys", "/tmp"} {
		if err := p.mountPoint(r, u, m, false); err != nil {
			return nil, err
		}
	}
	bind := func(src, dst string, ro, file bool) error {
		if err := p.mountPoint(r, u, dst, file); err != nil {
			return err
		}
		opts := []string{"rbind", "nosuid"}
		if ro {
			opts = append(opts, "ro")
		}
		mounts = append(mounts, specs.Mount{Destination: dst, Type: "bind", Source: src, Options: opts})
		return nil
	}
	// The job's GPUs: what the NVIDIA Container Toolkit's CDI spec says
	// for exactly them where one is installed, else their device nodes
	// and the driver's libraries.
	var hooks *specs.Hooks
	if cdi, _ := nvidiaCDI(p.cfg.Log); cdi != nil {
		e := cdi.edits(t.gpus)
		for _, d := range e.devices {
			if err := bind(d.src, d.dst, false, true); err != nil {
				return nil, err
			}
		}
		for _, m := range e.mounts {
			fi, err := os.Stat(m.Source)
			if err != nil {
				continue // a library of another driver version
			}
			if err := p.mountPoint(r, u, m.Destination, !fi.IsDir()); err != nil {
				return nil, err
			}
			mounts = append(mounts, m)
		}
		for _, kv := range e.env {
			k, _, _ := strings.Cut(kv, "=")
			if envValue(proc.Env, k) == "" {
				proc.Env = append(proc.Env, kv)
			}
		}
		if h := e.hooks; len(h.CreateRuntime)+len(h.CreateContainer)+len(h.StartContainer)+len(h.Poststart)+len(h.Poststop) > 0 {
			hooks = &h
		}
	} else {
		devs, libs := nvidiaFiles(t.gpus)
		for _, d := range devs {
			if err := bind(d, d, false, true); err != nil {
				return nil, err
			}
		}
		for _, l := range libs {
			if err := bind(l.src, l.dst, true, true); err != nil {
				return nil, err
			}
		}
	}
	homeMounted := false
	if !c.NoMountHome && u.Home != "" && u.Home != "/" {
		if fi, err := os.Stat(u.Home); err == nil && fi.IsDir() {
			if err := bind(u.Home, u.Home, false, false); err != nil {
				return nil, err
			}
			homeMounted = true
		}
	}
	for _, m := range c.Mounts {
		if err := p.checkMountSource(u, m.Source); err != nil {
			return nil, err
		}
		fi, _ := os.Stat(m.Source)
		if err := bind(m.Source, m.Target, m.ReadOnly, fi != nil && !fi.IsDir()); err != nil {
			return nil, err
		}
	}
	if t.spool != "" {
		if err := bind(t.spool, ctrSpool, true, false); err != nil {
			return nil, err
		}
	}

	// The working directory: --container-workdir; else the bare task's,
	// where a mount brings it in; else the image's; else /.
	cwd := c.Workdir
	if cwd == "" && t.hostWD != "" {
		if homeMounted && within(t.hostWD, u.Home) {
			cwd = t.hostWD
		}
		for _, m := range c.Mounts {
			if within(t.hostWD, m.Source) {
				rel, _ := filepath.Rel(m.Source, t.hostWD)
				cwd = path.Join(m.Target, rel)
			}
		}
	}
	if cwd == "" {
		cwd = r.img.WorkingDir
	}
	if cwd == "" {
		cwd = "/"
	}
	if err := p.mountPoint(r, u, cwd, false); err != nil {
		return nil, err
	}
	proc.Cwd = cwd
	for i, kv := range proc.Env {
		if strings.HasPrefix(kv, "PWD=") {
			proc.Env[i] = "PWD=" + cwd
		}
	}

	return &specs.Spec{
		Version: "1.0.2",
		Process: proc,
		Root:    &specs.Root{Path: r.rootfs, Readonly: r.readOnly},
		Mounts:  mounts,
		Hooks:   hooks,
		Linux: &specs.Linux{
			UIDMappings: uidMap, GIDMappings: gidMap,
			// No PID, network, IPC or UTS namespace (see above).
			Namespaces: []specs.LinuxNamespace{{Type: specs.UserNamespace}, {Type: specs.MountNamespace}},
			// Device access as for a bare task: what the bound device
			// nodes' permissions allow.
			Resources: &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}},
		},
	}, nil
}

// within reports whether p is dir or below it.
func within(p, dir string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}

// checkMountSource checks that the job's user may read a mount's source:
// runc opens it as root.
func (p *Process) checkMountSource(u JobUser, src string) error {
	return p.asUser(u, func() error {
		fi, err := os.Stat(src)
		if err == nil && fi.IsDir() {
			var f *os.File
			if f, err = os.Open(src); err == nil {
				_, err = f.Readdirnames(1)
				f.Close()
				if errors.Is(err, io.EOF) {
					err = nil // empty
				}
			}
		} else if err == nil {
			var f *os.File
			if f, err = os.Open(src); err == nil {
				f.Close()
			}
		}
		if err != nil {
			return ctrErr("--container-mounts: %s cannot be mounted: %s may not read it (%s)", src, u.Name, pathReason(src, err))
		}
		return nil
	})
}

// containerEnv is a container task's environment: the image's variables,
// then the task's, the image's values winning (as Pyxis does) except for
// the variables that describe the job, its GPUs and its wire-up, and
// those --container-env names.
func containerEnv(task, image, keep []string) []string {
	imgVal := map[string]string{}
	var order []string
	for _, kv := range image {
		k, v, _ := strings.Cut(kv, "=")
		if _, dup := imgVal[k]; !dup {
			order = append(order, k)
		}
		imgVal[k] = v
	}
	kept := map[string]bool{}
	for _, k := range keep {
		kept[k] = true
	}
	jobWins := func(k string) bool {
		if kept[k] {
			return true
		}
		for _, pre := range []string{"SLURM_", "SLURMD_", "GEFION_", "PMI_", "PMIX_"} {
			if strings.HasPrefix(k, pre) {
				return true
			}
		}
		switch k {
		case "CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER", "NVIDIA_VISIBLE_DEVICES",
			"HOME", "USER", "LOGNAME", "HOSTNAME", "PWD", "ENVIRONMENT", "TMPDIR":
			return true
		}
		return false
	}
	out := make([]string, 0, len(task)+len(image))
	seen := map[string]bool{}
	for _, kv := range task {
		k, _, _ := strings.Cut(kv, "=")
		if seen[k] {
			continue
		}
		seen[k] = true
		if v, ok := imgVal[k]; ok && !jobWins(k) {
			out = append(out, k+"="+v)
			continue
		}
		out = append(out, kv)
	}
	for _, k := range order {
		if !seen[k] {
			out = append(out, k+"="+imgVal[k])
			seen[k] = true
		}
	}
	if !seen["PATH"] {
		out = append(out, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	}
	return out
}

// ctrProc is a running container task: runc, and the container's first
// process once runc has written its pid.
type ctrProc struct {
	mu     sync.Mutex
	runc   int
	pid    int
	killed bool
	done   bool
}

// watchPid reads the container's pid from runc's pid file as soon as it
// is written.
func (c *ctrProc) watchPid(file string) {
	go func() {
		for wait := 500 * time.Microsecond; ; wait = min(wait*2, 20*time.Millisecond) {
			c.mu.Lock()
			done := c.done
			c.mu.Unlock()
			if done {
				return
			}
			if b, err := os.ReadFile(file); err == nil && len(bytes.TrimSpace(b)) > 0 {
				if pid, err := strconv.Atoi(string(bytes.TrimSpace(b))); err == nil && pid > 0 {
					c.mu.Lock()
					if !c.done {
						c.pid = pid
						if c.killed {
							_ = syscall.Kill(-pid, syscall.SIGKILL)
						}
					}
					c.mu.Unlock()
					return
				}
			}
			time.Sleep(wait)
		}
	}()
}

// signal sends sig to the container's process group as to a bare task's;
// before the container runs, to runc, which passes it on. SIGKILL goes to
// both.
func (c *ctrProc) signal(sig syscall.Signal) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done {
		return
	}
	if c.pid > 0 {
		_ = syscall.Kill(-c.pid, sig)
	} else if sig != syscall.SIGKILL {
		_ = syscall.Kill(-c.runc, sig)
	}
	if sig == syscall.SIGKILL {
		c.killed = true
		_ = syscall.Kill(-c.runc, sig)
	}
}

// exited marks runc's end: what the container left in its group is
// killed, and the pid is no longer used.
func (c *ctrProc) exited() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pid > 0 {
		_ = syscall.Kill(-c.pid, syscall.SIGKILL)
	}
	c.done = true
}

// startFailure is why runc could not start a container, from its log,
// or "" when the container started (or nothing was logged).
func (c *ctrProc) startFailure(logFile string) string {
	c.mu.Lock()
	started := c.pid > 0
	c.mu.Unlock()
	if started {
		return ""
	}
	b, err := os.ReadFile(logFile)
	if err != nil {
		return ""
	}
	var msgs []string
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.Contains(line, "level=fatal") && !strings.Contains(line, "level=error") {
			continue
		}
		_, m, ok := strings.Cut(line, `msg="`)
		if !ok {
			continue
		}
		m = strings.TrimSuffix(m, `"`)
		if i := strings.Index(m, "]: "); strings.HasPrefix(m, "nsexec") && i > 0 {
			m = m[i+3:]
		}
		if strings.Contains(m, "failed to receive fd") || strings.Contains(m, "final child's PID") {
			continue // what followed the first failure
		}
		msgs = append(msgs, m)
	}
	if len(msgs) == 0 {
		return ""
	}
	return "the container did not start: " + strings.Join(msgs, "; ")
}

// ctrExit turns runc's exit status into the task's: runc exits 128+N when
// the container's process was killed by signal N.
func ctrExit(code int, sig string) (int, string) {
	if sig == "" && code > 128 && code < 128+65 {
		if _, name, err := job.SignalNumber(strconv.Itoa(code - 128)); err == nil && name != "" {
			return 0, name
		}
	}
	return code, sig
}

// nvLib is a driver library bound into containers.
type nvLib struct{ src, dst string }

var nvidiaLibs = struct {
	once sync.Once
	libs []nvLib
}{}

// nvidiaFiles are the device nodes of the GPUs given (by index) and the
// driver's user-space libraries the CUDA runtime needs, found through the
// dynamic linker's cache; none on a node without NVIDIA's driver.
func nvidiaFiles(gpus []int) (devs []string, libs []nvLib) {
	if _, err := os.Stat("/dev/nvidiactl"); err != nil {
		return nil, nil
	}
	for _, g := range gpus {
		d := "/dev/nvidia" + strconv.Itoa(g)
		if _, err := os.Stat(d); err == nil {
			devs = append(devs, d)
		}
	}
	for _, d := range []string{"/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools", "/dev/nvidia-modeset", "/usr/bin/nvidia-smi"} {
		if _, err := os.Stat(d); err == nil {
			devs = append(devs, d)
		}
	}
	nvidiaLibs.once.Do(func() {
		out, err := exec.Command("ldconfig", "-p").Output()
		if err != nil {
			return
		}
		want := []string{"libcuda.so", "libnvidia-ml.so", "libnvidia-ptxjitcompiler.so", "libnvidia-nvvm.so",
			"libcudadebugger.so", "libnvidia-opencl.so", "libnvidia-cfg.so", "libnvidia-allocator.so", "libnvidia-gpucomp.so"}
		seen := map[string]bool{}
		sc := bufio.NewScanner(bytes.NewReader(out))
		for sc.Scan() {
			// "	libcuda.so.1 (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/libcuda.so.1"
			line := strings.TrimSpace(sc.Text())
			name, rest, ok := strings.Cut(line, " ")
			_, target, ok2 := strings.Cut(rest, "=> ")
			if !ok || !ok2 || !strings.Contains(rest, "x86-64") && !strings.Contains(rest, "AArch64") {
				continue
			}
			for _, w := range want {
				if strings.HasPrefix(name, w) && !seen[target] {
					seen[target] = true
					if real, err := filepath.EvalSymlinks(target); err == nil {
						nvidiaLibs.libs = append(nvidiaLibs.libs, nvLib{src: real, dst: target})
					}
				}
			}
		}
	})
	return devs, nvidiaLibs.libs
}

// ctrID names a container task for runc: unique on the node.
func ctrID(node string, id job.ID, what string, rank int) string {
	clean := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' {
			return r
		}
		return '_'
	}, node)
	return fmt.Sprintf("gefion-%s-%d-%s-%d", clean, id, what, rank)
}

// taskGPUs are the GPUs a step's task (by rank) may use, as StepEnv's
// CUDA_VISIBLE_DEVICES names them.
func taskGPUs(l *api.StepLaunch, rank int) []int {
	for local, r := range l.Part.Tasks {
		if r == rank && local < len(l.Part.TaskGPUs) {
			return l.Part.TaskGPUs[local]
		}
	}
	return l.Part.GPUs
}
