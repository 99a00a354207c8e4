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
