// Package pgtest gives tests a PostgreSQL schema of their own: created
// fresh for each test, named in the URL it returns (search_path), and
// dropped when the test ends, so tests run in parallel and leave nothing
// behind. Tests skip with a message where no PostgreSQL is reachable.
//
// Only tests import it.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvURL names the server tests use; unset, DefaultURL.
const EnvURL = "GEFION_TEST_POSTGRES"

// DefaultURL is the PostgreSQL CI and development machines run.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// ServerURL returns the test server's URL, skipping the test if it cannot
// be reached.
func ServerURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(EnvURL)
	if u == "" {
		u = DefaultURL
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Skipf("needs PostgreSQL at %s (set %s to another server): %v", u, EnvURL, err)
	}
	c.Close(ctx)
	return u
}

// Schema creates a new, empty schema for t and returns the server's URL
// with search_path set to it. The schema is dropped at the end of t.
func Schema(t testing.TB) string {
	t.Helper()
	base := ServerURL(t)
	var b [6]byte
	rand.Read(b[:])
	name := "gefion_test_" + hex.EncodeToString(b[:])
	ctx := context.Background()
	c, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to %s: %v", base, err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, `CREATE SCHEMA `+name); err != nil {
		t.Fatalf("create schema %s: %v", name, err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("drop schema %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, `DROP SCHEMA `+name+` CASCADE`); err != nil {
			t.Errorf("drop schema %s: %v", name, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	return u.String()
}
