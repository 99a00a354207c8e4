// Command gefion is the workload manager of the Gefion AI supercomputer.
//
// It is one binary: controller, node agent, CLI, digital twin and quantum
// simulator. Invoked as sbatch, squeue, scancel, sinfo, sacct, scontrol,
// sprio, sstat or another Slurm command's name (a symlink), it answers as
// that Slurm command. All logic lives in internal/cli.
//
// Being one binary, it runs the package initialisation of everything it
// links before any command, and sbatch or squeue run in loops: so no
// package linked here does real work at initialisation (tables, templates
// and libraries are built on first use), and modules whose initialisation
// is heavy are not linked at all. TestClientStartsLight holds both.
package main

import (
	"os"

	"github.com/gefion-hpc/gefion/internal/cli"
)

func main() {
	os.Exit(cli.Run(os.Args, os.Stdin, os.Stdout, os.Stderr))
}
