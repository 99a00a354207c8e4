package agent

import (
	"context"
	"os"
)

// Containers. A job's batch script or a step's tasks that ask for a
// container image (job.Container, Pyxis's options) start through an OCI
// runtime, runc, installed on the node: the agent gets the image's
// unpacked root file system from an ImageStore, writes an OCI bundle for
// each task and runs `runc run` in place of the program, with the same
// standard files, environment, process group, cgroup, signals and time
// limits as a bare task (container_linux.go).

// ImageStore gives the agent an image's unpacked root file system. Get may
// take long (a registry pull): the job is running meanwhile. Package
// image's Store is the node's store (see ImageStoreOf).
type ImageStore interface {
	Get(ctx context.Context, ref string, acc ImageAccess) (*ContainerImage, error)
}

// ImageAccess is whose rights an image is read with: a local image file
// or directory is opened with the job user's rights, never the agent's.
type ImageAccess struct {
	Home string
	// Open opens a path as the job's user (nil: os.Open).
	Open func(path string) (*os.File, error)
}

// ContainerImage is an unpacked image, held until Release.
type ContainerImage struct {
	Digest string
	// Rootfs is the read-only root file system, shared by every job on
	// the node that uses the image.
	Rootfs     string
	Env        []string
	Entrypoint []string
	Cmd        []string
	WorkingDir string
	User       string
	Size       int64
	// Release tells the store the job no longer uses the image.
	Release func()
}
