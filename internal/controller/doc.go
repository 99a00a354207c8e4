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
// It is imported by cmd-level code only (the CLI's dev and server commands).
package controller
