package controller

import (
	"testing"

	"github.com/gefion-hpc/gefion/internal/job"
)

func TestForecastCalibWidensByPastRatios(t *testing.T) {
	var fc forecastCalib
	fs := forecastStart{point: 2000, low: 1900, high: 2100}
	if got := fc.widen(fs, 1000); got != fs {
		t.Fatalf("without history widen = %+v, want it unchanged", got)
	}
	// 100 jobs forecast to wait 1000 s that waited 500, 510, ... 1490 s:
	// ratios 0.50 to 1.49.
	for k := 0; k < 100; k++ {
		id := job.ID(k + 1)
		fc.gave(id, 0, 1000)
		fc.gave(id, 50, 5000) // a later answer does not replace the first
		fc.started(id, int64(500+10*k))
	}
	fc.started(job.ID(500), 123) // never forecast: ignored
	got := fc.widen(fs, 1000)
	// Forecast wait 1000 s: 20th percentile ratio 0.69, 80th 1.29.
	if got.point != 2000 || got.low != 1000+690 || got.high != 1000+1290 {
		t.Errorf("widen = %+v; want point 2000, range 1690-2290", got)
	}
	// A sampled range wider than the calibrated one is kept.
	wide := forecastStart{point: 2000, low: 1100, high: 3000}
	if got := fc.widen(wide, 1000); got.low != 1100 || got.high != 3000 {
		t.Errorf("widen(wide) = %+v; want the sampled range kept", got)
	}
	// A forecast of "now" has no wait to scale.
	if got := fc.widen(forecastStart{point: 1000}, 1000); got.low != 0 || got.high != 0 {
		t.Errorf("widen(now) = %+v; want no range", got)
	}
}

func TestForecastCalibBounded(t *testing.T) {
	var fc forecastCalib
	for k := 0; k < maxCalibPending+10; k++ {
		fc.gave(job.ID(k+1), 0, 100)
	}
	if len(fc.given) > maxCalibPending {
		t.Errorf("%d forecasts remembered, want at most %d", len(fc.given), maxCalibPending)
	}
	for k := 0; k < 2*calibHistory; k++ {
		id := job.ID(1_000_000 + k)
		fc.gave(id, 0, 100)
		fc.started(id, 100)
	}
	if fc.n != 2*calibHistory {
		t.Errorf("n = %d, want %d", fc.n, 2*calibHistory)
	}
}
