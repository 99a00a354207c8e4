//go:build linux

package agent

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"go.yaml.in/yaml/v2"
)

// The Container Device Interface (CDI) spec that NVIDIA's Container
// Toolkit writes (nvidia-ctk cdi generate, into /etc/cdi or /var/run/cdi)
// says what a container needs for each GPU: device nodes, driver
// libraries and binaries to bind, hooks that update the container's
// linker cache. Where one is installed the agent applies the common edits
// and those of exactly the job's GPUs; elsewhere it binds the device
// nodes and the driver's libraries it finds itself (nvidiaFiles).

// cdiDirs are where CDI specs are looked for, in order.
var cdiDirs = []string{"/etc/cdi", "/var/run/cdi"}

// cdiSpec is the part of a CDI spec the agent uses.
type cdiSpec struct {
	Kind    string `yaml:"kind"`
	Devices []struct {
		Name           string   `yaml:"name"`
		ContainerEdits cdiEdits `yaml:"containerEdits"`
	} `yaml:"devices"`
	ContainerEdits cdiEdits `yaml:"containerEdits"`
}

// cdiEdits are CDI's container edits.
type cdiEdits struct {
	Env         []string `yaml:"env"`
	DeviceNodes []struct {
		Path     string `yaml:"path"`
		HostPath string `yaml:"hostPath"`
	} `yaml:"deviceNodes"`
	Mounts []struct {
		HostPath      string   `yaml:"hostPath"`
		ContainerPath string   `yaml:"containerPath"`
		Options       []string `yaml:"options"`
	} `yaml:"mounts"`
	Hooks []struct {
		HookName string   `yaml:"hookName"`
		Path     string   `yaml:"path"`
		Args     []string `yaml:"args"`
		Env      []string `yaml:"env"`
	} `yaml:"hooks"`
}

// gpuEdits is what the container of some GPUs gets.
type gpuEdits struct {
	// devices are bound host path -> container path (a user namespace
	// cannot make device nodes).
	devices []nvLib
	mounts  []specs.Mount
	env     []string
	hooks   specs.Hooks
}

var cdiCache = struct {
	once sync.Once
	spec *cdiSpec
	file string
}{}

// nvidiaCDI returns the node's NVIDIA CDI spec, or nil.
func nvidiaCDI() (*cdiSpec, string) {
	cdiCache.once.Do(func() { cdiCache.spec, cdiCache.file = findCDI(cdiDirs) })
	return cdiCache.spec, cdiCache.file
}

// findCDI reads the first spec of kind nvidia.com/gpu in dirs.
func findCDI(dirs []string) (*cdiSpec, string) {
	for _, d := range dirs {
		ents, err := os.ReadDir(d)
		if err != nil {
			continue
		}
		for _, e := range ents {
			n := e.Name()
			if !strings.HasSuffix(n, ".yaml") && !strings.HasSuffix(n, ".yml") && !strings.HasSuffix(n, ".json") {
				continue
			}
			b, err := os.ReadFile(filepath.Join(d, n))
			if err != nil {
				continue
			}
			var s cdiSpec
			if yaml.Unmarshal(b, &s) == nil && s.Kind == "nvidia.com/gpu" {
				return &s, filepath.Join(d, n)
			}
		}
	}
	return nil, ""
}

// edits are the spec's edits for the GPUs given by index: the common
// ones and each GPU's own (CDI names them by index, as nvidia-ctk does).
func (s *cdiSpec) edits(gpus []int) gpuEdits {
	var out gpuEdits
	if len(gpus) == 0 {
		return out
	}
	add := func(e *cdiEdits) {
		for _, d := range e.DeviceNodes {
			host := d.HostPath
			if host == "" {
				host = d.Path
			}
			out.devices = append(out.devices, nvLib{src: host, dst: d.Path})
		}
		for _, m := range e.Mounts {
			opts := slices.DeleteFunc(slices.Clone(m.Options), func(o string) bool { return o == "bind" || o == "rbind" })
			out.mounts = append(out.mounts, specs.Mount{Destination: m.ContainerPath, Source: m.HostPath, Type: "bind",
				Options: append([]string{"rbind"}, opts...)})
		}
		for _, kv := range e.Env {
			// The job's own GPU selection stays.
			if !strings.HasPrefix(kv, "NVIDIA_VISIBLE_DEVICES=") {
				out.env = append(out.env, kv)
			}
		}
		for _, h := range e.Hooks {
			oh := specs.Hook{Path: h.Path, Args: h.Args, Env: h.Env}
			switch h.HookName {
			case "createRuntime":
				out.hooks.CreateRuntime = append(out.hooks.CreateRuntime, oh)
			case "createContainer":
				out.hooks.CreateContainer = append(out.hooks.CreateContainer, oh)
			case "startContainer":
				out.hooks.StartContainer = append(out.hooks.StartContainer, oh)
			case "poststart":
				out.hooks.Poststart = append(out.hooks.Poststart, oh)
			case "poststop":
				out.hooks.Poststop = append(out.hooks.Poststop, oh)
			}
		}
	}
	add(&s.ContainerEdits)
	for _, g := range gpus {
		name := strconv.Itoa(g)
		for i := range s.Devices {
			if s.Devices[i].Name == name {
				add(&s.Devices[i].ContainerEdits)
			}
		}
	}
	return out
}
