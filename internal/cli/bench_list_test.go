package cli

import (
	"context"
	"io"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gefion-hpc/gefion/internal/cluster"
	"github.com/gefion-hpc/gefion/internal/controller"
	"github.com/gefion-hpc/gefion/internal/job"
	"github.com/gefion-hpc/gefion/internal/store"
	"github.com/gefion-hpc/gefion/internal/store/sqlite"
)

// benchJobs is how many jobs the list benchmarks fill the controller with.
const benchJobs = 100_000

// listBench is a controller on SQLite, preloaded through its store with
// benchJobs jobs of one user, served over HTTP in this process: the path a
// squeue or sacct takes on a busy centre, from the command's arguments to
// its last printed line.
type listBench struct {
	addr string
	stop func()
}

// newListBench preloads the store (the setup the benchmarks leave out of
// their timing) and starts the controller. Pending jobs are held, so that
// scheduling passes over them cost little and do not blur the figures.
func newListBench(b *testing.B, finished bool) *listBench {
	b.Helper()
	st, err := sqlite.Open(filepath.Join(b.TempDir(), "gefion.db"))
	if err != nil {
		b.Fatal(err)
	}
	c, err := cluster.Preset("dgx-h100")
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now().Unix()
	y, m, d := time.Now().Date()
	today := time.Date(y, m, d, 0, 0, 0, 0, time.Local).Unix()
	spec := job.Spec{Name: "train", NTasks: 1, TimeLimitS: 3600, Hold: !finished, Script: "#!/bin/sh\ntrue\n"}
	req := job.Request{Nodes: 1, GPUsPerNode: 8, CPUsPerNode: 16, MemPerNodeMB: 65536, TimeLimitS: 3600}
	const batch = 10_000
	for first := 1; first <= benchJobs; first += batch {
		var bt store.Batch
		for id := first; id < first+batch; id++ {
			r := store.JobRecord{ID: job.ID(id), Name: "train", User: "bench", Project: "default", Partition: "gpu",
				QOS: "normal", State: job.Pending, SubmitS: now - 600, EligibleS: now - 600, Spec: spec, Req: req}
			if finished {
				// Jobs that ended today, so that sacct's default window
				// (today from midnight) holds them all.
				end := max(today, now-3600) + int64(id)%1800
				r.State, r.StartS, r.EndS, r.SubmitS, r.EligibleS = job.Completed, end-60, end, end-120, end-120
				r.Allocs = []store.Alloc{{Node: "dgx001", GPUs: []int{0, 1, 2, 3, 4, 5, 6, 7}, CPUs: 16, MemMB: 65536}}
				r.GPUSeconds = 480
			}
			bt.NewJobs = append(bt.NewJobs, r)
		}
		if err := st.Apply(context.Background(), &bt); err != nil {
			b.Fatal(err)
		}
	}
	ctl, err := controller.New(controller.Config{Cluster: c, DefaultProject: "default", Operators: []string{"ops"}}, st, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = ctl.Run(ctx); close(done) }()
	srv := httptest.NewServer(ctl.Handler())
	return &listBench{addr: srv.URL, stop: func() { srv.Close(); cancel(); <-done; st.Close() }}
}

// run runs one command as user bench and checks that it printed want
// lines.
func (lb *listBench) run(b *testing.B, want int, args ...string) {
	env := map[string]string{"GEFION_ADDR": lb.addr, "GEFION_USER": "bench"}
	var errb strings.Builder
	lines := &lineCounter{}
	e := &Env{Stdin: strings.NewReader(""), Stdout: lines, Stderr: &errb,
		Getenv: func(k string) string { return env[k] }, Environ: func() []string { return nil }}
	if code := RunEnv(e, append([]string{"gefion"}, args...)); code != 0 {
		b.Fatalf("%s: exit %d: %s", strings.Join(args, " "), code, errb.String())
	}
	if lines.n != want {
		b.Fatalf("%s printed %d lines; want %d", strings.Join(args, " "), lines.n, want)
	}
}

// lineCounter is an io.Writer that counts lines and keeps nothing.
type lineCounter struct{ n int }

func (l *lineCounter) Write(p []byte) (int, error) {
	l.n += strings.Count(string(p), "\n")
	return len(p), nil
}

var _ io.Writer = (*lineCounter)(nil)

// BenchmarkSqueue100k is squeue -h -o '%i %t %M' over 100,000 pending jobs,
// end to end through the HTTP API; ms/op is one command.
func BenchmarkSqueue100k(b *testing.B) {
	lb := newListBench(b, false)
	defer lb.stop()
	lb.run(b, benchJobs, "squeue", "-h", "-o", "%i %t %M") // warm up
	b.ResetTimer()
	for b.Loop() {
		lb.run(b, benchJobs, "squeue", "-h", "-o", "%i %t %M")
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e6, "ms/op")
}

// BenchmarkSacct100k is sacct -P -n -X -o JobID,State,ExitCode over
// 100,000 jobs that ended today, end to end through the HTTP API and the
// SQLite store.
func BenchmarkSacct100k(b *testing.B) {
	lb := newListBench(b, true)
	defer lb.stop()
	lb.run(b, benchJobs, "sacct", "-P", "-n", "-X", "-o", "JobID,State,ExitCode")
	b.ResetTimer()
	for b.Loop() {
		lb.run(b, benchJobs, "sacct", "-P", "-n", "-X", "-o", "JobID,State,ExitCode")
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e6, "ms/op")
}
