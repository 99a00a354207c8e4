// Package controller is Gefion's controller: it owns the cluster's state,
// takes jobs durably, calls the scheduling core (package sched) and applies
// its plans, talks to node agents, and serves the HTTP API (/v1/...) and
// Prometheus metrics (/metrics).
//
// One goroutine (the loop) owns all state. API handlers and agent sessions
// send it operations; it runs a burst of them against a transaction that
// stages their changes, commits the transaction to the store in one batch
// (group commit), and only then installs the changes in memory, tells agents
// what to do and answers the callers, in that order. A failed commit
// changes nothing and every caller in the burst gets the error. Scheduling
// passes run in the same loop, debounced: at most one per SchedInterval.
//
// It is imported by cmd-level code only (the CLI's dev and server commands).
package controller
