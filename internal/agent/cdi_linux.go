//go:build linux

package agent

import (
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The Container Device Interface (CDI) spec that NVIDIA's Container
// Toolkit writes (nvidia-ctk cdi generate, into /etc/cdi or /var/run/cdi)
// says what a container needs for each GPU: device nodes, driver
// libraries and binaries to bind, hooks that update the container's
// linker cache. Where one is installed the agent applies the common edits
// and those of exactly the job's GPUs; elsewhere it binds the device
// nodes and the driver's libraries it finds itself (nvidiaFiles).
//
// Specs are read in their JSON form (nvidia-ctk cdi generate
// --format=json --output=/etc/cdi/nvidia.json): a YAML library would add
// its start-up cost to every gefion command, client ones included
// (DESIGN: client commands start fast). A node with a YAML spec only says
// so in its log and binds the files itself.

// cdiDirs are where CDI specs are looked for, in order.
var cdiDirs = []string{"/etc/cdi", "/var/run/cdi"}

// cdiSpec is the part of a CDI spec the agent uses.
type cdiSpec struct {
	Kind    string `json:"kind"`
	Devices []struct {
		Name           string   `json:"name"`
		ContainerEdits cdiEdits `json:"containerEdits"`
	} `json:"devices"`
	ContainerEdits cdiEdits `json:"containerEdits"`
}

// cdiEdits are CDI's container edits.
type cdiEdits struct {
	Env         []string `json:"env"`
	DeviceNodes []struct {
		Path     string `json:"path"`
		HostPath string `json:"hostPath"`
	} `json:"deviceNodes"`
	Mounts []struct {
		HostPath      string   `json:"hostPath"`
		ContainerPath string   `json:"containerPath"`
		Options       []string `json:"options"`
	} `json:"mounts"`
	Hooks []struct {
		HookName string   `json:"hookName"`
		Path     string   `json:"path"`
		Args     []string `json:"args"`
		Env      []string `json:"env"`
	} `json:"hooks"`
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
func nvidiaCDI(log *slog.Logger) (*cdiSpec, string) {
	cdiCache.once.Do(func() {
		var yamlOnly string
		cdiCache.spec, cdiCache.file, yamlOnly = findCDI(cdiDirs)
		if cdiCache.spec == nil && yamlOnly != "" && log != nil {
			log.Warn("the NVIDIA CDI spec is YAML, which the agent does not read: containers get the GPUs' device nodes and the driver's libraries instead; write a JSON one with nvidia-ctk cdi generate --format=json --output=/etc/cdi/nvidia.json", "spec", yamlOnly)
		}
	})
	return cdiCache.spec, cdiCache.file
}

// findCDI reads the first JSON spec of kind nvidia.com/gpu in dirs;
// yamlOnly names a YAML spec seen when there is none.
func findCDI(dirs []string) (spec *cdiSpec, file, yamlOnly string) {
	for _, d := range dirs {
		ents, err := os.ReadDir(d)
		if err != nil {
			continue
		}
		for _, e := range ents {
			n := e.Name()
			if strings.HasSuffix(n, ".yaml") || strings.HasSuffix(n, ".yml") {
				if yamlOnly == "" && strings.Contains(n, "nvidia") {
					yamlOnly = filepath.Join(d, n)
				}
				continue
			}
			if !strings.HasSuffix(n, ".json") {
				continue
			}
			b, err := os.ReadFile(filepath.Join(d, n))
			if err != nil {
				continue
			}
			var s cdiSpec
			if json.Unmarshal(b, &s) == nil && s.Kind == "nvidia.com/gpu" {
				return &s, filepath.Join(d, n), ""
			}
		}
	}
	return nil, "", yamlOnly
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
