// Package controller is Gefion's controller: it owns the cluster's state,
// takes jobs durably, calls the scheduling core (package sched) and applies
// its plans, talks to node agents, and serves the HTTP API (/v1/...) and
// Prometheus metrics (/metrics, in the text format written by package
// promtext: the Prometheus Go client's package initialisation would run in
// every gefion command, the controller being linked into the one binary).
//
// One goroutine (the loop) owns all state. API handlers and agent sessions
// send it operations; it runs a burst of them against a transaction that
// stages their changes and hands the transaction to a committer goroutine,
// which writes it to the store in one batch (group commit). The burst is
// installed in memory at hand-off, so that the operations arriving while it
// is being written run into the next transaction on top of it (the commits
// are pipelined); but its callers are answered, and agents told what to
// do, only once it is durable, in that order. Nothing acknowledged can be
// lost, and no answer reflects anything not yet on disk. A failed commit
// leaves memory ahead of the store, so the controller answers that burst
// and the next with "nothing applied, retry" and stops; a restart recovers
// the committed state. Scheduling passes run in the same loop, debounced
// (at most one per SchedInterval), on the committed state: the loop first
// waits for the pipeline to drain.
//
// Job steps (srun inside a job, steps.go) are recorded here like jobs, in
// the same group commit, but their tasks' I/O never passes through the
// controller: it draws a key per step, gives it to srun in the reply and
// to the step's agents in their step commands, and the agents stream the
// tasks' I/O straight to srun, each end proving it holds the key. So a
// chatty step costs the controller nothing, a controller restart does not
// cut a running step's output, and the controller sees only what it must
// record: that a step started, where, and how each node's tasks ended.
//
// It is imported by cmd-level code only (the CLI's dev and server commands).
package controller
