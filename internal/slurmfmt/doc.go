// Package slurmfmt prints Gefion's jobs, nodes, partitions and projects in
// the text formats of Slurm's commands, field for field, so that the tools
// which parse Slurm's output (workflow engines, site scripts) read Gefion's
// the same way: squeue's and sinfo's % codes, sacct's field names and
// widths, scontrol's key=value lines and sacctmgr's tables.
//
// Each surface is a table from a code or name to an accessor (see
// squeueFields, sinfoFields, sacctFields, sacctmgrFields); the commands in
// package cli only parse their flags, fetch from the API and call in here.
// The golden files under testdata/ are compared with recordings of a real
// Slurm 22.05 (testdata/slurm-22.05/) for the widths, headers, time formats
// and state spellings; run the tests with -update to rewrite the goldens.
//
// User-supplied text (job names, reasons, comments) goes through
// textsafe.Field, so that a newline in a job name cannot break a parser's
// row; Slurm itself prints such text raw.
//
// It imports api, job, hostlist and textsafe, and nothing that does I/O
// beyond writing to the io.Writer it is given.
package slurmfmt
