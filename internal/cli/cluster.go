package cli

import (
	"fmt"
	"sort"
	"strings"

	"github.com/gefion-hpc/gefion/internal/cluster"
)

func init() {
	register(&command{path: "cluster info", summary: "inventory and capacity of a cluster (preset or file)", run: runClusterInfo})
}

// loadCluster returns the cluster named by --config (a file) or --preset.
func loadCluster(preset, config string) (*cluster.Cluster, error) {
	if config != "" {
		if preset != "" && preset != "gefion" {
			return nil, usagef("give either --preset or --config, not both")
		}
		return cluster.Load(config)
	}
	if preset == "" {
		preset = "gefion"
	}
	c, err := cluster.Preset(preset)
	if err != nil {
		return nil, &UsageError{Msg: err.Error()}
	}
	return c, nil
}

func runClusterInfo(e *Env, args []string) error {
	fs := newFlags(e, "cluster info")
	preset := fs.String("preset", "", "built-in cluster: "+strings.Join(cluster.PresetNames(), ", ")+" (default gefion)")
	config := fs.String("config", "", "cluster description file (TOML)")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	c, err := loadCluster(*preset, *config)
	if err != nil {
		return err
	}
	inf := c.Info()
	if *asJSON {
		return writeJSON(e.Stdout, inf)
	}
	w := e.Stdout
	fmt.Fprintf(w, "Cluster %s\n", inf.Name)
	fmt.Fprintf(w, "  nodes            %d in %d scalable units %v\n", inf.Nodes, inf.ScalableUnits, inf.NodesPerSU)
	types := make([]string, 0, len(inf.GPUTypes))
	for t, n := range inf.GPUTypes {
		types = append(types, fmt.Sprintf("%d x %s", n, t))
	}
	sort.Strings(types)
	fmt.Fprintf(w, "  GPUs             %d (%s)\n", inf.GPUs, strings.Join(types, ", "))
	fmt.Fprintf(w, "  CPU cores        %d\n", inf.CPUs)
	fmt.Fprintf(w, "  memory           %.1f TiB host, %.1f TB GPU\n", float64(inf.MemoryBytes)/(1<<40), float64(inf.GPUMemoryBytes)/1e12)
	fmt.Fprintf(w, "  peak FP8         %.2f EFLOPS with sparsity, %.2f dense\n", inf.PeakFP8SparseEF, inf.PeakFP8DenseEF)
	fmt.Fprintf(w, "  peak BF16        %.2f EFLOPS dense\n", inf.PeakBF16DenseEF)
	fmt.Fprintf(w, "  peak FP64 tensor %.2f PFLOPS\n", inf.PeakFP64TensorPF)
	fmt.Fprintf(w, "  max power        %.0f kW (GPUs at TDP %.0f kW)\n", inf.MaxPowerKW, inf.GPUTDPTotalKW)
	fmt.Fprintf(w, "  compute fabric   %.1f Tb/s injection (rails)\n", inf.RailBandwidthTbps)
	fmt.Fprintf(w, "  largest one-SU job %d GPUs\n", inf.LargestOneSUJobGPUs)
	fmt.Fprintf(w, "  partitions       %s\n", strings.Join(inf.Partitions, ", "))
	return nil
}
