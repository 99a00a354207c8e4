// Package clock gives drivers (the controller, agents) a clock they are
// handed rather than one they read: Real in production, Fake in tests, which
// moves only when told to. The scheduling core takes time as a value and
// does not use this package.
package clock

import (
	"sync"
	"time"
)

// Clock tells the time and makes timers.
type Clock interface {
	Now() time.Time
	// After returns a channel that receives once d has passed.
	After(d time.Duration) <-chan time.Time
}

// Real is the system clock.
type Real struct{}

var _ Clock = Real{}

// Now returns the current time.
func (Real) Now() time.Time { return time.Now() }

// After is time.After.
func (Real) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Fake is a clock that moves only when Advance or Set is called.
type Fake struct {
	mu      sync.Mutex
	now     time.Time
	waiters []waiter
}

type waiter struct {
	at time.Time
	ch chan time.Time
}

var _ Clock = (*Fake)(nil)

// NewFake returns a fake clock at t.
func NewFake(t time.Time) *Fake { return &Fake{now: t} }

// Now returns the fake time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// After fires when the fake time reaches now+d.
func (f *Fake) After(d time.Duration) <-chan time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- f.now
		return ch
	}
	f.waiters = append(f.waiters, waiter{f.now.Add(d), ch})
	return ch
}

// Advance moves the clock forward and fires the timers that are due.
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	now := f.now
	keep := f.waiters[:0]
	var fire []chan time.Time
	for _, w := range f.waiters {
		if !w.at.After(now) {
			fire = append(fire, w.ch)
		} else {
			keep = append(keep, w)
		}
	}
	f.waiters = keep
	f.mu.Unlock()
	for _, ch := range fire {
		ch <- now
	}
}

// Scaled is a clock that runs Speed times faster than the system clock,
// from Start at the moment it was made. Load tools use it to replay hours
// of a trace through a live controller and agents in minutes: every
// duration they wait on (scheduling intervals, job run times) passes
// Speed times sooner in real time.
type Scaled struct {
	start  time.Time
	origin time.Time // the system clock when made (monotonic)
	speed  float64
}

var _ Clock = (*Scaled)(nil)

// NewScaled returns a clock that reads start now and runs speed times
// faster than the system clock; speed must be > 0.
func NewScaled(start time.Time, speed float64) *Scaled {
	if !(speed > 0) {
		speed = 1
	}
	return &Scaled{start: start, origin: time.Now(), speed: speed}
}

// Now returns the scaled time.
func (s *Scaled) Now() time.Time {
	return s.start.Add(time.Duration(float64(time.Since(s.origin)) * s.speed))
}

// After fires once d of scaled time has passed.
func (s *Scaled) After(d time.Duration) <-chan time.Time {
	if d <= 0 {
		ch := make(chan time.Time, 1)
		ch <- s.Now()
		return ch
	}
	ch := make(chan time.Time, 1)
	time.AfterFunc(time.Duration(float64(d)/s.speed), func() { ch <- s.Now() })
	return ch
}

// Speed returns how many times faster than the system clock s runs.
func (s *Scaled) Speed() float64 { return s.speed }
