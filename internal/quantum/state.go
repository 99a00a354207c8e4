package quantum

import (
	"fmt"
	"math"
	"math/bits"
	"runtime"
	"sync"
	"unsafe"
)

// Float is the component type of a state's amplitudes: float32 for single
// precision (complex64 amplitudes), float64 for double (complex128).
type Float interface{ ~float32 | ~float64 }

// State is a state vector of n qubits. Amplitude i is the coefficient of
// the basis state whose bit q is qubit q (qubit 0 is the least significant
// bit). Amplitudes are stored as interleaved (real, imaginary) pairs, the
// memory layout of []complex64 (F = float32) or []complex128 (F = float64).
//
// Gates are applied in place by index arithmetic: no matrix of the size of
// the state is ever built.
type State[F Float] struct {
	n int
	v []F
	// serial forbids splitting work across goroutines (set on the views
	// the cache-blocked executor hands to one goroutine each).
	serial bool
}

// parallelMinAmps is the state size from which a kernel splits its work
// across GOMAXPROCS goroutines; below it the start-up of goroutines costs
// more than it saves.
const parallelMinAmps = 1 << 15

// maxStateBytes is the largest state NewState allocates: 128 TiB, more
// than any one machine holds.
const maxStateBytes = 1 << 47

// NewState returns n qubits in |0...0>.
func NewState[F Float](n int) (*State[F], error) {
	if n < 0 || n > MaxProgramQubits {
		return nil, fmt.Errorf("cannot simulate %d qubits: give 0 to %d", n, MaxProgramQubits)
	}
	// Past maxStateBytes the allocation would panic or kill the process
	// instead of failing.
	var f F
	if amp := int64(2 * unsafe.Sizeof(f)); n > 62-bits.Len64(uint64(amp)) || amp<<n > maxStateBytes {
		return nil, fmt.Errorf("cannot simulate %d qubits: the state vector needs 2^%d bytes, more than any machine holds", n, n+bits.Len64(uint64(amp))-1)
	}
	s := &State[F]{n: n, v: allocAmps[F](2 << n)}
	s.v[0] = 1
	return s, nil
}

// allocAmps returns n zero floats for a state vector. Large vectors are
// asked to be backed by huge pages (see adviseHuge) before anything
// touches them: a 28-qubit single-precision state is 2 GiB, half a
// million 4 KiB pages whose first-touch faults alone took about 3 s of
// CPU, and the blocked passes gather runs from dozens of pages per block,
// each a TLB miss with small pages.
func allocAmps[F Float](n int) []F {
	v := make([]F, n)
	if n*int(unsafe.Sizeof(v[0])) >= hugeMinBytes {
		adviseHuge(unsafe.Pointer(unsafe.SliceData(v)), uintptr(n)*unsafe.Sizeof(v[0]))
	}
	return v
}

// hugeMinBytes is the state size from which allocAmps asks for huge pages.
const hugeMinBytes = 16 << 20

// Qubits returns the number of qubits.
func (s *State[F]) Qubits() int { return s.n }

// Len returns the number of amplitudes, 2^n.
func (s *State[F]) Len() int { return 1 << s.n }

// Amplitude returns amplitude i.
func (s *State[F]) Amplitude(i int) complex128 {
	return complex(float64(s.v[2*i]), float64(s.v[2*i+1]))
}

// SetAmplitude sets amplitude i; the caller keeps the state normalised.
func (s *State[F]) SetAmplitude(i int, a complex128) {
	s.v[2*i], s.v[2*i+1] = F(real(a)), F(imag(a))
}

// Probability returns |amplitude i|^2.
func (s *State[F]) Probability(i int) float64 {
	re, im := float64(s.v[2*i]), float64(s.v[2*i+1])
	return re*re + im*im
}

// Reset puts the state back to |0...0>.
func (s *State[F]) Reset() {
	s.parallel(len(s.v), func(lo, hi int) { clear(s.v[lo:hi]) })
	s.v[0] = 1
}

// CopyFrom makes s a copy of o, which must have as many qubits.
func (s *State[F]) CopyFrom(o *State[F]) {
	if s.n != o.n {
		panic("quantum: CopyFrom between states of different sizes")
	}
	s.parallel(len(s.v), func(lo, hi int) { copy(s.v[lo:hi], o.v[lo:hi]) })
}

// Clone returns a copy of s.
func (s *State[F]) Clone() *State[F] {
	c := &State[F]{n: s.n, v: allocAmps[F](len(s.v))}
	c.CopyFrom(s)
	return c
}

// Complex64 returns the amplitudes as a []complex64 sharing s's memory; it
// panics unless F is float32.
func (s *State[F]) Complex64() []complex64 {
	if unsafe.Sizeof(s.v[0]) != 4 {
		panic("quantum: Complex64 on a double-precision state")
	}
	return unsafe.Slice((*complex64)(unsafe.Pointer(&s.v[0])), len(s.v)/2)
}

// Norm returns the sum of |amplitude|^2, 1 for a normalised state.
func (s *State[F]) Norm() float64 {
	return s.reduce(func(v []F) float64 {
		var sum float64
		for k := 0; k+1 < len(v); k += 2 {
			re, im := float64(v[k]), float64(v[k+1])
			sum += re*re + im*im
		}
		return sum
	})
}

// workers returns how many goroutines to split work on this state across:
// all of GOMAXPROCS for a large state, one for a small one or a view that
// already runs on a goroutine of its own.
func (s *State[F]) workers() int {
	if s.serial || 1<<s.n < parallelMinAmps {
		return 1
	}
	return runtime.GOMAXPROCS(0)
}

// parallel calls fn on contiguous, disjoint pieces of [0, total), one
// goroutine each.
func (s *State[F]) parallel(total int, fn func(lo, hi int)) {
	s.parallelAligned(total, 1, fn)
}

// parallelAligned is parallel with piece bounds that are multiples of align.
func (s *State[F]) parallelAligned(total, align int, fn func(lo, hi int)) {
	w := min(s.workers(), max(1, total/align))
	if w <= 1 {
		fn(0, total)
		return
	}
	units := total / align
	var wg sync.WaitGroup
	for k := 0; k < w; k++ {
		lo := units * k / w * align
		hi := units * (k + 1) / w * align
		if k == w-1 {
			hi = total
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(lo, hi)
		}()
	}
	wg.Wait()
}

// reduce sums fn over disjoint pieces of the float view, in parallel.
func (s *State[F]) reduce(fn func(v []F) float64) float64 {
	w := s.workers()
	if w <= 1 {
		return fn(s.v)
	}
	parts := make([]float64, w)
	var wg sync.WaitGroup
	n := len(s.v) / 2
	for k := 0; k < w; k++ {
		lo, hi := n*k/w*2, n*(k+1)/w*2
		wg.Add(1)
		go func() {
			defer wg.Done()
			parts[k] = fn(s.v[lo:hi])
		}()
	}
	wg.Wait()
	var sum float64
	for _, p := range parts {
		sum += p
	}
	return sum
}

// deposit spreads the bits of x over the positions not in fixed (sorted
// ascending), leaving the fixed positions zero.
func deposit(x uint64, fixed []int) uint64 {
	for _, p := range fixed {
		low := x & (1<<p - 1)
		x = (x>>p)<<(p+1) | low
	}
	return x
}

// outcomeOne is the probability that measuring qubit q gives 1, relative
// to the state's norm: in single precision the norm drifts from 1 by some
// units in the last place over a long circuit, and an outcome that is
// certain must come out within 1e-12 of certain, not within the drift.
func (s *State[F]) outcomeOne(q int) float64 {
	one, all := s.outcomeSums(q)
	if all > 0 {
		one /= all
	}
	return min(1, max(0, one))
}

// ProbabilityOne returns the probability that measuring qubit q gives 1.
func (s *State[F]) ProbabilityOne(q int) float64 {
	one, _ := s.outcomeSums(q)
	return one
}

// outcomeSums returns, in one pass, the squared norm of the amplitudes
// whose qubit q is 1 and that of all of them.
func (s *State[F]) outcomeSums(q int) (one, all float64) {
	stride := 1 << q
	sums := s.reduceAligned(2*stride, func(v []F, off int) [2]float64 {
		var zero, one float64
		for b := 0; b < len(v)/2; b += 2 * stride {
			for _, x := range v[2*b : 2*(b+stride)] {
				zero += float64(x) * float64(x)
			}
			for _, x := range v[2*(b+stride) : 2*(b+2*stride)] {
				one += float64(x) * float64(x)
			}
		}
		return [2]float64{one, zero + one}
	})
	return sums[0], sums[1]
}

// reduceAligned is reduce, of two sums, with pieces aligned to align
// amplitudes.
func (s *State[F]) reduceAligned(align int, fn func(v []F, off int) [2]float64) [2]float64 {
	n := len(s.v) / 2
	units := n / align
	w := min(s.workers(), units)
	if w <= 1 {
		return fn(s.v, 0)
	}
	parts := make([][2]float64, w)
	var wg sync.WaitGroup
	for k := 0; k < w; k++ {
		lo, hi := units*k/w*align, units*(k+1)/w*align
		wg.Add(1)
		go func() {
			defer wg.Done()
			parts[k] = fn(s.v[2*lo:2*hi], lo)
		}()
	}
	wg.Wait()
	var sum [2]float64
	for _, p := range parts {
		sum[0] += p[0]
		sum[1] += p[1]
	}
	return sum
}

// Collapse projects qubit q onto outcome (0 or 1), whose probability was p,
// and renormalises.
func (s *State[F]) Collapse(q, outcome int, p float64) {
	stride := 1 << q
	scale := F(1 / math.Sqrt(p))
	s.parallelAligned(1<<s.n, 2*stride, func(lo, hi int) {
		for b := lo; b < hi; b += 2 * stride {
			keep, drop := b, b+stride
			if outcome == 1 {
				keep, drop = drop, keep
			}
			clear(s.v[2*drop : 2*(drop+stride)])
			k := s.v[2*keep : 2*(keep+stride)]
			for i := range k {
				k[i] *= scale
			}
		}
	})
}

// flipAfterCollapse moves qubit q's |1> half onto |0> (after a collapse to 1, an X
// makes the qubit |0>: how reset ends).
func (s *State[F]) flipAfterCollapse(q int) {
	stride := 1 << q
	s.parallelAligned(1<<s.n, 2*stride, func(lo, hi int) {
		for b := lo; b < hi; b += 2 * stride {
			copy(s.v[2*b:2*(b+stride)], s.v[2*(b+stride):2*(b+2*stride)])
			clear(s.v[2*(b+stride) : 2*(b+2*stride)])
		}
	})
}
