package quantum

import (
	"fmt"
	"math"
	"sort"
)

// H2Hamiltonian is the electronic Hamiltonian of the hydrogen molecule at
// a bond length of 0.735 angstrom in the STO-3G minimal basis, reduced to
// two qubits by the parity mapping with two-qubit reduction (Pauli strings
// with qubit 0 rightmost). The coefficients are those printed by Qiskit
// Nature's tutorials for this molecule (PySCF driver, ParityMapper with
// two-qubit reduction; also in the Qiskit textbook chapter "Simulating
// Molecules using VQE"). The energies are in hartree and exclude the
// nuclear repulsion, H2NuclearRepulsion.
var H2Hamiltonian = Hamiltonian{
	{Coeff: -1.052373245772859, Ops: "II"},
	{Coeff: 0.39793742484318045, Ops: "IZ"},
	{Coeff: -0.39793742484318045, Ops: "ZI"},
	{Coeff: -0.01128010425623538, Ops: "ZZ"},
	{Coeff: 0.18093119978423156, Ops: "XX"},
}

// H2NuclearRepulsion is the nuclear repulsion energy of H2 at 0.735
// angstrom, in hartree: 1 / (0.735 / 0.529177) bohr.
const H2NuclearRepulsion = 0.7199689944489797

// ChemicalAccuracy is 1.6 mHa (1 kcal/mol), the accuracy a variational
// eigensolver is expected to reach.
const ChemicalAccuracy = 1.6e-3

// AnsatzQASM returns a two-qubit hardware-efficient ansatz with four
// angles: RY on both qubits, a CX, and RY on both again. Its real
// amplitudes reach every real two-qubit state, which contains the ground
// state of a real Hamiltonian.
func AnsatzQASM(theta []float64) string {
	return fmt.Sprintf(`OPENQASM 2.0;
include "qelib1.inc";
qreg q[2];
ry(%.17g) q[0];
ry(%.17g) q[1];
cx q[0],q[1];
ry(%.17g) q[0];
ry(%.17g) q[1];
`, theta[0], theta[1], theta[2], theta[3])
}

// Energy evaluates <H> in the ansatz state for the given angles: the
// circuit is parsed, compiled and simulated in double precision, as a
// hybrid loop would call a quantum device.
func Energy(h Hamiltonian, theta []float64) (float64, error) {
	p, err := Parse("ansatz.qasm", []byte(AnsatzQASM(theta)), nil)
	if err != nil {
		return 0, err
	}
	c, err := Compile(p)
	if err != nil {
		return 0, err
	}
	s, err := NewState[float64](c.Qubits)
	if err != nil {
		return 0, err
	}
	for _, op := range c.Ops {
		s.Apply(op.Gate)
	}
	return Expectation(s, h)
}

// NelderMead minimises f from x0 with the Nelder-Mead simplex method
// (reflection 1, expansion 2, contraction 1/2, shrink 1/2), starting from
// a simplex of side step, until the spread of values falls below tol or
// maxEval evaluations. It returns the best point, its value and the number
// of evaluations.
func NelderMead(f func([]float64) (float64, error), x0 []float64, step, tol float64, maxEval int) ([]float64, float64, int, error) {
	n := len(x0)
	type vertex struct {
		x []float64
		f float64
	}
	evals := 0
	eval := func(x []float64) (vertex, error) {
		evals++
		v, err := f(x)
		return vertex{x, v}, err
	}
	simplex := make([]vertex, n+1)
	var err error
	for i := range simplex {
		x := append([]float64(nil), x0...)
		if i > 0 {
			x[i-1] += step
		}
		if simplex[i], err = eval(x); err != nil {
			return nil, 0, evals, err
		}
	}
	along := func(a, b []float64, t float64) []float64 {
		out := make([]float64, n)
		for i := range out {
			out[i] = a[i] + t*(b[i]-a[i])
		}
		return out
	}
	for evals < maxEval {
		sort.Slice(simplex, func(i, j int) bool { return simplex[i].f < simplex[j].f })
		if simplex[n].f-simplex[0].f < tol {
			break
		}
		centroid := make([]float64, n)
		for _, v := range simplex[:n] {
			for i := range centroid {
				centroid[i] += v.x[i] / float64(n)
			}
		}
		worst := simplex[n]
		r, err := eval(along(centroid, worst.x, -1))
		if err != nil {
			return nil, 0, evals, err
		}
		switch {
		case r.f < simplex[0].f:
			e, err := eval(along(centroid, worst.x, -2))
			if err != nil {
				return nil, 0, evals, err
			}
			if e.f < r.f {
				simplex[n] = e
			} else {
				simplex[n] = r
			}
		case r.f < simplex[n-1].f:
			simplex[n] = r
		default:
			c, err := eval(along(centroid, worst.x, 0.5))
			if err != nil {
				return nil, 0, evals, err
			}
			if c.f < worst.f {
				simplex[n] = c
				continue
			}
			for i := 1; i <= n; i++ {
				if simplex[i], err = eval(along(simplex[0].x, simplex[i].x, 0.5)); err != nil {
					return nil, 0, evals, err
				}
			}
		}
	}
	sort.Slice(simplex, func(i, j int) bool { return simplex[i].f < simplex[j].f })
	return simplex[0].x, simplex[0].f, evals, nil
}

// VQEResult is the outcome of RunVQE.
type VQEResult struct {
	Energy      float64   // electronic energy reached, hartree
	Theta       []float64 // the angles that reach it
	Evaluations int       // circuit evaluations the optimiser made
}

// RunVQE minimises <H> over the ansatz with Nelder-Mead from fixed
// starting angles.
func RunVQE(h Hamiltonian) (VQEResult, error) {
	x0 := []float64{0.1, -0.2, 0.3, 0.1}
	x, e, n, err := NelderMead(func(t []float64) (float64, error) { return Energy(h, t) }, x0, math.Pi/4, 1e-10, 4000)
	if err != nil {
		return VQEResult{}, err
	}
	return VQEResult{Energy: e, Theta: x, Evaluations: n}, nil
}
