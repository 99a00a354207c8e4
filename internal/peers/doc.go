// Package peers holds tests in which real clients of Slurm's commands
// drive Gefion's: workflow managers such as Snakemake, which submit with
// sbatch, poll with sacct or scontrol and run their jobs' work with srun.
// Each test runs a tool as it is installed (Debian's packages) against a
// `gefion dev` started from the tree, with the Slurm command names on the
// tool's PATH, and skips with a message where the tool is not installed;
// CI installs them (.ci/run).
package peers
