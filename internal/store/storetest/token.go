package storetest

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gefion-hpc/gefion/internal/store"
)

// testTokens checks the TokenStore part of a store: put, list, revoke,
// and that a conflict or an unknown ID changes nothing.
func testTokens(t *testing.T, s store.Store) {
	ts, ok := s.(store.TokenStore)
	if !ok {
		t.Skip("this store keeps no tokens (store.TokenStore)")
	}
	ctx := context.Background()
	a := store.TokenRecord{ID: "b0000001", User: "alice", Hash: "aa", CreatedS: T0, ExpiresS: T0 + 3600}
	b := store.TokenRecord{ID: "a0000002", User: "bob", Hash: "bb", CreatedS: T0 + 1, ExpiresS: T0 + 7200}
	for _, r := range []store.TokenRecord{a, b} {
		if err := ts.PutToken(ctx, &r); err != nil {
			t.Fatalf("PutToken(%s): %v", r.ID, err)
		}
	}
	dup := a
	dup.User = "mallory"
	if err := ts.PutToken(ctx, &dup); !errors.Is(err, store.ErrConflict) {
		t.Errorf("PutToken of an existing ID = %v; want ErrConflict", err)
	}
	if err := ts.RevokeToken(ctx, "nosuch00", T0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RevokeToken of an unknown ID = %v; want ErrNotFound", err)
	}
	if err := ts.RevokeToken(ctx, a.ID, T0+10); err != nil {
		t.Fatal(err)
	}
	if err := ts.RevokeToken(ctx, a.ID, T0+20); err != nil {
		t.Fatal(err)
	}
	got, err := ts.Tokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	a.RevokedS = T0 + 10
	if d := cmp.Diff([]store.TokenRecord{b, a}, got); d != "" {
		t.Errorf("Tokens (-want +got):\n%s", d)
	}
}
