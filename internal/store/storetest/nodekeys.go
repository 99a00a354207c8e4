package storetest

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gefion-hpc/gefion/internal/store"
)

// testNodeKeys checks the NodeKeyStore part of a store: put (replacing a
// node's pin), list in node order, delete, and that deleting an unknown
// node changes nothing.
func testNodeKeys(t *testing.T, s store.Store) {
	ks, ok := s.(store.NodeKeyStore)
	if !ok {
		t.Skip("this store keeps no node keys (store.NodeKeyStore)")
	}
	ctx := context.Background()
	a := store.NodeKeyRecord{Node: "dgx002", Key: "key-a", EnrolledS: T0}
	b := store.NodeKeyRecord{Node: "dgx001", Key: "key-b", EnrolledS: T0 + 1}
	if err := ks.PutNodeKeys(ctx, []store.NodeKeyRecord{a, b}); err != nil {
		t.Fatal(err)
	}
	a2 := store.NodeKeyRecord{Node: "dgx002", Key: "key-c", EnrolledS: T0 + 2}
	if err := ks.PutNodeKeys(ctx, []store.NodeKeyRecord{a2}); err != nil {
		t.Fatal(err)
	}
	got, err := ks.NodeKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]store.NodeKeyRecord{b, a2}, got); diff != "" {
		t.Errorf("NodeKeys (-want +got):\n%s", diff)
	}
	if err := ks.DeleteNodeKey(ctx, "dgx009"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteNodeKey of an unknown node = %v; want ErrNotFound", err)
	}
	if err := ks.DeleteNodeKey(ctx, "dgx001"); err != nil {
		t.Fatal(err)
	}
	if got, err := ks.NodeKeys(ctx); err != nil || !cmp.Equal(got, []store.NodeKeyRecord{a2}) {
		t.Errorf("NodeKeys after a delete = %v, %v; want only %v", got, err, a2)
	}
}
