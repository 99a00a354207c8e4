package controller

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/client"
	"github.com/gefion-hpc/gefion/internal/cluster"
	"github.com/gefion-hpc/gefion/internal/job"
	"github.com/gefion-hpc/gefion/internal/store/sqlite"
)

// BenchmarkSubmit submits held jobs through the HTTP API to a controller on
// SQLite (synchronous=FULL), from parallel clients in this process: the
// durable intake path that `gefion bench submit` measures from outside,
// here for profiles (-cpuprofile, -memprofile).
func BenchmarkSubmit(b *testing.B) {
	st, err := sqlite.Open(filepath.Join(b.TempDir(), "gefion.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	c, err := cluster.Preset("dgx-h100")
	if err != nil {
		b.Fatal(err)
	}
	ctl, err := New(Config{Cluster: c, DefaultProject: "default", Operators: []string{"bench"}}, st, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = ctl.Run(ctx); close(done) }()
	srv := httptest.NewServer(ctl.Handler())
	defer func() { srv.Close(); cancel(); <-done }()
	cl := client.New(srv.URL, "bench")
	spec := job.Spec{Name: "bench", NTasks: 1, TimeLimitS: 60, Hold: true, Script: "#!/bin/sh\ntrue\n"}
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := cl.Submit(ctx, api.SubmitRequest{Spec: spec}, ""); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
}
