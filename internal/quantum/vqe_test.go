package quantum

import (
	"fmt"
	"math"
	"testing"
)

// exactGroundEnergy diagonalises the 4x4 matrix of a two-qubit Hamiltonian
// with the Jacobi eigenvalue method (complex Hermitian matrices are made
// real by the usual 8x8 embedding [[Re, -Im], [Im, Re]], whose spectrum is
// the original's, each value twice).
func exactGroundEnergy(h Hamiltonian) float64 {
	pauli := map[byte][]complex128{'I': {1, 0, 0, 1}, 'X': {0, 1, 1, 0}, 'Y': {0, -1i, 1i, 0}, 'Z': {1, 0, 0, -1}}
	var m [4][4]complex128
	for _, term := range h {
		for i := 0; i < 4; i++ {
			for j := 0; j < 4; j++ {
				e := complex(term.Coeff, 0)
				for q := 0; q < 2; q++ {
					p := pauli[term.Ops[1-q]]
					e *= p[(i>>q&1)*2+j>>q&1]
				}
				m[i][j] += e
			}
		}
	}
	const n = 8
	var a [n][n]float64
	for i := 0; i < 4; i++ {
		for j := 0; j < 4; j++ {
			a[i][j], a[i+4][j+4] = real(m[i][j]), real(m[i][j])
			a[i][j+4], a[i+4][j] = -imag(m[i][j]), imag(m[i][j])
		}
	}
	for sweep := 0; sweep < 100; sweep++ {
		off := 0.0
		for p := 0; p < n; p++ {
			for q := p + 1; q < n; q++ {
				off += a[p][q] * a[p][q]
			}
		}
		if off < 1e-30 {
			break
		}
		for p := 0; p < n; p++ {
			for q := p + 1; q < n; q++ {
				if math.Abs(a[p][q]) < 1e-300 {
					continue
				}
				theta := (a[q][q] - a[p][p]) / (2 * a[p][q])
				t := math.Copysign(1, theta) / (math.Abs(theta) + math.Sqrt(theta*theta+1))
				c := 1 / math.Sqrt(t*t+1)
				s := t * c
				for k := 0; k < n; k++ {
					akp, akq := a[k][p], a[k][q]
					a[k][p], a[k][q] = c*akp-s*akq, s*akp+c*akq
				}
				for k := 0; k < n; k++ {
					apk, aqk := a[p][k], a[q][k]
					a[p][k], a[q][k] = c*apk-s*aqk, s*apk+c*aqk
				}
			}
		}
	}
	lo := math.Inf(1)
	for i := 0; i < n; i++ {
		lo = math.Min(lo, a[i][i])
	}
	return lo
}

func TestVQEReachesH2GroundState(t *testing.T) {
	exact := exactGroundEnergy(H2Hamiltonian)
	// The published electronic ground energy at 0.735 A is -1.857275 Ha.
	if math.Abs(exact-(-1.857275)) > 1e-5 {
		t.Fatalf("exact ground energy %v; want about -1.857275", exact)
	}
	res, err := RunVQE(H2Hamiltonian)
	if err != nil {
		t.Fatal(err)
	}
	if d := res.Energy - exact; d > ChemicalAccuracy || d < -1e-9 {
		t.Errorf("VQE energy %.8f after %d evaluations; exact %.8f (off by %.3g mHa, want below 1.6)", res.Energy, res.Evaluations, exact, d*1e3)
	}
	total := res.Energy + H2NuclearRepulsion
	if math.Abs(total-(-1.137306)) > 2e-3 {
		t.Errorf("total energy %.6f; want about -1.137306 Ha", total)
	}
}

func TestNelderMeadQuadratic(t *testing.T) {
	f := func(x []float64) (float64, error) {
		return (x[0]-1)*(x[0]-1) + 10*(x[1]+2)*(x[1]+2), nil
	}
	x, v, _, err := NelderMead(f, []float64{0, 0}, 1, 1e-14, 2000)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(x[0]-1) > 1e-5 || math.Abs(x[1]+2) > 1e-5 || v > 1e-10 {
		t.Errorf("minimum at %v (value %g); want (1, -2)", x, v)
	}
}

func ExampleRunVQE() {
	res, err := RunVQE(H2Hamiltonian)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("H2 at 0.735 A: electronic %.4f Ha, total %.4f Ha\n", res.Energy, res.Energy+H2NuclearRepulsion)
	// Output: H2 at 0.735 A: electronic -1.8573 Ha, total -1.1373 Ha
}
