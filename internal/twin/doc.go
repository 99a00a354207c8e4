// Package twin is Gefion's digital twin: a discrete-event simulation of the
// whole machine that replays job traces through the one scheduling core
// (package sched) on a virtual clock, and the figures, energy and carbon
// accounting and HTML report of such replays.
//
// The twin decides nothing about where or when a job runs: every start,
// preemption and placement comes from sched.Schedule, called as the live
// controller calls it (after events, at most once every SchedIntervalS
// virtual seconds). The twin only owns time: it submits jobs at their trace
// times, ends them after their true run times (which the core never sees: a
// running job's end for the core is its start plus its time limit), kills
// and requeues preempted jobs, and fails and repairs nodes when asked.
//
// Flow: trace.Reader -> Map (records onto the machine: requests, projects,
// time limits, load) -> Run (the simulation, under one policy) -> Summarize
// (Metrics) -> WriteReport (HTML). Forecast runs the same simulation from a
// live snapshot to predict start times; a Forecaster runs it only until
// the job asked about starts and goes on from there for the next
// question, with the same answers.
//
// Speed: a pass over a deep queue would order every pending job; the twin
// keeps the queue's order between passes in a sched.PendingIndex, so a
// pass costs about the number of priority classes (Config.NoIndex turns
// it off; the results are the same), and skips passes that cannot start
// anything (Config.NoSkip).
//
// Same workload, configuration and seed give the same result, byte for
// byte. The package may import cluster, job, sched and its subpackage
// trace; the CLI and the controller import it.
//
// Start-up: the twin is linked into the one gefion binary, so into every
// sbatch and squeue, and does nothing at package initialisation. The
// report's template is parsed when a report is first written, and its
// charts are drawn as plain SVG by this package (svgchart.go) rather than
// by a plotting library, whose initialisation (fonts, LaTeX symbols, image
// codecs) cost more than a minimal Go program takes to run.
package twin
