package twin

// Series is a replay's time series in equal buckets of StepS virtual
// seconds from 0: the mean GPUs held and the mean number of pending jobs in
// each bucket (time-weighted).
type Series struct {
	StepS int64
	// BusyGPUs[k] and Queue[k] are the means over [k*StepS, (k+1)*StepS),
	// the last bucket being cut at the end of the replay.
	BusyGPUs []float64
	Queue    []float64
	// end is the replay's end, for the last bucket's length.
	end        int64
	maxBuckets int
	// origin is the time bucket 0 starts at (a snapshot's Now in replays
	// of a live queue; 0 in trace replays).
	origin int64
}

// init sizes the buckets so that the arrival window spans about n of them.
func (s *Series) init(span int64, n int) {
	if n <= 0 {
		n = 400
	}
	s.StepS = max(60, (span+int64(n)-1)/int64(n))
	s.maxBuckets = 4 * n
}

// add spreads the constant values over [a, b).
func (s *Series) add(a, b int64, busy, queue float64) {
	a, b = a-s.origin, b-s.origin
	if busy == 0 && queue == 0 {
		// Leave trailing buckets implicit; finish pads them.
		return
	}
	for a < b {
		k := int(a / s.StepS)
		for k >= s.maxBuckets {
			s.coarsen()
			k = int(a / s.StepS)
		}
		for len(s.BusyGPUs) <= k {
			s.BusyGPUs = append(s.BusyGPUs, 0)
			s.Queue = append(s.Queue, 0)
		}
		end := min(b, int64(k+1)*s.StepS)
		dt := float64(end - a)
		s.BusyGPUs[k] += busy * dt
		s.Queue[k] += queue * dt
		a = end
	}
}

// coarsen merges bucket pairs, doubling the step, so that long tails do not
// grow the series without bound.
func (s *Series) coarsen() {
	n := (len(s.BusyGPUs) + 1) / 2
	for i := 0; i < n; i++ {
		b, q := s.BusyGPUs[2*i], s.Queue[2*i]
		if 2*i+1 < len(s.BusyGPUs) {
			b += s.BusyGPUs[2*i+1]
			q += s.Queue[2*i+1]
		}
		s.BusyGPUs[i], s.Queue[i] = b, q
	}
	s.BusyGPUs, s.Queue = s.BusyGPUs[:n], s.Queue[:n]
	s.StepS *= 2
}

// finish turns integrals into means and pads to the end.
func (s *Series) finish(end int64) {
	end -= s.origin
	s.end = end
	n := int((end + s.StepS - 1) / s.StepS)
	for len(s.BusyGPUs) < n {
		s.BusyGPUs = append(s.BusyGPUs, 0)
		s.Queue = append(s.Queue, 0)
	}
	for k := range s.BusyGPUs {
		lo := int64(k) * s.StepS
		hi := min(lo+s.StepS, end)
		if hi <= lo {
			continue
		}
		s.BusyGPUs[k] /= float64(hi - lo)
		s.Queue[k] /= float64(hi - lo)
	}
}
