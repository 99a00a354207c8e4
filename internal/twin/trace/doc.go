// Package trace reads public GPU-cluster job traces and Gefion's own
// accounting export as a stream of Records: one row at a time, with no copy
// of the file kept per row. It knows the Philly trace as prepared by Pollux
// and Sia, the Tiresias sample, the Alibaba 2023 GPU pod list, the Pollux and
// Sia workload files, Helios-style Slurm logs, a generic CSV reader that
// recognises the usual column names (and takes a --columns mapping for the
// rest), and the gefion accounting export.
//
// A row that cannot be read is a *RowError naming the file, line, column and
// field; with Options.SkipBad the reader counts such rows and goes on.
//
// The package owns only parsing: it knows nothing of clusters or schedulers.
// It imports the standard library only and may be imported by any package;
// the twin is its main user. Every gefion command links it, so its tables
// of column names are built when a trace is first read, not at package
// initialisation.
package trace
