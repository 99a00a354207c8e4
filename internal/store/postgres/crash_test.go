package postgres

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"github.com/gefion-hpc/gefion/internal/job"
	"github.com/gefion-hpc/gefion/internal/store"
	"github.com/gefion-hpc/gefion/internal/store/postgres/pgtest"
)

// crashEnv names the schema (a URL) a child process writes to; it is set
// only in the child that TestKillDuringBurst starts.
const crashEnv = "GEFION_PG_CRASH_CHILD_URL"

// crashBatchSize is the size of the batch that starts at job first. Batch
// boundaries follow from the IDs alone, so the checker can tell a whole
// batch from part of one.
func crashBatchSize(first job.ID) int { return 1 + int(first*7919%40) }

// crashJob is job id as the child writes it, in batch [first, last]. Its
// content follows from its ID, so a record half-written would not match.
func crashJob(id, first, last job.ID, done bool) store.JobRecord {
	user := fmt.Sprintf("user%d", id%7)
	r := store.JobRecord{
		ID: id, Name: fmt.Sprintf("batch %d-%d", first, last), User: user, Project: "p" + strconv.Itoa(int(id%3)),
		Partition: "batch", QOS: "normal", State: job.Pending, SubmitS: 1_700_000_000 + int64(id),
		Spec: job.Spec{User: user, Script: fmt.Sprintf("#!/bin/sh\necho %d\n", id) + strings.Repeat("# padding\n", int(id%50)),
			Env: []string{fmt.Sprintf("JOB=%d", id), "HOME=/home/" + user}},
		Req:     job.Request{Nodes: 1, GPUsPerNode: int(id % 9), TimeLimitS: 60},
		IdemKey: fmt.Sprintf("key-%d", id),
	}
	if done {
		r.State, r.EndS, r.ExitCode = job.Completed, r.SubmitS+30, 0
		r.Allocs = []store.Alloc{{Node: "n1", GPUs: []int{int(id % 8)}}}
	}
	return r
}

// crashBatch is the batch starting at first: its new jobs, and the last
// job of the previous batch marked completed, in one atomic change.
func crashBatch(first job.ID) store.Batch {
	last := first + job.ID(crashBatchSize(first)) - 1
	var b store.Batch
	for id := first; id <= last; id++ {
		b.NewJobs = append(b.NewJobs, crashJob(id, first, last, false))
	}
	if first > 1 {
		prevFirst := crashBatchStart(first - 1)
		b.Jobs = []store.JobRecord{crashJob(first-1, prevFirst, first-1, true)}
	}
	return b
}

// crashBatchStart returns the first job of the batch that holds id.
func crashBatchStart(id job.ID) job.ID {
	first := job.ID(1)
	for {
		next := first + job.ID(crashBatchSize(first))
		if next > id {
			return first
		}
		first = next
	}
}

// TestCrashChild is the child of TestKillDuringBurst: it applies batches in
// a loop and prints "ack N" once the batch ending with job N is committed.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashEnv)
	if path == "" {
		t.Skip("runs only as the child process of TestKillDuringBurst")
	}
	s, err := Open(context.Background(), path)
	if err != nil {
		fmt.Printf("error open: %v\n", err)
		os.Exit(3)
	}
	snap, err := s.Load(context.Background())
	if err != nil {
		fmt.Printf("error load: %v\n", err)
		os.Exit(3)
	}
	next := snap.MaxJobID + 1
	// The parent kills this process; the deadline only bounds an orphan.
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); {
		b := crashBatch(next)
		if err := s.Apply(context.Background(), &b); err != nil {
			fmt.Printf("error apply: %v\n", err)
			os.Exit(3)
		}
		next += job.ID(len(b.NewJobs))
		fmt.Printf("ack %d\n", next-1)
	}
	s.Close()
}

// TestKillDuringBurst is the store-level "kill -9 during a submission
// burst" fault test. A child process applies batches as fast as it can and
// acknowledges each on stdout; the parent kills it with SIGKILL at a
// different point each round (PostgreSQL sees the connection drop,
// perhaps mid-pipeline), reopens the store and checks that every
// acknowledged job is there exactly once, that every batch is there whole
// or not at all (its new jobs and its update of the previous batch), and
// that the unique index still holds. Rounds continue on the same
// schema, so recovery from one crash is followed by more writes.
func TestKillDuringBurst(t *testing.T) {
	if testing.Short() {
		t.Skip("kills child processes; skipped in -short")
	}
	path := pgtest.Schema(t)
	// The child's connections carry a name of their own, so that the
	// parent can wait for the server to finish with them: a pipeline the
	// child sent before it died may still commit (unacknowledged, which
	// is allowed) after the kill.
	app := fmt.Sprintf("gefion_crash_%d", os.Getpid())
	childURL := path + "&application_name=" + app
	var acked job.ID
	// Acknowledgements to read before the kill, and a delay after it so
	// that the kill lands at different points within a batch, including
	for round, kill := range []struct {
		acks  int
		delay time.Duration
	}{{1, 0}, {5, 300 * time.Microsecond}, {40, time.Millisecond}, {150, 700 * time.Microsecond}} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashEnv+"="+childURL)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		read := func() bool {
			if !sc.Scan() {
				return false
			}
			line := sc.Text()
			if n, ok := strings.CutPrefix(line, "ack "); ok {
				id, err := strconv.ParseInt(n, 10, 64)
				if err != nil {
					t.Fatalf("round %d: child printed %q", round, line)
				}
				acked = max(acked, job.ID(id))
				return true
			}
			if strings.HasPrefix(line, "error") {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("round %d: child failed: %s\n%s", round, line, stderr.String())
			}
			return true
		}
		for n := 0; n < kill.acks; {
			before := acked
			if !read() {
				cmd.Wait()
				t.Fatalf("round %d: child ended after %d acknowledgements: %s", round, n, stderr.String())
			}
			if acked != before {
				n++
			}
		}
		time.Sleep(kill.delay)
		if err := cmd.Process.Kill(); err != nil { // SIGKILL
			t.Fatal(err)
		}
		// Lines already in the pipe were acknowledged before the kill.
		for read() {
		}
		cmd.Wait()
		waitGone(t, path, app)
		checkCrashDB(t, round, path, acked)
	}
	t.Logf("%d jobs acknowledged over all rounds", acked)
}

// checkCrashDB reopens the schema and checks it against what was
// acknowledged.
func checkCrashDB(t *testing.T, round int, path string, acked job.ID) {
	t.Helper()
	ctx := context.Background()
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("round %d: reopen after kill: %v", round, err)
	}
	defer s.Close()
	snap, err := s.Load(ctx)
	if err != nil {
		t.Fatalf("round %d: Load: %v", round, err)
	}
	all, err := s.Jobs(ctx, store.JobQuery{})
	if err != nil {
		t.Fatalf("round %d: Jobs: %v", round, err)
	}
	if snap.MaxJobID < acked {
		t.Fatalf("round %d: MaxJobID %d after kill; job %d was acknowledged", round, snap.MaxJobID, acked)
	}
	if job.ID(len(all)) != snap.MaxJobID {
		t.Errorf("round %d: %d jobs stored, MaxJobID %d: jobs missing or duplicated", round, len(all), snap.MaxJobID)
	}
	// Walk the batches: each is whole, in order, with the content written.
	i := 0
	for first := job.ID(1); first <= snap.MaxJobID; {
		last := first + job.ID(crashBatchSize(first)) - 1
		if last > snap.MaxJobID {
			t.Fatalf("round %d: batch %d-%d is there only up to job %d", round, first, last, snap.MaxJobID)
		}
		for id := first; id <= last; id++ {
			if i >= len(all) || all[i].ID != id {
				t.Fatalf("round %d: job %d missing (batch %d-%d)", round, id, first, last)
			}
			// The last job of a batch was completed by the next batch, if
			// that batch committed.
			done := id == last && last < snap.MaxJobID
			// cmp.Diff is slow over tens of thousands of jobs; it only
			// explains a mismatch that DeepEqual found.
			if want := crashJob(id, first, last, done); !reflect.DeepEqual(want, all[i]) {
				t.Fatalf("round %d: job %d (-want +got):\n%s", round, id, cmp.Diff(want, all[i]))
			}
			i++
		}
		first = last + 1
	}
	if n := len(snap.ActiveJobs); n != len(all)-countDone(all) {
		t.Errorf("round %d: %d active jobs in Load; want %d", round, n, len(all)-countDone(all))
	}
	if len(snap.RecentKeys) != len(all) {
		t.Errorf("round %d: %d recent keys; want %d", round, len(snap.RecentKeys), len(all))
	}
	// The unique index survived: a retried submission still conflicts.
	if acked > 0 {
		dup := crashJob(snap.MaxJobID+1, 0, 0, false)
		dup.User, dup.IdemKey = crashJob(acked, 0, 0, false).User, crashJob(acked, 0, 0, false).IdemKey
		if err := s.Apply(ctx, &store.Batch{NewJobs: []store.JobRecord{dup}}); !errors.Is(err, store.ErrConflict) {
			t.Errorf("round %d: resubmitting acknowledged job %d's key: Apply = %v; want ErrConflict", round, acked, err)
		}
	}
}

func countDone(rs []store.JobRecord) int {
	n := 0
	for _, r := range rs {
		if r.State.Final() {
			n++
		}
	}
	return n
}

// waitGone waits until no server process serves a connection named app.
func waitGone(t *testing.T, url, app string) {
	t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		var n int
		if err := c.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE application_name = $1`, app).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the killed child's connections still open after 10 s")
		}
	}
}
