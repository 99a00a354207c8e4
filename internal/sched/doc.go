// Package sched is Gefion's one scheduling core. It is pure: Schedule takes a
// Snapshot (the cluster, node states, running and pending jobs, projects and
// their usage, the time now) and a Policy, and returns a Plan (starts with
// exact GPU placements, preemptions, reservations, and for every pending job
// a reason and an estimated start). The live controller and the digital twin
// both call it and apply the plan; nothing else in the repository decides
// where or when a job runs.
//
// The package reads no clock, does no I/O, starts no goroutines and uses no
// global random source: the same snapshot and policy give the same plan.
// Times are Unix seconds passed in. It may import cluster and job only; a test
// enforces that.
//
// A pass, in order:
//  1. Fair Tree fair-share factors from the project tree and decayed usage.
//  2. Priority of every pending job under the policy, then a stable sort.
//     A driver that schedules the same deep queue pass after pass (the
//     twin) may hand a PendingIndex that keeps the order between passes;
//     a starts-only pass then computes one priority per class of jobs
//     that differ only in eligible time, and decides the same.
//  3. In priority order: jobs held back by dependencies, begin time, holds,
//     quotas or array throttles get their reason. Each other job is started
//     now if a placement exists that delays no reservation; otherwise it
//     may preempt (if its QOS allows) and, within the policy's reservation
//     depth, gets a reservation at its earliest start.
//  4. Every job still pending gets an estimated start: its reservation, or
//     the earliest time its shape fits around running jobs and reservations.
//
// Placement is gang (all nodes or none). A job of up to one node's GPUs goes
// on one node (one NVLink domain), best fit, so that whole nodes stay free.
// Multi-node jobs take whole nodes, in one scalable unit whenever one can
// hold them, else in as few as possible.
package sched
