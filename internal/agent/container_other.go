//go:build !linux

package agent

import "syscall"

// Containers run on Linux only.
type containerSupport struct{ runc, version, why string }

func probeContainers(ProcessConfig, bool) containerSupport {
	return containerSupport{why: "containers run on Linux nodes only"}
}

// ContainerSupport reports that this node runs no containers.
func (p *Process) ContainerSupport() (runtime, missing string) { return "", p.ctrs.why }

type ctrRootfs struct{}

type ctrProc struct{}

func (*ctrProc) signal(syscall.Signal) {}

func (p *Process) removeContainers(*pjob) {}
