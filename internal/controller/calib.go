package controller

import (
	"slices"
	"sync"

	"github.com/gefion-hpc/gefion/internal/job"
)

// The twin's likely range comes from sampled run times only, and the
// forecast bench measured what that misses: on a Philly slice the real
// start fell inside the "20th-80th percentile" range for 7% of jobs, not
// 60%, because the largest error is the jobs submitted later that
// overtake, which no run-time sample sees. forecastCalib widens the range
// by what the machine's own forecasts turned out to be (split conformal
// prediction): for every job that started, the ratio of its real wait to
// the wait forecast when it was first asked about, and a new forecast's
// range is at least its forecast wait times the 20th and 80th percentiles
// of the recent ratios. The point forecast stays the twin's.

// calibHistory is how many recent ratios the range rests on, and
// minCalib how many it needs before it is used.
const (
	calibHistory = 512
	minCalib     = 20
	// maxCalibPending bounds the forecasts remembered for jobs not yet
	// started (those cancelled while pending are never matched).
	maxCalibPending = 200_000
)

// forecastCalib records forecasts as given and how they came out.
type forecastCalib struct {
	mu sync.Mutex
	// given holds, per pending job, when it was first forecast and the
	// forecast start (Unix seconds).
	given  map[job.ID][2]int64
	ratios [calibHistory]float64
	n      int // ratios ever added
}

// gave records the first forecast of job id: asked at askedS, start
// pointS.
func (fc *forecastCalib) gave(id job.ID, askedS, pointS int64) {
	if pointS <= askedS {
		return // "starts now": nothing to scale
	}
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if fc.given == nil || len(fc.given) >= maxCalibPending {
		fc.given = map[job.ID][2]int64{}
	}
	if _, ok := fc.given[id]; !ok {
		fc.given[id] = [2]int64{askedS, pointS}
	}
}

// started records that job id started at startS.
func (fc *forecastCalib) started(id job.ID, startS int64) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	g, ok := fc.given[id]
	if !ok {
		return
	}
	delete(fc.given, id)
	fc.ratios[fc.n%calibHistory] = float64(max(startS-g[0], 0)) / float64(g[1]-g[0])
	fc.n++
}

// widen returns fs with its range at least the calibrated one around its
// point, for a forecast given at nowS; fs unchanged until enough jobs
// have started.
func (fc *forecastCalib) widen(fs forecastStart, nowS int64) forecastStart {
	if fs.point <= nowS {
		return fs
	}
	fc.mu.Lock()
	n := min(fc.n, calibHistory)
	if n < minCalib {
		fc.mu.Unlock()
		return fs
	}
	r := slices.Clone(fc.ratios[:n])
	fc.mu.Unlock()
	slices.Sort(r)
	wait := float64(fs.point - nowS)
	lo := nowS + int64(wait*r[(n-1)*20/100])
	hi := nowS + int64(wait*r[(n-1)*80/100]+0.5)
	if fs.low == 0 || lo < fs.low {
		fs.low = lo
	}
	if hi > fs.high {
		fs.high = hi
	}
	fs.low, fs.high = min(fs.low, fs.point), max(fs.high, fs.point)
	return fs
}
