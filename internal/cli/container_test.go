//go:build linux

package cli

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gefion-hpc/gefion/internal/agent"
	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/client"
	"github.com/gefion-hpc/gefion/internal/controller"
	"github.com/gefion-hpc/gefion/internal/image"
	"github.com/gefion-hpc/gefion/internal/job"
	"github.com/gefion-hpc/gefion/internal/testdev"
)

// needContainers skips a test without what containers need here: runc,
// Debian's umoci and busybox-static, and user namespaces.
func needContainers(t testing.TB) {
	t.Helper()
	for _, c := range []string{"runc", "umoci", "busybox"} {
		if _, err := exec.LookPath(c); err != nil {
			t.Skipf("needs %s (Debian's runc, umoci and busybox-static): %v", c, err)
		}
	}
	if b, _ := os.ReadFile("/proc/sys/user/max_user_namespaces"); strings.TrimSpace(string(b)) == "0" {
		t.Skip("needs user namespaces (user.max_user_namespaces is 0)")
	}
}

// busyboxImage builds an OCI layout directory holding one image, a
// static busybox with its applets, with umoci; it returns the layout's
// path (a --container-image value).
func busyboxImage(t testing.TB) string {
	t.Helper()
	needContainers(t)
	dir := openDir(t)
	layout := filepath.Join(dir, "busybox-oci")
	bundle := filepath.Join(dir, "bundle")
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	run("umoci", "init", "--layout", layout)
	run("umoci", "new", "--image", layout+":latest")
	run("umoci", "unpack", "--rootless", "--image", layout+":latest", bundle)
	bin := filepath.Join(bundle, "rootfs", "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(bb)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "busybox"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, applet := range strings.Fields("sh id cat echo ls touch sleep test env pwd true false kill mkdir") {
		if err := os.Symlink("busybox", filepath.Join(bin, applet)); err != nil {
			t.Fatal(err)
		}
	}
	run("umoci", "repack", "--image", layout+":latest", bundle)
	run("umoci", "config", "--image", layout+":latest", "--config.env=PATH=/bin", "--config.env=FROM_SRUN=image",
		"--config.env=IMG_ONLY=1", "--config.workingdir=/")
	// The job's user reads the image with their own rights.
	run("chmod", "-R", "a+rX", layout)
	return layout
}

// openDir is a test directory every user may enter: the job's user
// (not root) and the container's namespace reach files below it.
func openDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for d := filepath.Dir(dir); d != "/"; d = filepath.Dir(d) {
		if fi, err := os.Stat(d); err == nil && fi.Mode().Perm()&0o001 == 0 {
			_ = os.Chmod(d, fi.Mode().Perm()|0o001) // t.TempDir's parent
		}
	}
	return dir
}

// userDir is a test directory the job's user may write to.
func userDir(t testing.TB) string {
	t.Helper()
	dir := openDir(t)
	if err := os.Chmod(dir, 0o1777); err != nil {
		t.Fatal(err)
	}
	return dir
}

// testImages is the node's image store (package image) in dir.
func testImages(t testing.TB, dir string) agent.ImageStore {
	t.Helper()
	s, err := image.Open(dir, image.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return imageStore{s}
}

// containerUser is the user container jobs run as: an ordinary account
// made for the test where the tests run as root, else the current user.
func containerUser(t testing.TB) *user.User {
	t.Helper()
	if os.Geteuid() != 0 {
		u, err := user.Current()
		if err != nil {
			t.Skip("needs a current user:", err)
		}
		return u
	}
	const name = "gefionctr"
	if u, err := user.Lookup(name); err == nil {
		return u
	}
	home := "/home/" + name
	if out, err := exec.Command("useradd", "--create-home", "--home-dir", home, "--shell", "/bin/sh", name).CombinedOutput(); err != nil {
		t.Skipf("needs an ordinary user to run container jobs as; useradd %s: %v: %s", name, err, out)
	}
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// newContainerCluster is the two-node cluster with runc and an image
// store, holding a job of an ordinary user when alloc is set.
func newContainerCluster(t *testing.T, alloc bool) (*stepCluster, *user.User, string) {
	sc, u, layout, _ := newContainerClusterIn(t, alloc)
	return sc, u, layout
}

// newContainerClusterIn is newContainerCluster, also returning the nodes'
// state directory.
func newContainerClusterIn(t *testing.T, alloc bool) (*stepCluster, *user.User, string, string) {
	t.Helper()
	layout := busyboxImage(t)
	u := containerUser(t)
	state := openDir(t)
	sc := newStepNodesOpts(t, controller.Config{}, nodeOpts{images: testImages(t, filepath.Join(state, "images")), stateDir: state})
	sc.user = u.Username
	if alloc {
		submit := userDir(t)
		sc.allocate(func(s *job.Spec) { s.SubmitDir = submit })
	}
	return sc, u, layout, state
}

func TestContainerSteps(t *testing.T) {
	sc, u, layout, state := newContainerClusterIn(t, true)
	c := client.New(sc.addr, sc.user)
	img := "--container-image=" + layout

	// Data the user may read, and data only root may read.
	data := openDir(t)
	if err := os.WriteFile(filepath.Join(data, "f"), []byte("from the host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(openDir(t), "secret")
	if err := os.Mkdir(secret, 0o700); err != nil { // root's alone
		t.Fatal(err)
	}

	// A 2-node step: the user inside is the job's user, the mount is
	// there and read-only, the image's root is read-only, Slurm's
	// variables and the GPUs come in, the image's variables win except
	// where --container-env says.
	script := `echo "$SLURM_PROCID $SLURM_NODEID $SLURM_STEP_NUM_NODES $(id -u) $(id -g) $CUDA_VISIBLE_DEVICES $FROM_SRUN $IMG_ONLY $PWD"; cat /data/f; ` +
		`touch /data/x 2>/dev/null && echo data-writable || echo data-ro; touch /x 2>/dev/null && echo root-writable || echo root-ro; test -d "$1" && echo home`
	out, errs, code := sc.srun("", "-N", "2", "-n", "2", "--gpus-per-task=1", "-l", img, "--container-mounts="+data+":/data:ro", "sh", "-c", script, "sh", u.HomeDir)
	if code != 0 {
		t.Fatalf("srun in a container: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	for rank := 0; rank < 2; rank++ {
		p := strconv.Itoa(rank) + ": "
		var lines []string
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			if strings.HasPrefix(l, p) {
				lines = append(lines, strings.TrimPrefix(l, p))
			}
		}
		if len(lines) != 5 {
			t.Fatalf("task %d printed %q; want 5 lines", rank, lines)
		}
		f := strings.Fields(lines[0])
		want := []string{strconv.Itoa(rank), strconv.Itoa(rank), "2", u.Uid, u.Gid}
		if len(f) != 9 || strings.Join(f[:5], " ") != strings.Join(want, " ") {
			t.Errorf("task %d: PROCID NODEID STEP_NUM_NODES uid gid = %v; want %v", rank, f, want)
			continue
		}
		if _, err := strconv.Atoi(f[5]); err != nil {
			t.Errorf("task %d: CUDA_VISIBLE_DEVICES=%q; want one GPU", rank, f[5])
		}
		if f[6] != "image" || f[7] != "1" {
			t.Errorf("task %d: FROM_SRUN=%s IMG_ONLY=%s; want the image's values (image, 1)", rank, f[6], f[7])
		}
		if f[8] != "/" {
			t.Errorf("task %d: PWD=%s; want the image's working directory /", rank, f[8])
		}
		if got := strings.Join(lines[1:], "|"); got != "from the host|data-ro|root-ro|home" {
			t.Errorf("task %d: %s; want the mount's data, a read-only mount and root, and the home directory", rank, got)
		}
	}

	// --container-env: the job's value wins; --container-workdir.
	out, errs, code = sc.srun("", "-n", "1", img, "--container-env=FROM_SRUN", "--container-workdir=/bin", "sh", "-c", `echo $FROM_SRUN $(pwd)`)
	if code != 0 || strings.TrimSpace(out) != "yes /bin" {
		t.Errorf("srun --container-env=FROM_SRUN --container-workdir=/bin: exit %d, %q, %s; want \"yes /bin\"", code, out, errs)
	}

	// --container-remap-root: root inside; --no-container-mount-home.
	out, errs, code = sc.srun("", "-n", "1", img, "--container-remap-root", "--no-container-mount-home", "sh", "-c", `id -u; test -d "$1" && echo home || echo no-home`, "sh", u.HomeDir)
	if code != 0 || strings.Fields(out)[0] != "0" || (u.HomeDir != "/" && !strings.Contains(out, "no-home")) {
		t.Errorf("srun --container-remap-root --no-container-mount-home: exit %d, %q, %s; want uid 0 and no home", code, out, errs)
	}

	// MPI wire-up reaches the container: PMI on descriptor 3.
	out, errs, code = sc.srun("", "-n", "2", "--mpi=pmi2", "-l", img, "sh", "-c",
		`echo "cmd=init pmi_version=1 pmi_subversion=1" >&3; read -r reply <&3; echo "$PMI_RANK $PMI_SIZE $reply"`)
	if code != 0 || !strings.Contains(out, "0: 0 2 cmd=response_to_init") || !strings.Contains(out, "1: 1 2 cmd=response_to_init") {
		t.Errorf("srun --mpi=pmi2 in a container: exit %d, %q, %s; want each rank's PMI answer on descriptor 3", code, out, errs)
	}

	// The exit code, and a task killed by a signal.
	if _, errs, code := sc.srun("", "-n", "2", img, "sh", "-c", "exit $((SLURM_PROCID + 2))"); code != 3 {
		t.Errorf("srun of container tasks exiting 2 and 3: exit %d; want 3: %s", code, errs)
	}
	if _, errs, code := sc.srun("", "-n", "1", img, "sh", "-c", "kill -9 $$"); code != 137 {
		t.Errorf("srun of a container task killed by KILL: exit %d; want 137: %s", code, errs)
	}

	// A step's time limit ends the container's processes.
	start := time.Now()
	if _, errs, code := sc.srun("", "-n", "1", "-t", "0:01", img, "sleep", "60"); code != 143 || time.Since(start) > 15*time.Second {
		t.Errorf("srun -t 0:01 in a container: exit %d after %v: %s; want 143 within seconds", code, time.Since(start), errs)
	}

	// A named container keeps its files for the job's next step, and is
	// writable (the unnamed ones are not).
	if out, errs, code := sc.srun("", "-n", "1", img, "--container-name=keep", "sh", "-c", "echo kept > /state && echo written"); code != 0 || !strings.Contains(out, "written") {
		t.Fatalf("srun --container-name=keep writing /state: exit %d, %q, %s", code, out, errs)
	}
	if out, errs, code := sc.srun("", "-n", "1", "--container-name=keep", "cat", "/state"); code != 0 || strings.TrimSpace(out) != "kept" {
		t.Errorf("srun --container-name=keep cat /state: exit %d, %q, %s; want the file of the step before", code, out, errs)
	}

	// Two steps asking at once for a new named container share one.
	var wg sync.WaitGroup
	for _, f := range []string{"a", "b"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if out, errs, code := sc.srun("", "-n", "1", "-w", sc.nodes[0], "--overlap", img, "--container-name=shared", "touch", "/"+f); code != 0 {
				t.Errorf("srun --container-name=shared touch /%s: exit %d, %q, %s", f, code, out, errs)
			}
		}()
	}
	wg.Wait()
	if out, errs, code := sc.srun("", "-n", "1", "-w", sc.nodes[0], "--container-name=shared", "ls", "/a", "/b"); code != 0 {
		t.Errorf("the files of two concurrent steps in one named container: exit %d, %q, %s; want both there", code, out, errs)
	}

	// Bad input: clear errors, the step fails, nothing runs bare.
	if _, errs, code := sc.srun("", "-n", "1", "--container-image=/no/such/image", "true"); code == 0 || !strings.Contains(errs, "/no/such/image") {
		t.Errorf("srun --container-image=/no/such/image: exit %d, %q; want a failure naming the image", code, errs)
	}
	if os.Geteuid() == 0 && u.Uid != "0" {
		if _, errs, code := sc.srun("", "-n", "1", img, "--container-mounts="+secret+":/s", "true"); code == 0 || !strings.Contains(errs, "may not read it") {
			t.Errorf("srun with a mount of a directory the user may not read: exit %d, %q; want a failure saying so", code, errs)
		}
	}
	// runc refuses to start the container (a file mounted over a
	// directory): its reason reaches srun, not its log lines.
	if _, errs, code := sc.srun("", "-n", "1", img, "--container-mounts="+filepath.Join(data, "f")+":/bin", "true"); code == 0 || !strings.Contains(errs, "the container did not start") || strings.Contains(errs, "level=") {
		t.Errorf("srun mounting a file over /bin: exit %d, %q; want the reason runc gave, without runc's log lines", code, errs)
	}
	if _, errs, code := sc.srun("", "-n", "1", "--container-name=nosuch", "true"); code == 0 || !strings.Contains(errs, "no container named nosuch") {
		t.Errorf("srun --container-name=nosuch: exit %d, %q; want a failure saying there is no such container", code, errs)
	}
	if _, errs, code := sc.srun("", "-n", "1", "--container-mounts=data:/data", img, "true"); code != 2 || !strings.Contains(errs, "relative path") {
		t.Errorf("srun --container-mounts=data:/data: exit %d, %q; want a usage error about the relative path", code, errs)
	}

	// Accounting: the steps are recorded as bare ones are.
	steps, err := c.Steps(context.Background(), sc.jobID)
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) < 8 || steps[0].State != job.Completed || steps[0].Nodes != 2 || steps[4].ExitCode != 3 || steps[6].State != job.Timeout {
		var desc []string
		for _, s := range steps {
			desc = append(desc, fmt.Sprintf("%d:%s/%d/%d", s.StepID, s.State, s.ExitCode, s.Nodes))
		}
		t.Errorf("steps %v; want step 0 COMPLETED on 2 nodes, step 4 exit 3, step 6 TIMEOUT", desc)
	}
	id := strconv.FormatInt(int64(sc.jobID), 10)
	out, errs, code = sc.cli("acct", "-j", id)
	if code != 0 {
		t.Fatalf("acct -j %s: exit %d: %s", id, code, errs)
	}
	for _, want := range []string{id + ".0", id + ".4", id + ".6", "TIMEOUT"} {
		if !strings.Contains(out, want) {
			t.Errorf("acct -j %s does not show %s:\n%s", id, want, out)
		}
	}

	// The named container lives until the job ends, then goes.
	named := filepath.Join(state, "dev1", "containers", "dev1.job"+id, "name-keep")
	if _, err := os.Stat(named); err != nil {
		t.Errorf("the named container while its job runs: %v", err)
	}
	if err := c.Cancel(context.Background(), sc.jobID, ""); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the named container removed at the job's end", func() bool {
		_, err := os.Stat(named)
		return os.IsNotExist(err)
	})
}

func TestContainerBatchJob(t *testing.T) {
	sc, u, layout, state := newContainerClusterIn(t, false)
	c := client.New(sc.addr, sc.user)
	submit := userDir(t)
	data := openDir(t)
	if err := os.WriteFile(filepath.Join(data, "f"), []byte("data\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	spec := job.Spec{
		Name: "ctr", NTasks: 1, GPUs: 1, TimeLimitS: 60, SubmitDir: submit, Output: "out.txt",
		Script:    "#!/bin/sh\nid -u\necho $SLURM_JOB_ID $CUDA_VISIBLE_DEVICES $IMG_ONLY\ncat /data/f\npwd\nexit 7\n",
		Env:       []string{"PATH=" + os.Getenv("PATH")},
		Container: &job.Container{Image: layout, Mounts: []job.Mount{{Source: data, Target: "/data"}, {Source: submit, Target: "/work"}}},
	}
	resp, err := c.Submit(context.Background(), api.SubmitRequest{Spec: spec}, "")
	if err != nil {
		t.Fatal(err)
	}
	var j *api.Job
	waitUntil(t, "the container job to end", func() bool {
		j, err = c.Job(context.Background(), resp.ID)
		return err == nil && j.State.Final()
	})
	out, _ := os.ReadFile(filepath.Join(submit, "out.txt"))
	want := fmt.Sprintf("%s\n%d 0 1\ndata\n/work\n", u.Uid, resp.ID)
	if string(out) != want {
		t.Errorf("the batch script's output in the image:\n%s\nwant:\n%s", out, want)
	}
	if j.State != job.Failed || j.ExitCode != 7 {
		t.Errorf("job %d: %s exit %d; want FAILED with the script's exit 7 (reason %q)", resp.ID, j.State, j.ExitCode, j.Reason)
	}

	// A time limit ends a container job as a bare one.
	spec.Script, spec.TimeLimitS, spec.Output = "#!/bin/sh\nsleep 120\n", 1, "sleep.txt"
	resp, err = c.Submit(context.Background(), api.SubmitRequest{Spec: spec}, "")
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(70 * time.Second)
	for time.Now().Before(deadline) {
		if j, err = c.Job(context.Background(), resp.ID); err == nil && j.State.Final() {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if j.State != job.Timeout {
		t.Errorf("job %d with --time=1 sleeping in a container: %s; want TIMEOUT", resp.ID, j.State)
	}

	// Nothing of the containers is left: no overlay mounted, no files.
	waitUntil(t, "the containers' files removed", func() bool {
		left, _ := filepath.Glob(filepath.Join(state, "*", "containers", "*"))
		return len(left) == 0
	})
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(mi), state) {
		t.Errorf("mounts left under the nodes' state directory %s:\n%s", state, mi)
	}
}

// TestContainerWithoutARuntime: where no node has runc, a container job
// is refused at submission with what is missing, never run bare.
func TestContainerWithoutARuntime(t *testing.T) {
	sc := newStepNodesOpts(t, controller.Config{}, nodeOpts{images: testImages(t, t.TempDir()), runtime: "/nonexistent/runc"})
	c := client.New(sc.addr, sc.user)
	spec := job.Spec{Name: "ctr", TimeLimitS: 60, SubmitDir: t.TempDir(), Script: "#!/bin/sh\ntrue\n",
		Container: &job.Container{Image: "/some/image"}}
	ns, err := c.Nodes(context.Background())
	if err != nil || len(ns) != 2 || ns[0].ContainerRuntime != "" || !strings.Contains(ns[0].NoContainers, "runc is not installed") {
		t.Errorf("Nodes() = %+v, %v; want nodes that say they run no containers, and why", ns, err)
	}
	_, err = c.Submit(context.Background(), api.SubmitRequest{Spec: spec}, "")
	if err == nil || !strings.Contains(err.Error(), "no node can run containers: runc is not installed") {
		t.Fatalf("Submit of a container job where no node has runc = %v; want it refused, naming runc", err)
	}
	// A step of a bare job, likewise.
	sc.allocate(nil)
	if _, errs, code := sc.srun("", "-n", "1", "--container-image=/some/image", "true"); code == 0 || !strings.Contains(errs, "runc is not installed") {
		t.Errorf("srun --container-image where no node has runc: exit %d, %q; want it refused, naming runc", code, errs)
	}
}

// TestContainerOnGefionDev runs the commands a user types, as new
// processes, against gefion dev --nodes 2: an sbatch script whose #SBATCH
// lines put it in an image, and a 2-node srun step in the image.
func TestContainerOnGefionDev(t *testing.T) {
	layout := busyboxImage(t)
	data := openDir(t) // also opens the test's directories to the containers
	if err := os.WriteFile(filepath.Join(data, "f"), []byte("data\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d := testdev.Start(t, "--nodes", "2", "--gpus", "2")
	bin := d.Commands(t)
	work := userDir(t)
	env := append(os.Environ(), "GEFION_ADDR="+d.Addr, "PATH="+bin+":"+os.Getenv("PATH"))
	run := func(name string, args ...string) (string, string, int) {
		t.Helper()
		cmd := exec.Command(filepath.Join(bin, name), args...)
		cmd.Env, cmd.Dir = env, work
		var out, errb strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return out.String(), errb.String(), code
	}

	script := fmt.Sprintf(`#!/bin/sh
#SBATCH --container-image=%s
#SBATCH --container-mounts=%s:/data:ro
#SBATCH --gpus=1 --output=batch.out
echo "$(id -u) $SLURM_JOB_ID $CUDA_VISIBLE_DEVICES $SLURM_JOB_NUM_NODES"
cat /data/f
test -x /bin/busybox && echo in-image
`, layout, data)
	if err := os.WriteFile(filepath.Join(work, "job.sh"), []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errs, code := run("sbatch", "--wait", "--parsable", "job.sh")
	if code != 0 {
		t.Fatalf("sbatch --wait job.sh: exit %d: %s%s", code, out, errs)
	}
	id := strings.TrimSpace(out)
	got, _ := os.ReadFile(filepath.Join(work, "batch.out"))
	if want := fmt.Sprintf("%d %s 0 1\ndata\nin-image\n", os.Getuid(), id); string(got) != want {
		t.Errorf("the batch script's output in the image:\n%s\nwant:\n%s", got, want)
	}

	out, errs, code = run("srun", "-N", "2", "-n", "2", "-l", "--container-image="+layout, "sh", "-c", `echo $SLURMD_NODENAME $(id -u)`)
	if code != 0 {
		t.Fatalf("srun -N 2 --container-image: exit %d: %s%s", code, out, errs)
	}
	uid := strconv.Itoa(os.Getuid())
	for _, want := range []string{"0: dev1 " + uid, "1: dev2 " + uid} {
		if !strings.Contains(out, want) {
			t.Errorf("srun -N 2 in the image printed:\n%s\nwant a line %q", out, want)
		}
	}
	// Bad input at submission: a clear error, nothing submitted.
	if _, errs, code := run("sbatch", "--container-mounts=rel:/x", "--container-image="+layout, "--wrap=true"); code == 0 || !strings.Contains(errs, "relative path") {
		t.Errorf("sbatch --container-mounts=rel:/x: exit %d, %q; want an error about the relative path", code, errs)
	}
	if _, errs, code := run("sbatch", "--container-image=nvcr.io#a#b", "--wrap=true"); code == 0 || !strings.Contains(errs, "registry#image:tag") {
		t.Errorf("sbatch --container-image=nvcr.io#a#b: exit %d, %q; want the image store's syntax error", code, errs)
	}
}

// TestContainerRootlessAgent runs gefion dev as an ordinary user, as a
// user tries Gefion on a workstation: its agent runs runc rootless, the
// user is root inside the container, and what the container writes on
// the host is the user's.
func TestContainerRootlessAgent(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("run as root to start gefion dev as another user (as that user, TestContainerOnGefionDev runs the agent rootless)")
	}
	layout := busyboxImage(t)
	u := containerUser(t)
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	dir := userDir(t)
	// The binary, where the user may run it.
	data, err := os.ReadFile(testdev.Binary(t))
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "gefion")
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"srun"} {
		if err := os.Symlink("gefion", filepath.Join(dir, n)); err != nil {
			t.Fatal(err)
		}
	}
	asUser := &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + u.HomeDir, "USER=" + u.Username, "GEFION_NO_CGROUPS=1",
		"GEFION_AGENT_STATE_DIR=" + filepath.Join(dir, "state")}
	dev := exec.Command(bin, "dev", "--nodes", "2", "--data-dir", filepath.Join(dir, "data"), "--listen", "127.0.0.1:0")
	dev.Env, dev.Dir, dev.SysProcAttr = env, dir, asUser
	stderr, err := dev.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := dev.Start(); err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	var logMu sync.Mutex
	addr := make(chan string, 1)
	exited := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logMu.Lock()
			log.WriteString(sc.Text() + "\n")
			logMu.Unlock()
			if m := devAddrRE.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case addr <- m[1]:
				default:
				}
			}
		}
		_ = dev.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = dev.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = dev.Process.Kill()
			<-exited
		}
		if t.Failed() {
			logMu.Lock()
			t.Logf("gefion dev's log:\n%s", log.String())
			logMu.Unlock()
		}
	})
	var a string
	select {
	case a = <-addr:
	case <-exited:
		t.Fatal("gefion dev exited before it listened")
	case <-time.After(60 * time.Second):
		t.Fatal("gefion dev did not start within 60 s")
	}
	marker := filepath.Join(dir, "written-inside")
	srun := exec.Command(filepath.Join(dir, "srun"), "-N", "2", "-n", "2", "-l", "--container-image="+layout,
		"--container-mounts="+dir+":/work", "sh", "-c", `id -u; touch /work/written-inside`)
	srun.Env, srun.Dir, srun.SysProcAttr = append(env, "GEFION_ADDR="+a), dir, asUser
	out, err := srun.CombinedOutput()
	if err != nil {
		t.Fatalf("srun as %s on a rootless agent: %v\n%s", u.Username, err, out)
	}
	if !strings.Contains(string(out), "0: 0") || !strings.Contains(string(out), "1: 0") {
		t.Errorf("srun on a rootless agent printed:\n%s\nwant uid 0 inside on both nodes", out)
	}
	fi, err := os.Stat(marker)
	if err != nil {
		t.Fatalf("the file the container wrote: %v", err)
	}
	if st := fi.Sys().(*syscall.Stat_t); int(st.Uid) != uid {
		t.Errorf("the file the container wrote is uid %d's on the host; want the user's (%d)", st.Uid, uid)
	}
}

var devAddrRE = regexp.MustCompile(`controller at (http://127\.0\.0\.1:\d+)`)
