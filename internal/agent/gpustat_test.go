package agent

import (
	"testing"
	"time"
)

func TestGPUPowerFromEnergy(t *testing.T) {
	var p gpuPower
	t0 := time.Unix(1000, 0)
	if _, ok := p.watts(0, 5_000_000, t0); ok {
		t.Error("a first reading gave a draw; want none")
	}
	// 700 J over 1 s on GPU 0; GPU 1's first reading changes nothing.
	p.watts(1, 1, t0)
	if w, ok := p.watts(0, 5_700_000, t0.Add(time.Second)); !ok || w != 700 {
		t.Errorf("draw = %v, %v; want 700 W", w, ok)
	}
	// 2 s at 70 W.
	if w, ok := p.watts(0, 5_840_000, t0.Add(3*time.Second)); !ok || w != 70 {
		t.Errorf("draw = %v, %v; want 70 W", w, ok)
	}
	// A counter that went back (driver reloaded) gives no draw.
	if _, ok := p.watts(0, 10, t0.Add(4*time.Second)); ok {
		t.Error("a counter that went back gave a draw; want none")
	}
}
