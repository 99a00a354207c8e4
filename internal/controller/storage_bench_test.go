package controller

import (
	"bufio"
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/client"
	"github.com/gefion-hpc/gefion/internal/cluster"
	"github.com/gefion-hpc/gefion/internal/job"
	"github.com/gefion-hpc/gefion/internal/store/sqlite"
)

// BenchmarkArrayStorage submits one array of 1001 tasks with a 200 KB
// script through the HTTP API to a controller on SQLite, and reports what
// it costs: database growth (after the store is closed and its WAL folded
// in), live heap after the submission, and the process's peak RSS growth.
// Run it with -benchtime=1x: one submission is the unit. Peak RSS is the
// process's high-water mark, so only the first run of a process measures it.
func BenchmarkArrayStorage(b *testing.B) {
	script := "#!/bin/sh\n" + strings.Repeat("# padding to make a large script, as users do with embedded data\n", 200_000/64)
	c, err := cluster.Preset("dgx-h100")
	if err != nil {
		b.Fatal(err)
	}
	var dbGrowth, heap, rss float64
	for range b.N {
		path := filepath.Join(b.TempDir(), "gefion.db")
		st, err := sqlite.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		st.Close()
		base := fileSize(path)
		st, err = sqlite.Open(path)
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
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		rss0 := procStatus("VmRSS")
		spec := job.Spec{Name: "big", NTasks: 1, TimeLimitS: 60, Hold: true, Array: "0-1000", Script: script}
		resp, err := client.New(srv.URL, "bench").Submit(ctx, api.SubmitRequest{Spec: spec}, "")
		if err != nil {
			b.Fatal(err)
		}
		if len(resp.IDs) != 1001 {
			b.Fatalf("submitted %d tasks; want 1001", len(resp.IDs))
		}
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		heap += float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / (1 << 20)
		rss += float64(procStatus("VmHWM")-rss0) / (1 << 10)
		srv.Close()
		cancel()
		<-done
		if err := st.Close(); err != nil {
			b.Fatal(err)
		}
		dbGrowth += float64(fileSize(path)+fileSize(path+"-wal")-base) / (1 << 20)
	}
	b.ReportMetric(dbGrowth/float64(b.N), "db-MiB")
	b.ReportMetric(heap/float64(b.N), "live-heap-MiB")
	b.ReportMetric(rss/float64(b.N), "peak-rss-growth-MiB")
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// procStatus reads a kB field of /proc/self/status (0 where there is none).
func procStatus(field string) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}
