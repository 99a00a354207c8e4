package job

import (
	"errors"
	"fmt"
	"path"
	"strings"
)

// Container says how a job's batch script or a step's tasks run in a
// container image, with the names and meanings of NVIDIA Pyxis's options
// (--container-image, --container-mounts, ...). The node agent starts the
// tasks through an OCI runtime; see package agent's container.go.
type Container struct {
	// Image is --container-image as written: a registry reference
	// (registry#image:tag as Pyxis writes it, or registry/image:tag), or
	// the absolute path of an OCI layout directory, a docker-save tar or
	// a squashfs file. Empty with Name set: the job's named container.
	Image string `json:"image,omitempty"`
	// Mounts are --container-mounts, bound in the order given.
	Mounts []Mount `json:"mounts,omitempty"`
	// Workdir is --container-workdir: the tasks' directory inside.
	Workdir string `json:"workdir,omitempty"`
	// Name is --container-name: a container kept on each node for the
	// job's later steps, writable, removed when the job ends.
	Name string `json:"name,omitempty"`
	// Env lists --container-env: variables whose value from the job's
	// environment wins over the image's.
	Env []string `json:"env,omitempty"`
	// RemapRoot (--container-remap-root) makes the user root inside.
	RemapRoot bool `json:"remap_root,omitempty"`
	// NoMountHome (--no-container-mount-home) leaves the home directory
	// out.
	NoMountHome bool `json:"no_mount_home,omitempty"`
	// Writable (--container-writable) gives the tasks a writable copy of
	// the image; by default its file system is read-only (named
	// containers are always writable).
	Writable bool `json:"writable,omitempty"`
}

// Mount is one bind mount of --container-mounts.
type Mount struct {
	Source string `json:"source"`
	Target string `json:"target"`
	// ReadOnly is the :ro flag.
	ReadOnly bool `json:"read_only,omitempty"`
}

// Bounds on a container request.
const (
	MaxContainerMounts = 256
	MaxContainerEnv    = 1024
)

// ContainerOption is one of the container options shared by sbatch,
// #SBATCH and srun.
type ContainerOption struct {
	Long string
	// Arg says the option takes a value.
	Arg bool
	// Set applies the value to c.
	Set func(c *Container, v string) error
}

// ContainerOptions are the container options (Pyxis's names), for both
// sbatch's option table and srun's.
func ContainerOptions() []ContainerOption {
	return []ContainerOption{
		{Long: "container-image", Arg: true, Set: func(c *Container, v string) error {
			if err := CheckImageRef(v); err != nil {
				return err
			}
			c.Image = v
			return nil
		}},
		{Long: "container-mounts", Arg: true, Set: func(c *Container, v string) error {
			ms, err := ParseContainerMounts(v)
			if err != nil {
				return err
			}
			c.Mounts = append(c.Mounts, ms...)
			return nil
		}},
		{Long: "container-workdir", Arg: true, Set: func(c *Container, v string) error {
			if !path.IsAbs(v) {
				return fmt.Errorf("--container-workdir=%s: give an absolute path inside the container", v)
			}
			c.Workdir = path.Clean(v)
			return nil
		}},
		{Long: "container-name", Arg: true, Set: func(c *Container, v string) error {
			if err := checkContainerName(v); err != nil {
				return err
			}
			c.Name = v
			return nil
		}},
		{Long: "container-env", Arg: true, Set: func(c *Container, v string) error {
			for _, n := range strings.Split(v, ",") {
				if !validEnvName(n) {
					return fmt.Errorf("--container-env=%s: give variable names separated by commas (%q is not a name)", v, n)
				}
				c.Env = append(c.Env, n)
			}
			return nil
		}},
		{Long: "container-remap-root", Set: func(c *Container, _ string) error { c.RemapRoot = true; return nil }},
		{Long: "no-container-remap-root", Set: func(c *Container, _ string) error { c.RemapRoot = false; return nil }},
		{Long: "container-mount-home", Set: func(c *Container, _ string) error { c.NoMountHome = false; return nil }},
		{Long: "no-container-mount-home", Set: func(c *Container, _ string) error { c.NoMountHome = true; return nil }},
		{Long: "container-writable", Set: func(c *Container, _ string) error { c.Writable = true; return nil }},
		{Long: "container-readonly", Set: func(c *Container, _ string) error { c.Writable = false; return nil }},
	}
}

// IsZero reports whether no container option was given.
func (c *Container) IsZero() bool {
	return c == nil || (c.Image == "" && c.Name == "" && len(c.Mounts) == 0 && c.Workdir == "" &&
		len(c.Env) == 0 && !c.RemapRoot && !c.NoMountHome && !c.Writable)
}

// Validate reports every problem of a container request, each naming the
// option and what to do. A request with options but neither an image
// nor a name is one: the options would silently do nothing.
func (c *Container) Validate() error {
	if c == nil {
		return nil
	}
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Image == "" && c.Name == "" {
		bad("container options need --container-image (or --container-name of a container an earlier step of the job created)")
	}
	if c.Image != "" {
		if err := CheckImageRef(c.Image); err != nil {
			errs = append(errs, err)
		}
	}
	if c.Name != "" {
		if err := checkContainerName(c.Name); err != nil {
			errs = append(errs, err)
		}
	}
	if c.Workdir != "" && !path.IsAbs(c.Workdir) {
		bad("--container-workdir=%s: give an absolute path inside the container", c.Workdir)
	}
	if len(c.Workdir) > MaxPathLen || strings.IndexByte(c.Workdir, 0) >= 0 {
		bad("--container-workdir: give a path of at most %d bytes, without NUL", MaxPathLen)
	}
	if len(c.Mounts) > MaxContainerMounts {
		bad("--container-mounts: %d mounts is over the limit of %d", len(c.Mounts), MaxContainerMounts)
	}
	for _, m := range c.Mounts {
		if len(m.Source) > MaxPathLen || len(m.Target) > MaxPathLen {
			bad("--container-mounts: a path is over the limit of %d bytes", MaxPathLen)
		} else if err := checkMount(m); err != nil {
			errs = append(errs, err)
		}
	}
	if len(c.Env) > MaxContainerEnv {
		bad("--container-env: %d names is over the limit of %d", len(c.Env), MaxContainerEnv)
	}
	for _, n := range c.Env {
		if len(n) > MaxNameLen {
			bad("--container-env: a name is over the limit of %d bytes", MaxNameLen)
		} else if !validEnvName(n) {
			bad("--container-env: %q is not a variable name", n)
		}
	}
	return errors.Join(errs...)
}

// ParseContainerMounts parses --container-mounts: SRC:DST[:FLAGS] (or
// SRC alone, bound at the same path) separated by commas; FLAGS is ro or
// rw. Both paths must be absolute.
func ParseContainerMounts(v string) ([]Mount, error) {
	if v == "" {
		return nil, errors.New("--container-mounts: give SRC:DST[:ro] mounts separated by commas")
	}
	var out []Mount
	for _, item := range strings.Split(v, ",") {
		parts := strings.Split(item, ":")
		m := Mount{Source: parts[0]}
		switch len(parts) {
		case 1:
			m.Target = parts[0]
		case 2, 3:
			m.Target = parts[1]
			if len(parts) == 3 {
				switch parts[2] {
				case "ro":
					m.ReadOnly = true
				case "rw", "":
				default:
					return nil, fmt.Errorf("--container-mounts: %q: the flag %q is not ro or rw", item, parts[2])
				}
			}
		default:
			return nil, fmt.Errorf("--container-mounts: %q: give SRC:DST or SRC:DST:ro", item)
		}
		if err := checkMount(m); err != nil {
			return nil, err
		}
		m.Source, m.Target = path.Clean(m.Source), path.Clean(m.Target)
		out = append(out, m)
	}
	return out, nil
}

func checkMount(m Mount) error {
	item := m.Source + ":" + m.Target
	switch {
	case m.Source == "" || m.Target == "":
		return fmt.Errorf("--container-mounts: %q: give both a source and a destination path", item)
	case !path.IsAbs(m.Source):
		return fmt.Errorf("--container-mounts: %q: the source %s is a relative path; give an absolute path on the node", item, m.Source)
	case !path.IsAbs(m.Target):
		return fmt.Errorf("--container-mounts: %q: the destination %s is a relative path; give an absolute path inside the container", item, m.Target)
	case path.Clean(m.Target) == "/":
		return fmt.Errorf("--container-mounts: %q: the container's root cannot be replaced by a mount", item)
	case strings.ContainsAny(item, "\x00\n"):
		return fmt.Errorf("--container-mounts: %q: paths may not hold NUL or newline characters", item)
	}
	return nil
}

func checkContainerName(v string) error {
	if v == "" || len(v) > 128 || v[0] == '.' || v[0] == '-' {
		return fmt.Errorf("--container-name=%q: give a name of letters, digits, '.', '_' and '-' (at most 128, not starting with '.' or '-')", v)
	}
	for _, r := range v {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return fmt.Errorf("--container-name=%q: give a name of letters, digits, '.', '_' and '-'", v)
		}
	}
	return nil
}

func validEnvName(n string) bool {
	if n == "" {
		return false
	}
	for i, r := range n {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// CheckImageRef checks what every form of --container-image shares; the
// controller checks the full syntax with the image store's ParseRef, which
// client commands need not link.
func CheckImageRef(v string) error {
	switch {
	case v == "":
		return errors.New("--container-image: give an image, e.g. nvcr.io#nvidia/pytorch:24.05-py3, or the absolute path of an OCI layout directory, a docker-save tar or a squashfs file")
	case len(v) > MaxPathLen:
		return fmt.Errorf("--container-image: %d characters is over the limit of %d", len(v), MaxPathLen)
	case strings.ContainsAny(v, " \t\n\x00"):
		return fmt.Errorf("--container-image=%q: an image reference has no spaces or control characters", v)
	case strings.HasPrefix(v, "./") || strings.HasPrefix(v, "../") || strings.HasPrefix(v, "~"):
		return fmt.Errorf("--container-image=%s: a relative path; give the absolute path of the image on the nodes", v)
	}
	return nil
}

// Clone returns a copy of c that shares nothing with it (nil for nil).
func (c *Container) Clone() *Container {
	if c == nil {
		return nil
	}
	d := *c
	d.Mounts = append([]Mount(nil), c.Mounts...)
	d.Env = append([]string(nil), c.Env...)
	if c.Mounts == nil {
		d.Mounts = nil
	}
	if c.Env == nil {
		d.Env = nil
	}
	return &d
}
