// Package job is the job model: the request a user makes (Spec, in Slurm's
// terms), its validation and canonical form, the resolved resource shape the
// scheduler places (Request), job states, dependencies, arrays, and the
// parser for Slurm batch scripts (#SBATCH lines).
//
// It imports only cluster and hostlist and may be imported by any package.
// Every gefion command links it, so nothing runs at package initialisation:
// the sbatch option table and its index are built on first use.
package job
