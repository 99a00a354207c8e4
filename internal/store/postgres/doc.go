// Package postgres is the production implementation of store.Store on
// PostgreSQL (github.com/jackc/pgx/v5): the store that several controllers
// share, one leading at a time (lease.go), and that the site's own
// PostgreSQL replication and backups keep safe.
//
// Commits: Apply sends a whole batch as one pipeline of prepared
// statements ending in one Sync, which PostgreSQL runs as one implicit
// transaction: one network round trip per burst, however many jobs it
// holds. Rows travel as column arrays (unnest), one statement per table
// and kind of change, so a burst of a thousand submissions is one INSERT.
// Checks that SQLite makes row by row (an update of an unknown job, a step
// of an unknown job) run inside the same transaction and abort it, so a
// batch commits whole or not at all.
//
// Fencing: a store that holds the leader lease (Lease) puts its epoch at
// the head of every commit; a commit whose epoch no longer holds the lease
// fails with ErrFenced and changes nothing, so a deposed leader can never
// write again.
//
// Schema: versioned migrations (schema.go) in the schema the connection's
// search_path names first, each applied in its own transaction under an
// advisory lock, and recorded in schema_version. A schema written by a
// newer gefion is refused rather than misread.
//
// Only the controller (and tools that open a store) import it.
package postgres
