package quantum

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
)

func TestBenchmarkCircuits(t *testing.T) {
	adder := map[string]float64{}
	for x := 0; x < 8; x++ {
		a, b, cin := x&1, x>>1&1, x>>2&1
		sum := a ^ b ^ cin
		cout := a&b | cin&(a^b)
		adder[fmt.Sprintf("%d%d%d%d", cout, sum, b, a)] = 1.0 / 8
	}
	for _, tc := range []struct {
		file string
		want map[string]float64
	}{
		{"adder_n4.qasm", adder},
		{"bv_n5.qasm", map[string]float64{"1011": 1}},
		{"deutsch_n2.qasm", map[string]float64{"1": 1}},
		{"wstate_n3.qasm", map[string]float64{"001": 1.0 / 3, "010": 1.0 / 3, "100": 1.0 / 3}},
		{"ghz_n5.qasm", map[string]float64{"00000": 0.5, "11111": 0.5}},
	} {
		path := filepath.Join("testdata", tc.file)
		src, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		p, err := Parse(path, src, nil)
		if err != nil {
			t.Fatal(err)
		}
		c, err := Compile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, prec := range []string{Single, Double} {
			r, err := Run(c, Options{Shots: 4000, Seed: 2, Precision: prec, Probabilities: true})
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Probabilities) != len(tc.want) {
				t.Errorf("%s %s: outcomes %v; want %v", tc.file, prec, r.Probabilities, tc.want)
			}
			for k, p := range tc.want {
				if math.Abs(r.Probabilities[k]-p) > 1e-6 {
					t.Errorf("%s %s: P(%s) = %v; want %v", tc.file, prec, k, r.Probabilities[k], p)
				}
				if !binomialOK(r.Counts[k], 4000, p) {
					t.Errorf("%s %s: %s counted %d of 4000; want about %.0f", tc.file, prec, k, r.Counts[k], 4000*p)
				}
			}
		}
	}
}
