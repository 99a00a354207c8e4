package controller

import (
	"context"
	"strconv"
	"strings"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/hostlist"
	"github.com/gefion-hpc/gefion/internal/job"
)

// Config returns the configuration Slurm's commands show (GET /v1/config):
// partitions with their limits and sizes, QOS and the timing settings.
func (c *Controller) Config(ctx context.Context) (*api.Config, error) {
	v, err := c.do(ctx, func(tx *txn) (any, error) {
		cl := tx.c.cluster
		out := &api.Config{
			ClusterName: cl.Name, DefaultQOS: c.cfg.DefaultQOS, Policy: c.cfg.Policy,
			KillWaitS: int64(c.cfg.KillWait.Seconds()), MinJobAgeS: int64(c.cfg.RecentKeep.Seconds()),
			SchedIntervalMS: c.cfg.SchedInterval.Milliseconds(), FullPassS: int64(c.cfg.FullPassEvery.Seconds()),
			HeartbeatS: int64(c.cfg.Heartbeat.Seconds()), LostAfterS: int64(c.cfg.LostAfter.Seconds()),
			UsageHalfLifeS: int64(c.cfg.UsageHalfLife.Seconds()), MaxArraySize: job.DefaultMaxArraySize,
			MpiDefault: c.cfg.MpiDefault,
		}
		for _, p := range cl.Partitions {
			pi := api.PartitionInfo{Name: p.Name, Default: p.Default, MaxTimeS: p.MaxTimeS, DefaultTimeS: p.DefaultTimeS,
				TotalNodes: len(p.Nodes)}
			names := make([]string, 0, len(p.Nodes))
			for _, i := range p.Nodes {
				n := &cl.Nodes[i]
				names = append(names, n.Name)
				pi.TotalCPUs += n.Model.CPUs
				pi.TotalGPUs += n.Model.GPUs
				pi.TotalMemMB += n.Model.MemoryBytes >> 20
			}
			pi.Nodes = hostlist.CompressOrJoin(names)
			out.Partitions = append(out.Partitions, pi)
		}
		for _, q := range c.cfg.QOS {
			out.QOS = append(out.QOS, api.QOSInfo{Name: q.Name, Priority: q.Priority, Preempt: q.Preempt, GraceS: q.GraceS,
				Requeue: q.Requeue, MaxGPUsPerUser: q.MaxGPUsPerUser, MaxGPUsPerProject: q.MaxGPUsPerProject})
		}
		return out, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*api.Config), nil
}

// arrayThrottle reads the %N of an --array expression as written; 0 when
// there is none.
func arrayThrottle(expr string) int {
	_, n, ok := strings.Cut(expr, "%")
	if !ok {
		return 0
	}
	v, err := strconv.Atoi(n)
	if err != nil {
		return 0
	}
	return v
}
