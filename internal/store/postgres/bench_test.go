package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gefion-hpc/gefion/internal/job"
	"github.com/gefion-hpc/gefion/internal/store"
	"github.com/gefion-hpc/gefion/internal/store/postgres/pgtest"
)

// benchJob is a submission as the controller stores it: a typical batch
// script and a submit-time environment of envVars variables (Slurm keeps
// the whole environment of a batch job; a login shell has a few dozen).
func benchJob(id job.ID, envVars int) store.JobRecord {
	env := make([]string, envVars)
	for i := range env {
		env[i] = fmt.Sprintf("VAR_%02d=/some/typical/value/of/an/environment/variable/%d", i, i)
	}
	script := "#!/bin/bash\n#SBATCH --job-name=train\n#SBATCH --nodes=4\n#SBATCH --gpus-per-node=8\n" +
		"#SBATCH --time=12:00:00\n#SBATCH --account=p-medicine\n" + strings.Repeat("module load something/1.2.3\n", 8) +
		"srun python train.py --config configs/large.yaml --epochs 10\n"
	user := fmt.Sprintf("user%03d", id%200)
	return store.JobRecord{
		ID: id, Name: "train", User: user, Project: fmt.Sprintf("p%02d", id%40), Partition: "batch", QOS: "normal",
		State: job.Pending, Reason: "Priority", SubmitS: 1_700_000_000 + int64(id)/100,
		Spec: job.Spec{Name: "train", User: user, Account: "p-medicine", Partitions: []string{"batch"},
			NodesMin: 4, NodesMax: 4, GPUsPerNode: 8, TimeLimitS: 43200, Script: script,
			Env: env, SubmitDir: "/home/" + user + "/project", SubmitHost: "login1", Output: "slurm-%j.out"},
		Req:     job.Request{Nodes: 4, GPUsPerNode: 8, CPUsPerNode: 112, MemPerNodeMB: 2 << 20, WholeNodes: true, TimeLimitS: 43200},
		IdemKey: fmt.Sprintf("key-%d", id),
	}
}

// cpuTime is the CPU time (user and system) this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkApplyInsert measures durable submission: each operation is one
// Apply of a batch of new jobs (one transaction, one fsync of the WAL).
// ns/op is the commit latency of one batch; jobs/s the throughput.
func BenchmarkApplyInsert(b *testing.B) {
	for _, rec := range []struct {
		name string
		env  int
	}{{"typical", 40}, {"small", 0}} {
		data, _ := json.Marshal(benchJob(1, rec.env))
		b.Logf("a %s job record is %d bytes of JSON", rec.name, len(data))
		for _, size := range []int{1, 32, 1000} {
			b.Run(fmt.Sprintf("rec=%s/batch=%d", rec.name, size), func(b *testing.B) { benchInsert(b, rec.env, size) })
		}
	}
}

func benchInsert(b *testing.B, env, size int) {
	s, err := Open(context.Background(), pgtest.Schema(b))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	// Build the batches before the clock starts: this measures the store,
	// not the construction of records.
	batches := make([]store.Batch, b.N)
	next := job.ID(1)
	for i := range batches {
		batches[i].NewJobs = make([]store.JobRecord, size)
		for k := range size {
			batches[i].NewJobs[k] = benchJob(next, env)
			next++
		}
	}
	ctx := context.Background()
	cpu0 := cpuTime()
	b.ResetTimer()
	for i := range batches {
		if err := s.Apply(ctx, &batches[i]); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	sec := b.Elapsed().Seconds()
	b.ReportMetric(float64(b.N*size)/sec, "jobs/s")
	b.ReportMetric(sec*1000/float64(b.N), "ms/batch")
	// CPU per job is steadier than throughput on a shared machine.
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N*size), "cpu-µs/job")
}
