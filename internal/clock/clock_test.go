package clock

import (
	"testing"
	"time"
)

func TestFakeAdvanceFiresDueTimers(t *testing.T) {
	f := NewFake(time.Unix(1000, 0))
	a := f.After(10 * time.Second)
	b := f.After(20 * time.Second)
	f.Advance(15 * time.Second)
	select {
	case got := <-a:
		if got.Unix() != 1015 {
			t.Errorf("timer a fired at %d; want 1015", got.Unix())
		}
	default:
		t.Fatal("timer a did not fire after 15 s")
	}
	select {
	case <-b:
		t.Fatal("timer b fired before its time")
	default:
	}
	f.Advance(5 * time.Second)
	if got := (<-b).Unix(); got != 1020 {
		t.Errorf("timer b fired at %d; want 1020", got)
	}
	if f.Now().Unix() != 1020 {
		t.Errorf("Now = %d; want 1020", f.Now().Unix())
	}
}

func TestScaledRunsFaster(t *testing.T) {
	start := time.Unix(1_000_000, 0)
	s := NewScaled(start, 1000)
	t0 := time.Now()
	at := <-s.After(2 * time.Second) // 2 ms of real time
	real := time.Since(t0)
	if real > time.Second {
		t.Fatalf("After(2s) at speed 1000 took %v of real time; want about 2 ms", real)
	}
	if got := at.Sub(start); got < 2*time.Second {
		t.Fatalf("After(2s) fired at start+%v; want at least start+2s", got)
	}
	if now := s.Now(); now.Before(at) {
		t.Fatalf("Now() = %v went back before the timer's %v", now, at)
	}
}
