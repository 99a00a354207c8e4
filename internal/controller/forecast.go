package controller

import (
	"context"
	"sync"
	"time"

	"github.com/gefion-hpc/gefion/internal/job"
	"github.com/gefion-hpc/gefion/internal/sched"
	"github.com/gefion-hpc/gefion/internal/twin"
)

// forecaster caches the twin's start forecasts for pending jobs: a forecast
// replays the whole queue, so one serves every "why" for a few seconds.
type forecaster struct {
	mu     sync.Mutex
	at     time.Time
	starts map[job.ID]sched.Time
	// running serialises forecasts: concurrent callers wait for one.
	running sync.Mutex
}

// forecastTTL is how long a forecast is reused.
const forecastTTL = 10 * time.Second

// forecast returns the twin's predicted start of a pending job, or 0.
func (c *Controller) forecast(ctx context.Context, id job.ID) int64 {
	f := &c.fc
	get := func() (sched.Time, bool) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.starts == nil || time.Since(f.at) > forecastTTL {
			return 0, false
		}
		t, ok := f.starts[id]
		return t, ok
	}
	if t, ok := get(); ok {
		return startOrZero(t)
	}
	f.running.Lock()
	defer f.running.Unlock()
	if t, ok := get(); ok {
		return startOrZero(t)
	}
	v, err := c.do(ctx, func(tx *txn) (any, error) {
		return c.snapshot(tx.c, tx.nowS, nil), nil
	})
	if err != nil {
		return 0
	}
	// The snapshot is a copy: the forecast runs off the loop.
	starts, err := twin.Forecast(v.(*sched.Snapshot), c.policy, twin.ForecastOptions{
		SchedIntervalS: 1, HalfLifeS: int64(c.cfg.UsageHalfLife.Seconds()),
	})
	if err != nil {
		c.log.Warn("forecast failed", "err", err)
		return 0
	}
	f.mu.Lock()
	f.at, f.starts = time.Now(), starts
	f.mu.Unlock()
	return startOrZero(starts[id])
}

func startOrZero(t sched.Time) int64 {
	if t == 0 || t == sched.Never {
		return 0
	}
	return t
}
