package controller

import (
	"context"
	"testing"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/job"
)

// TestConfigAndJobFields checks GET /v1/config and the job fields Slurm's
// formats read: the partitions with their sizes, the QOS, and a task's
// array throttle and eligible time.
func TestConfigAndJobFields(t *testing.T) {
	h := newHarness(t, Config{}, nil, 1)
	ctx := context.Background()
	alice := h.client("alice")
	cfg, err := alice.Config(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Partitions) == 0 || cfg.Partitions[0].TotalNodes == 0 || cfg.Partitions[0].Nodes == "" {
		t.Errorf("Config().Partitions = %+v; want the partitions with their nodes", cfg.Partitions)
	}
	if len(cfg.QOS) == 0 || cfg.DefaultQOS != "normal" || cfg.KillWaitS != 30 || cfg.MaxArraySize != job.DefaultMaxArraySize {
		t.Errorf("Config() = %+v; want the default QOS, KillWait 30 s and MaxArraySize %d", cfg, job.DefaultMaxArraySize)
	}
	spec := gpuSpec(1, "duration=1")
	spec.Array = "0-3%2"
	r, err := alice.Submit(ctx, api.SubmitRequest{Spec: spec}, "")
	if err != nil {
		t.Fatal(err)
	}
	j, err := alice.Job(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if j.ArrayMaxRunning != 2 || j.EligibleTime == 0 {
		t.Errorf("Job(%d): ArrayMaxRunning %d, EligibleTime %d; want 2 and the time it became eligible", r.ID, j.ArrayMaxRunning, j.EligibleTime)
	}
}
