// Command gefion is the workload manager of the Gefion AI supercomputer.
//
// It is one binary: controller, node agent, CLI, digital twin and quantum
// simulator. Invoked as sbatch, squeue, scancel, sinfo, sacct or scontrol (a
// symlink), it answers as that Slurm command. All logic lives in internal/cli.
package main

import (
	"os"

	"github.com/gefion-hpc/gefion/internal/cli"
)

func main() {
	os.Exit(cli.Run(os.Args, os.Stdin, os.Stdout, os.Stderr))
}
