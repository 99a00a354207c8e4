package quantum

import (
	"fmt"
	"math/bits"
	"strings"
)

// PauliTerm is Coeff times a Pauli string written as Qiskit writes it: one
// of I, X, Y, Z per qubit, the rightmost character acting on qubit 0.
type PauliTerm struct {
	Coeff float64
	Ops   string
}

// Hamiltonian is a sum of Pauli terms.
type Hamiltonian []PauliTerm

// pauliMasks returns the bit masks of X (or Y) and of Z (or Y) positions,
// and the number of Ys, for a term on n qubits.
func pauliMasks(ops string, n int) (flip, phase uint64, ys int, err error) {
	if len(ops) > n {
		return 0, 0, 0, fmt.Errorf("Pauli string %q acts on %d qubits; the state has %d", ops, len(ops), n)
	}
	for i := 0; i < len(ops); i++ {
		q := len(ops) - 1 - i
		switch ops[i] {
		case 'I':
		case 'X':
			flip |= 1 << q
		case 'Z':
			phase |= 1 << q
		case 'Y':
			flip |= 1 << q
			phase |= 1 << q
			ys++
		default:
			return 0, 0, 0, fmt.Errorf("Pauli string %q: %q is not one of I, X, Y, Z", ops, ops[i])
		}
	}
	return flip, phase, ys, nil
}

// Expectation returns <psi|H|psi> for the state. Each term is evaluated in
// one pass without building its matrix: P|i> = i^(#Y) (-1)^(popcount(i &
// zy)) |i ^ xy>, so <psi|P|psi> = sum_i conj(psi[i^xy]) phase(i) psi[i].
func Expectation[F Float](s *State[F], h Hamiltonian) (float64, error) {
	var total float64
	for _, t := range h {
		flip, phase, ys, err := pauliMasks(strings.ToUpper(t.Ops), s.n)
		if err != nil {
			return 0, err
		}
		// i^ys: the real part of the sum survives for Hermitian terms.
		re := s.reduceIndexed(func(v []F, off int) [2]float64 {
			var sr, si float64
			for k := 0; k+1 < len(v); k += 2 {
				i := uint64(off + k/2)
				j := i ^ flip
				ar, ai := float64(v[k]), float64(v[k+1])
				br, bi := float64(s.v[2*j]), float64(s.v[2*j+1])
				// conj(b) * a
				pr, pi := br*ar+bi*ai, br*ai-bi*ar
				if bits.OnesCount64(i&phase)&1 == 1 {
					pr, pi = -pr, -pi
				}
				sr += pr
				si += pi
			}
			return [2]float64{sr, si}
		})
		var val float64
		switch ys % 4 {
		case 0:
			val = re[0]
		case 1:
			val = -re[1]
		case 2:
			val = -re[0]
		case 3:
			val = re[1]
		}
		total += t.Coeff * val
	}
	return total, nil
}

// reduceIndexed sums a complex-valued fn over disjoint pieces of the
// state; off is the amplitude index of the piece's start.
func (s *State[F]) reduceIndexed(fn func(v []F, off int) [2]float64) [2]float64 {
	var out [2]float64
	n := len(s.v) / 2
	w := min(s.workers(), n)
	parts := make([][2]float64, w)
	done := make(chan struct{}, w)
	for k := 0; k < w; k++ {
		lo, hi := n*k/w, n*(k+1)/w
		go func() {
			parts[k] = fn(s.v[2*lo:2*hi], lo)
			done <- struct{}{}
		}()
	}
	for range w {
		<-done
	}
	for _, p := range parts {
		out[0] += p[0]
		out[1] += p[1]
	}
	return out
}
