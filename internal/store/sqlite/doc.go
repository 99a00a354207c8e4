// Package sqlite is the embedded, durable implementation of store.Store on
// SQLite (modernc.org/sqlite: pure Go, no cgo). It is the default store of
// `gefion dev` and of a single-machine controller.
//
// Durability: the database runs in WAL mode with synchronous=FULL, so a
// batch is on disk (the WAL is fsynced) before Apply returns. One writer
// connection applies each batch as one IMMEDIATE transaction through
// prepared statements; a separate pool of read-only connections serves Load
// and Jobs, which WAL lets run while a batch commits.
//
// Schema: versioned migrations (schema.go), each applied in its own
// transaction and recorded in the schema_version table. A database written
// by a newer gefion is refused rather than misread.
//
// Only the controller (and tools that open a data directory) import it.
package sqlite
