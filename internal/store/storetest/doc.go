// Package storetest is the conformance suite every store.Store
// implementation passes: Memory, SQLite and, later, PostgreSQL. Run is
// called from an implementation's own test with a function that opens an
// empty store.
//
// The expectations are the store contract itself, written against the
// interface only: nothing here knows which database sits underneath, so a
// backend that passes Run behaves the same as the others to the controller.
//
// Only tests import this package.
package storetest
