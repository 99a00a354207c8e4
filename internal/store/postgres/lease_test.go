package postgres

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/gefion-hpc/gefion/internal/job"
	"github.com/gefion-hpc/gefion/internal/store"
	"github.com/gefion-hpc/gefion/internal/store/postgres/pgtest"
	"github.com/gefion-hpc/gefion/internal/store/storetest"
)

func newJobs(first job.ID, n int) *store.Batch {
	b := &store.Batch{}
	for i := range n {
		b.NewJobs = append(b.NewJobs, storetest.Job(first+job.ID(i), "alice", "p", job.Pending, storetest.T0, 0))
	}
	return b
}

// TestLeaseTakeoverAndFence: one controller holds the lease; a second
// cannot take it until it lapses, then does, and from then on the first
// one's commits and renewals are refused and change nothing.
func TestLeaseTakeoverAndFence(t *testing.T) {
	url := pgtest.Schema(t)
	a, b := openStore(t, url), openStore(t, url)
	ctx := context.Background()
	const ttl = 300 * time.Millisecond
	la, ok, err := a.Acquire(ctx, "a", "http://a:8420", ttl)
	if err != nil || !ok || la.Epoch != 1 {
		t.Fatalf("a: Acquire = %+v, %v, %v; want epoch 1", la, ok, err)
	}
	if l, ok, err := b.Acquire(ctx, "b", "http://b:8420", ttl); err != nil || ok || l.Holder != "a" || l.Addr != "http://a:8420" || !l.Live {
		t.Fatalf("b: Acquire while a leads = %+v, %v, %v; want refused, naming a", l, ok, err)
	}
	if err := a.Apply(ctx, newJobs(1, 2)); err != nil {
		t.Fatalf("a: Apply as leader: %v", err)
	}
	if err := a.Renew(ctx, ttl); err != nil {
		t.Fatalf("a: Renew: %v", err)
	}
	time.Sleep(ttl + 100*time.Millisecond)
	lb, ok, err := b.Acquire(ctx, "b", "http://b:8420", ttl)
	if err != nil || !ok || lb.Epoch != 2 {
		t.Fatalf("b: Acquire after the lease lapsed = %+v, %v, %v; want epoch 2", lb, ok, err)
	}
	// The takeover ended a's writer connection, which its first commit
	// finds; the next one, on a new connection, meets the fence.
	if err := a.Apply(ctx, newJobs(3, 1)); err == nil {
		t.Errorf("a: Apply after b took over = nil; want an error")
	}
	if err := a.Apply(ctx, newJobs(3, 1)); !errors.Is(err, ErrFenced) {
		t.Errorf("a: second Apply after b took over = %v; want ErrFenced", err)
	}
	if err := a.Renew(ctx, ttl); !errors.Is(err, ErrFenced) {
		t.Errorf("a: Renew after b took over = %v; want ErrFenced", err)
	}
	if err := b.Apply(ctx, newJobs(3, 1)); err != nil {
		t.Errorf("b: Apply as leader: %v", err)
	}
	got, err := b.Jobs(ctx, store.JobQuery{})
	if err != nil || len(got) != 3 || got[2].ID != 3 {
		t.Errorf("jobs %v, %v; want 1-3, job 3 b's alone", got, err)
	}
	if l, err := a.Leader(ctx); err != nil || l.Holder != "b" || l.Epoch != 2 || !l.Live {
		t.Errorf("Leader = %+v, %v; want b at epoch 2", l, err)
	}
	// A released lease is free at once.
	if err := b.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if l, ok, err := a.Acquire(ctx, "a", "http://a:8420", ttl); err != nil || !ok || l.Epoch != 3 {
		t.Errorf("a: Acquire after b released = %+v, %v, %v; want epoch 3", l, ok, err)
	}
}

// TestFenceUnderConcurrentTakeover: the old leader commits as fast as it
// can while a standby takes over and loads the state. Everything the old
// leader was told is committed must be in the new leader's snapshot, and
// nothing it wrote may land after it: the store must end holding exactly
// that snapshot's jobs. Without the fence the old leader keeps writing.
func TestFenceUnderConcurrentTakeover(t *testing.T) {
	url := pgtest.Schema(t)
	a, b := openStore(t, url), openStore(t, url)
	ctx := context.Background()
	const ttl = 200 * time.Millisecond
	if _, ok, err := a.Acquire(ctx, "a", "", ttl); err != nil || !ok {
		t.Fatalf("a: Acquire = %v, %v", ok, err)
	}
	var mu sync.Mutex
	var acked job.ID
	tookOver := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		next := job.ID(1)
		var after <-chan time.Time
		for {
			select {
			case <-tookOver:
				tookOver, after = nil, time.After(300*time.Millisecond)
			case <-after:
				done <- errors.New("a kept committing for 300 ms after b took over")
				return
			default:
			}
			err := a.Apply(ctx, newJobs(next, 3))
			if errors.Is(err, ErrFenced) {
				done <- nil
				return
			}
			if err != nil {
				// The takeover ended a's connection (nothing of that
				// batch applied); the next commit reconnects.
				continue
			}
			next += 3
			mu.Lock()
			acked = next - 1
			mu.Unlock()
		}
	}()
	var snap *store.Snapshot
	for {
		if _, ok, err := b.Acquire(ctx, "b", "", ttl); err != nil {
			t.Fatal(err)
		} else if ok {
			var err error
			if snap, err = b.Load(ctx); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			sawAcked := acked
			mu.Unlock()
			if snap.MaxJobID < sawAcked {
				t.Errorf("b loaded up to job %d; a had job %d acknowledged before", snap.MaxJobID, sawAcked)
			}
			close(tookOver)
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := <-done; err != nil {
		t.Fatalf("a: %v", err)
	}
	final, err := b.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if final.MaxJobID != snap.MaxJobID || final.MaxJobID < acked {
		t.Errorf("store ends at job %d; b loaded %d at takeover and a had %d acknowledged: a wrote after the takeover", final.MaxJobID, snap.MaxJobID, acked)
	}
	t.Logf("a committed %d jobs before it was fenced", acked)
}
