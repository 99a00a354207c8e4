//go:build !client

package cli

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"time"

	"github.com/gefion-hpc/gefion/internal/agent"
	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/cluster"
)

// Settings of the local node's executor that gefion dev and gefion agent
// take from the environment (deploy/gefion-agent.service sets them):
//
//	GEFION_AGENT_STATE_DIR  where job scripts are spooled ($TMPDIR/gefion-agent)
//	GEFION_KILL_WAIT        SIGTERM to SIGKILL at the time limit (30s)
//	GEFION_IDLE_AFTER       report an allocated GPU idle this long (30m; 0: never)
//	GEFION_SAMPLE_EVERY     how often GPUs are sampled (10s)
//	GEFION_CGROUP_PARENT    cgroup v2 directory for job cgroups (found)
//	GEFION_NO_CGROUPS=1     run jobs without cgroups
//	GEFION_CLUSTER_NAME     SLURM_CLUSTER_NAME (gefion)
//	GEFION_VIRTUAL_NODE=1   a virtual node: jobs "run" for --comment duration=N
//	GEFION_ALLOW_SYSTEM_USERS=1  a root agent may run jobs of root and uids below 1000
const (
	envStateDir     = "GEFION_AGENT_STATE_DIR"
	envKillWait     = "GEFION_KILL_WAIT"
	envIdleAfter    = "GEFION_IDLE_AFTER"
	envSampleEvery  = "GEFION_SAMPLE_EVERY"
	envCgroupParent = "GEFION_CGROUP_PARENT"
	envNoCgroups    = "GEFION_NO_CGROUPS"
	envClusterName  = "GEFION_CLUSTER_NAME"
	envVirtualNode  = "GEFION_VIRTUAL_NODE"
	envAllowSystem  = "GEFION_ALLOW_SYSTEM_USERS"
)

// localNode describes this machine as one node and returns the executor
// that runs its jobs: real processes of the submitting users on its GPUs.
// gpus < 0 means discover them through NVML (none where there is no
// driver); otherwise that many GPUs are declared, and nothing is measured.
// With GEFION_VIRTUAL_NODE=1 the node is virtual instead: jobs "run" for
// their declared duration (--comment duration=N) or their time limit and
// report modelled energy.
// stateSub, when set, is a subdirectory of the state directory for this
// node alone (gefion dev --nodes N runs several nodes on one host).
func localNode(name string, gpus int, dev bool, stateSub string) (api.NodeInventory, agent.Executor, error) {
	if name == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			h = "localhost"
		}
		name = h
	}
	inv := api.NodeInventory{Name: name, SU: "su1", CPUs: runtime.NumCPU(), MemoryMB: memTotalMB()}
	if inv.MemoryMB == 0 {
		inv.MemoryMB = 1024
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("node", name)
	if on, _ := strconv.ParseBool(os.Getenv(envVirtualNode)); on {
		inv.Virtual = true
		inv.GPUs = agent.DeclaredGPUs(max(gpus, 0), cluster.H100SXM).Inventory
		return inv, &agent.Virtual{GPU: cluster.H100SXM}, nil
	}

	var g *agent.GPUs
	if gpus >= 0 {
		g = agent.DeclaredGPUs(gpus, cluster.H100SXM)
	} else {
		var err error
		if g, err = agent.DiscoverGPUs(); err != nil {
			if !errors.Is(err, agent.ErrNoNVML) {
				return inv, nil, fmt.Errorf("discovering GPUs: %w; declare them with --gpus N", err)
			}
			log.Info("no GPUs discovered; CPU jobs still run (declare GPUs with --gpus N)", "why", err)
			g = agent.DeclaredGPUs(0, cluster.H100SXM)
		}
	}
	inv.GPUs = g.Inventory
	cfg := agent.ProcessConfig{
		Node: name, Cluster: os.Getenv(envClusterName), StateDir: os.Getenv(envStateDir),
		CgroupParent: os.Getenv(envCgroupParent), Log: log,
	}
	cfg.NoCgroups, _ = strconv.ParseBool(os.Getenv(envNoCgroups))
	// gefion dev's one user started it; elsewhere system accounts (root)
	// run nothing unless the operator says so.
	cfg.AllowSystemUsers = dev
	if on, _ := strconv.ParseBool(os.Getenv(envAllowSystem)); on {
		cfg.AllowSystemUsers = true
	}
	for _, d := range []struct {
		env string
		to  *time.Duration
	}{{envKillWait, &cfg.KillWait}, {envIdleAfter, &cfg.IdleAfter}, {envSampleEvery, &cfg.SampleEvery}} {
		v := os.Getenv(d.env)
		if v == "" {
			continue
		}
		t, err := time.ParseDuration(v)
		if err != nil || t < 0 {
			return inv, nil, fmt.Errorf("%s=%q: give a duration such as 30s or 10m", d.env, v)
		}
		*d.to = t
		if t == 0 && d.to == &cfg.IdleAfter {
			cfg.IdleAfter = -1 // 0 means never here; the zero value means the default there
		}
	}
	if stateSub != "" {
		base := cfg.StateDir
		if base == "" {
			base = filepath.Join(os.TempDir(), "gefion-agent")
		}
		cfg.StateDir = filepath.Join(base, stateSub)
	}
	images, err := nodeImages(log.With("part", "images"))
	if err != nil {
		return inv, nil, err
	}
	cfg.Images = images
	p, err := agent.NewProcess(cfg, g)
	if err != nil {
		return inv, nil, err
	}
	inv.Cgroups = p.Cgroups()
	inv.ContainerRuntime, inv.NoContainers = p.ContainerSupport()
	log.Info("local node", "gpus", len(g.Inventory), "gpu_source", g.Driver, "cgroups", inv.Cgroups, "containers", inv.ContainerRuntime)
	return inv, p, nil
}

// memTotalMB reads MemTotal from /proc/meminfo (0 if unknown).
func memTotalMB() int64 {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	var kb int64
	for _, line := range splitLines(string(data)) {
		if n, _ := fmt.Sscanf(line, "MemTotal: %d kB", &kb); n == 1 {
			return kb >> 10
		}
	}
	return 0
}

func splitLines(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}
