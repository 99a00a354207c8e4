//go:build linux

package agent

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/job"
	"github.com/google/go-cmp/cmp"
)

// noImages is an image store that must not be asked.
type noImages struct{ t *testing.T }

func (s noImages) Get(context.Context, string, ImageAccess) (*ContainerImage, error) {
	s.t.Error("the image store was asked on a node that cannot run containers")
	return nil, context.Canceled
}

// TestContainerJobOnANodeWithoutRunc: a node that cannot run containers
// fails a container job at start with what it lacks; the script never
// runs bare.
func TestContainerJobOnANodeWithoutRunc(t *testing.T) {
	p := newTestProcess(t, ProcessConfig{Images: noImages{t}, ContainerRuntime: "/nonexistent/runc"}, nil)
	if rt, why := p.ContainerSupport(); rt != "" || !strings.Contains(why, "runc is not installed") {
		t.Fatalf("ContainerSupport() = %q, %q; want none, because runc is not installed", rt, why)
	}
	dir := t.TempDir()
	a := assignment(p, 5, dir, "#!/bin/sh\ntouch "+dir+"/ran\n")
	a.Spec.Container = &job.Container{Image: "/some/image"}
	rec := newRecorder()
	p.Start(a, rec.report)
	end := rec.wait(t, api.ReportEnd, 5*time.Second)
	if end.State != job.Failed || !strings.Contains(end.Message, "cannot run containers: runc is not installed") {
		t.Errorf("end = %s %q; want FAILED naming the missing runc", end.State, end.Message)
	}
	if fileExists(dir + "/ran") {
		t.Error("the script ran bare")
	}
}

func TestContainerEnv(t *testing.T) {
	task := []string{"PATH=/host/bin", "HOME=/home/u", "SLURM_JOB_ID=7", "CUDA_VISIBLE_DEVICES=1", "LANG=C", "KEEP=job", "ONLY_JOB=1"}
	image := []string{"PATH=/usr/bin", "LANG=en_US.UTF-8", "KEEP=image", "SLURM_JOB_ID=0", "CUDA_VISIBLE_DEVICES=all", "ONLY_IMAGE=1"}
	got := containerEnv(task, image, []string{"KEEP"})
	want := []string{"PATH=/usr/bin", "HOME=/home/u", "SLURM_JOB_ID=7", "CUDA_VISIBLE_DEVICES=1", "LANG=en_US.UTF-8", "KEEP=job", "ONLY_JOB=1", "ONLY_IMAGE=1"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("containerEnv (-want +got):\n%s", diff)
	}
	// An image without PATH gets the usual one, not the host's.
	got = containerEnv([]string{"X=1"}, nil, nil)
	if diff := cmp.Diff([]string{"X=1", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}, got); diff != "" {
		t.Errorf("containerEnv without an image PATH (-want +got):\n%s", diff)
	}
}

func TestCtrExit(t *testing.T) {
	for _, tc := range []struct {
		code     int
		wantCode int
		wantSig  string
	}{{0, 0, ""}, {3, 3, ""}, {137, 0, "KILL"}, {143, 0, "TERM"}, {255, 255, ""}} {
		if c, s := ctrExit(tc.code, ""); c != tc.wantCode || s != tc.wantSig {
			t.Errorf("ctrExit(%d) = %d, %q; want %d, %q", tc.code, c, s, tc.wantCode, tc.wantSig)
		}
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// slowImages is a registry pull that never ends before its context.
type slowImages struct{ asked chan struct{} }

func (s slowImages) Get(ctx context.Context, _ string, _ ImageAccess) (*ContainerImage, error) {
	close(s.asked)
	<-ctx.Done()
	return nil, ctx.Err()
}

// TestContainerJobCancelledWhilePulling: a cancel during the image's
// pull ends the job; its script never starts.
func TestContainerJobCancelledWhilePulling(t *testing.T) {
	if _, err := exec.LookPath("runc"); err != nil {
		t.Skip("needs Debian's runc:", err)
	}
	images := slowImages{asked: make(chan struct{})}
	// runc's user-namespace root must reach the state directory.
	if err := os.Chmod(filepath.Dir(t.TempDir()), 0o711); err != nil {
		t.Fatal(err)
	}
	p := newTestProcess(t, ProcessConfig{Images: images}, nil)
	if rt, why := p.ContainerSupport(); rt == "" {
		t.Skip("this node runs no containers:", why)
	}
	dir := t.TempDir()
	a := assignment(p, 6, dir, "#!/bin/sh\ntouch "+dir+"/ran\n")
	a.Spec.Container = &job.Container{Image: "nvcr.io#nvidia/pytorch:24.05-py3"}
	rec := newRecorder()
	p.Start(a, rec.report)
	rec.wait(t, api.ReportStart, 5*time.Second)
	select {
	case <-images.asked:
	case <-time.After(5 * time.Second):
		t.Fatal("the image was not asked for")
	}
	p.Signal(api.Signal{JobID: 6, Node: a.Node, Signal: "TERM", GraceS: 5, Reason: "cancelled"}, rec.report)
	end := rec.wait(t, api.ReportEnd, 5*time.Second)
	if end.State != job.Failed || !strings.Contains(end.Message, "cancelled while its container image was prepared") {
		t.Errorf("end = %s %q; want the job ended while its image was pulled", end.State, end.Message)
	}
	if fileExists(dir + "/ran") {
		t.Error("the script ran")
	}
}

// cdiSample is the shape of what nvidia-ctk cdi generate --format=json
// writes.
const cdiSample = `{
  "cdiVersion": "0.5.0",
  "kind": "nvidia.com/gpu",
  "devices": [
    {"name": "0", "containerEdits": {"deviceNodes": [{"path": "/dev/nvidia0"}]}},
    {"name": "1", "containerEdits": {"deviceNodes": [{"path": "/dev/nvidia1"}]}},
    {"name": "all", "containerEdits": {"deviceNodes": [{"path": "/dev/nvidia0"}, {"path": "/dev/nvidia1"}]}}
  ],
  "containerEdits": {
    "env": ["NVIDIA_VISIBLE_DEVICES=void", "NVIDIA_CTK_LIBCUDA_DIR=/usr/lib/x86_64-linux-gnu"],
    "deviceNodes": [{"path": "/dev/nvidiactl"}, {"path": "/dev/nvidia-uvm"}],
    "hooks": [{"hookName": "createContainer", "path": "/usr/bin/nvidia-cdi-hook",
      "args": ["nvidia-cdi-hook", "update-ldcache", "--folder", "/usr/lib/x86_64-linux-gnu"]}],
    "mounts": [{"hostPath": "/usr/lib/x86_64-linux-gnu/libcuda.so.550.54.15",
      "containerPath": "/usr/lib/x86_64-linux-gnu/libcuda.so.550.54.15", "options": ["ro", "nosuid", "nodev", "bind"]}]
  }
}`

func TestCDIEditsOfTheJobsGPUsOnly(t *testing.T) {
	dir := t.TempDir()
	yamlDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(yamlDir, "nvidia.yaml"), []byte("kind: nvidia.com/gpu\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if s, _, y := findCDI([]string{yamlDir}); s != nil || y != filepath.Join(yamlDir, "nvidia.yaml") {
		t.Errorf("findCDI of a YAML spec only = %v, %q; want none, naming the YAML spec", s, y)
	}
	if err := os.WriteFile(filepath.Join(dir, "other.json"), []byte(`{"kind": "example.com/fpga"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "nvidia.json"), []byte(cdiSample), 0o644); err != nil {
		t.Fatal(err)
	}
	s, file, _ := findCDI([]string{filepath.Join(dir, "missing"), yamlDir, dir})
	if s == nil || file != filepath.Join(dir, "nvidia.json") {
		t.Fatalf("findCDI = %v, %q; want the nvidia.com/gpu spec", s, file)
	}
	e := s.edits([]int{1})
	var devs []string
	for _, d := range e.devices {
		devs = append(devs, d.src+">"+d.dst)
	}
	if diff := cmp.Diff([]string{"/dev/nvidiactl>/dev/nvidiactl", "/dev/nvidia-uvm>/dev/nvidia-uvm", "/dev/nvidia1>/dev/nvidia1"}, devs); diff != "" {
		t.Errorf("device nodes for GPU 1 (-want +got):\n%s", diff)
	}
	if len(e.mounts) != 1 || strings.Join(e.mounts[0].Options, ",") != "rbind,ro,nosuid,nodev" || e.mounts[0].Type != "bind" {
		t.Errorf("mounts = %+v; want the library bound read-only", e.mounts)
	}
	if diff := cmp.Diff([]string{"NVIDIA_CTK_LIBCUDA_DIR=/usr/lib/x86_64-linux-gnu"}, e.env); diff != "" {
		t.Errorf("env (-want +got):\n%s", diff)
	}
	if len(e.hooks.CreateContainer) != 1 || e.hooks.CreateContainer[0].Path != "/usr/bin/nvidia-cdi-hook" {
		t.Errorf("hooks = %+v; want the createContainer hook", e.hooks)
	}
	if e := s.edits(nil); len(e.devices)+len(e.mounts) != 0 {
		t.Errorf("edits of no GPUs = %+v; want none: a job without GPUs sees none", e)
	}
}

func TestUnmountUnder(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount")
	}
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a b"), filepath.Join(dir, "a b", "c")
	if err := os.MkdirAll(a, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", a, "tmpfs", 0, ""); err != nil {
		t.Skip("cannot mount a tmpfs here:", err)
	}
	if err := os.Mkdir(b, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", b, "tmpfs", 0, ""); err != nil {
		t.Fatal(err)
	}
	unmountUnder(dir)
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mi), filepath.Base(dir)) {
		t.Fatalf("mounts left under %s:\n%s", dir, mi)
	}
}
