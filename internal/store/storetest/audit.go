package storetest

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gefion-hpc/gefion/internal/job"
	"github.com/gefion-hpc/gefion/internal/store"
)

// testAudit: audit records are appended in order, numbered by the store,
// selected by time and user, capped to the newest, and commit or fail with
// the rest of their batch.
func testAudit(t *testing.T, s store.Store) {
	ctx := context.Background()
	rec := func(ts int64, user, action, outcome string, status int) store.AuditRecord {
		return store.AuditRecord{TimeS: ts, User: user, Via: "peer uid 1000", Action: action, Target: "7",
			Outcome: outcome, Status: status, Detail: "detail of " + action}
	}
	a := rec(T0, "alice", "POST /v1/jobs", "ok", 200)
	b := rec(T0+10, "bob", "POST /v1/jobs/{id}/cancel", "forbidden", 403)
	c := rec(T0+20, "alice", "POST /v1/nodes/drain", "forbidden", 403)
	apply(t, s, &store.Batch{Audit: []store.AuditRecord{a, b}})
	apply(t, s, &store.Batch{Audit: []store.AuditRecord{c}, NewJobs: []store.JobRecord{Job(1, "alice", "p1", job.Pending, T0, 0)}})

	// A batch that fails keeps none of its audit records either.
	bad := &store.Batch{Audit: []store.AuditRecord{rec(T0+30, "mallory", "POST /v1/jobs", "ok", 200)},
		NewJobs: []store.JobRecord{Job(1, "mallory", "p1", job.Pending, T0, 0)}}
	if err := s.Apply(ctx, bad); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("Apply(batch with an existing job ID) = %v; want ErrConflict", err)
	}

	number := func(seqs []int64, recs ...store.AuditRecord) []store.AuditRecord {
		out := make([]store.AuditRecord, len(recs))
		for i, r := range recs {
			r.Seq = seqs[i]
			out[i] = r
		}
		return out
	}
	all, err := s.Audit(ctx, store.AuditQuery{})
	if err != nil {
		t.Fatalf("Audit: %v", err)
	}
	if len(all) != 3 {
		t.Fatalf("Audit() = %d records; want 3: %+v", len(all), all)
	}
	seqs := []int64{all[0].Seq, all[1].Seq, all[2].Seq}
	if !(seqs[0] > 0 && seqs[0] < seqs[1] && seqs[1] < seqs[2]) {
		t.Errorf("Audit() seqs = %v; want positive and increasing", seqs)
	}
	if diff := cmp.Diff(number(seqs, a, b, c), all); diff != "" {
		t.Errorf("Audit() (-want +got):\n%s", diff)
	}
	for _, q := range []struct {
		q    store.AuditQuery
		want []store.AuditRecord
	}{
		{store.AuditQuery{User: "alice"}, number([]int64{seqs[0], seqs[2]}, a, c)},
		{store.AuditQuery{SinceS: T0 + 10}, number(seqs[1:], b, c)},
		{store.AuditQuery{SinceS: T0 + 1, User: "alice"}, number(seqs[2:], c)},
		{store.AuditQuery{Limit: 2}, number(seqs[1:], b, c)},
		{store.AuditQuery{User: "mallory"}, []store.AuditRecord{}},
	} {
		got, err := s.Audit(ctx, q.q)
		if err != nil {
			t.Fatalf("Audit(%+v): %v", q.q, err)
		}
		if diff := cmp.Diff(q.want, got, opts); diff != "" {
			t.Errorf("Audit(%+v) (-want +got):\n%s", q.q, diff)
		}
	}
}
