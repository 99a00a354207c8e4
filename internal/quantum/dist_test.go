package quantum

import (
	"errors"
	"fmt"
	"math"
	"math/cmplx"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
)

// onTasks runs fn as each of size tasks connected over loopback TCP and
// returns their errors joined.
func onTasks(t testing.TB, size int, fn func(c *Comm) error) {
	t.Helper()
	comms, err := LocalComms(size)
	if err != nil {
		t.Fatalf("LocalComms(%d): %v", size, err)
	}
	errs := make([]error, size)
	var wg sync.WaitGroup
	for r, c := range comms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			if err := fn(c); err != nil {
				errs[r] = fmt.Errorf("task %d: %w", r, err)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
}

// gather reads the whole state from every task's slice.
type gathered struct {
	mu  sync.Mutex
	amp []complex128
	cls map[int]uint64
}

func (g *gathered) add(d *distState[float64], cl uint64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for i := range g.amp {
		if a, ok := d.amplitude(uint64(i)); ok {
			g.amp[i] = a
		}
	}
	g.cls[d.comm.Rank] = cl
}

// TestDistributedMatchesSingleState: random gates on every qubit
// (global ones included, as targets and as controls), measurements and
// resets, run split over 2, 4 and 8 tasks, leave the same amplitudes and
// the same classical outcomes as one state given the same seed.
func TestDistributedMatchesSingleState(t *testing.T) {
	const n = 9
	for _, size := range []int{2, 4, 8} {
		for seed := range uint64(4) {
			rng := rand.New(rand.NewPCG(seed, uint64(size)))
			var ops []Op
			for k := range 160 {
				switch {
				case k%40 == 39:
					ops = append(ops, Op{Kind: OpMeasure, Qubit: rng.IntN(n), Clbit: rng.IntN(8)})
				case k%53 == 52:
					ops = append(ops, Op{Kind: OpReset, Qubit: n - 1 - rng.IntN(3)})
				default:
					ops = append(ops, Op{Kind: OpGate, Gate: randomGate(rng, n)})
				}
			}
			single, _ := NewState[float64](n)
			wantCl := single.runShot(ops, 0, rand.New(rand.NewPCG(seed, 99)))

			got := &gathered{amp: make([]complex128, 1<<n), cls: map[int]uint64{}}
			swaps := 0
			var mu sync.Mutex
			onTasks(t, size, func(c *Comm) error {
				d, err := newDistState[float64](n, c)
				if err != nil {
					return err
				}
				cl, err := d.runShot(ops, 0, rand.New(rand.NewPCG(seed, 99)))
				if err != nil {
					return err
				}
				mu.Lock()
				swaps = max(swaps, d.swaps)
				mu.Unlock()
				// Half the runs read the state back in place, half after
				// the qubits are put back on their own positions.
				if seed%2 == 1 {
					if err := d.restoreLayout(); err != nil {
						return err
					}
					for q, p := range d.pos {
						if p != q || d.qubit[p] != q {
							return fmt.Errorf("after restoreLayout qubit %d is at %d", q, p)
						}
					}
				}
				got.add(d, cl)
				return nil
			})
			if swaps == 0 {
				t.Errorf("%d tasks, seed %d: no qubit was remapped; the test means to cover global gates", size, seed)
			}
			for r, cl := range got.cls {
				if cl != wantCl {
					t.Errorf("%d tasks, seed %d: task %d measured %b; one state measured %b", size, seed, r, cl, wantCl)
				}
			}
			for i, a := range got.amp {
				if w := single.Amplitude(i); cmplx.Abs(a-w) > 1e-6 {
					t.Fatalf("%d tasks, seed %d: amplitude %d = %v; one state has %v", size, seed, i, a, w)
				}
			}
		}
	}
}

// TestDistributedSinglePrecision: the same in complex64, within single
// precision's rounding.
func TestDistributedSinglePrecision(t *testing.T) {
	const n = 8
	rng := rand.New(rand.NewPCG(1, 2))
	var gates []*Gate
	for range 120 {
		gates = append(gates, randomGate(rng, n))
	}
	single, _ := NewState[float32](n)
	for _, g := range gates {
		single.Apply(g)
	}
	var mu sync.Mutex
	var worst float64
	onTasks(t, 4, func(c *Comm) error {
		d, err := newDistState[float32](n, c)
		if err != nil {
			return err
		}
		if err := d.applyGates(gates); err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		for i := range 1 << n {
			var phys uint64
			for q := range n {
				phys |= uint64(i>>q&1) << d.pos[q]
			}
			if int(phys>>d.local()) == c.Rank {
				worst = math.Max(worst, cmplx.Abs(d.s.Amplitude(int(phys&(1<<d.local()-1)))-single.Amplitude(i)))
			}
		}
		return nil
	})
	if worst > 1e-5 {
		t.Errorf("largest amplitude difference %g; want at most 1e-5", worst)
	}
}

// TestRunDistributedProbabilities: a circuit measured at the end gives the
// single-node run's exact probabilities over 2 and 4 tasks, and, with the
// same seed, the same shots.
func TestRunDistributedProbabilities(t *testing.T) {
	src := randomCircuit(10, 8, 3) + "creg c[4];\nmeasure q[9] -> c[0];\nmeasure q[8] -> c[1];\nmeasure q[2] -> c[2];\nmeasure q[5] -> c[3];\n"
	c := mustCompile(t, src)
	const shots = 20000
	want, err := Run(c, Options{Shots: shots, Seed: 7, Probabilities: true, Precision: Double})
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range []int{2, 4} {
		var res *Result
		onTasks(t, size, func(comm *Comm) error {
			r, err := RunDistributed(c, Options{Shots: shots, Seed: 7, Probabilities: true, Precision: Double}, comm)
			if (r != nil) != (comm.Rank == 0) {
				return fmt.Errorf("result %v on task %d; want one on task 0 only", r, comm.Rank)
			}
			if r != nil {
				res = r
			}
			return err
		})
		if len(res.Probabilities) != len(want.Probabilities) {
			t.Errorf("%d tasks: %d outcomes; want %d", size, len(res.Probabilities), len(want.Probabilities))
		}
		total := 0
		for k, p := range want.Probabilities {
			if math.Abs(res.Probabilities[k]-p) > 1e-9 {
				t.Errorf("%d tasks: P(%s) = %g; one node gives %g", size, k, res.Probabilities[k], p)
			}
			if !binomialOK(res.Counts[k], shots, p) {
				t.Errorf("%d tasks: %s came %d times in %d; want probability %.4f", size, k, res.Counts[k], shots, p)
			}
		}
		for k, n := range res.Counts {
			total += n
			if want.Counts[k] != n {
				t.Errorf("%d tasks: %s came %d times; with the same seed one node draws it %d times", size, k, n, want.Counts[k])
			}
		}
		if total != shots {
			t.Errorf("%d tasks: %d shots counted; want %d", size, total, shots)
		}
	}
}

// TestRunDistributedDynamicCircuits: circuits with mid-circuit
// measurements, resets and conditionals, through the branch tree (with
// copies, and one shot at a time), fall as the dense reference says and,
// with the same seed, as a single-node run draws them; their exact
// distribution is the dense reference's.
func TestRunDistributedDynamicCircuits(t *testing.T) {
	defer func(b int64) { exactCopyBytes = b }(exactCopyBytes)
	rng := rand.New(rand.NewPCG(8, 9))
	const shots = 4000
	for i := range 6 {
		src := randomDynamicCircuit(rng, 5, 24)
		c := mustCompile(t, src)
		want := denseDistribution(c)
		format := c.formatter()
		for _, copyBytes := range []int64{1 << 30, 0} {
			exactCopyBytes = copyBytes
			one, err := Run(c, Options{Shots: shots, Seed: uint64(i), Precision: Double})
			if err != nil {
				t.Fatal(err)
			}
			var res *Result
			onTasks(t, 4, func(comm *Comm) error {
				// The exact distribution needs room for copies.
				r, err := RunDistributed(c, Options{Shots: shots, Seed: uint64(i), Precision: Double, Probabilities: copyBytes > 0}, comm)
				if r != nil {
					res = r
				}
				return err
			})
			for k, p := range want {
				if got := res.Probabilities[format(k)]; copyBytes > 0 && math.Abs(got-p) > 1e-9 {
					t.Errorf("circuit %d (copies up to %d bytes): exact P(%s) = %g; want %g", i, copyBytes, format(k), got, p)
				}
			}
			total := 0
			for k, n := range res.Counts {
				total += n
				if one.Counts[k] != n {
					t.Errorf("circuit %d (copies up to %d bytes): %s came %d times; with the same seed one node draws it %d times", i, copyBytes, k, n, one.Counts[k])
				}
				found := false
				for kk, p := range want {
					found = found || (format(kk) == k && p > 0)
				}
				if !found {
					t.Errorf("circuit %d: outcome %s (%d shots) is impossible\n%s", i, k, n, src)
				}
			}
			if total != shots {
				t.Errorf("circuit %d: %d shots counted; want %d", i, total, shots)
			}
			for k, p := range want {
				if !binomialOK(res.Counts[format(k)], shots, p) {
					t.Errorf("circuit %d (copies up to %d bytes): %s came %d times in %d; want probability %.4f\n%s", i, copyBytes, format(k), res.Counts[format(k)], shots, p, src)
				}
			}
		}
	}
}

func TestRunDistributedRefusals(t *testing.T) {
	c := mustCompile(t, header+"qreg q[3];\ncreg c[3];\nh q[0];\nmeasure q[0] -> c[0];\nreset q[0];\n")
	for _, tc := range []struct {
		tasks int
		want  string
	}{{3, "power of two"}, {8, "at most 4 tasks"}} {
		if err := c.CheckDistributed(tc.tasks); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("CheckDistributed(%d) = %v; want an error saying %q", tc.tasks, err, tc.want)
		}
	}
}

// TestCommCollectives: all-reduce, gather and broadcast over 8 tasks.
func TestCommCollectives(t *testing.T) {
	onTasks(t, 8, func(c *Comm) error {
		v := []float64{float64(c.Rank), 1}
		if err := c.AllReduce(v); err != nil {
			return err
		}
		if v[0] != 28 || v[1] != 8 {
			return fmt.Errorf("AllReduce = %v; want [28 8]", v)
		}
		all, err := c.Gather([]byte{byte(c.Rank * 3)})
		if err != nil {
			return err
		}
		if c.Rank == 0 {
			for r, b := range all {
				if len(b) != 1 || b[0] != byte(r*3) {
					return fmt.Errorf("Gather gave %v from task %d", b, r)
				}
			}
		} else if all != nil {
			return fmt.Errorf("Gather gave task %d %v; want nil", c.Rank, all)
		}
		var mine []byte
		if c.Rank == 0 {
			mine = []byte("hello")
		}
		got, err := c.Broadcast(mine)
		if err != nil || string(got) != "hello" {
			return fmt.Errorf("Broadcast = %q, %v; want hello", got, err)
		}
		return nil
	})
}

// BenchmarkExchange measures the bandwidth of a qubit swap's exchange
// between two tasks over loopback TCP: each iteration swaps the rank
// qubit of a 24-qubit single-precision state split in two (64 MiB a task,
// half of it sent each way) with the top local qubit (contiguous halves)
// or qubit 0 (halves interleaved amplitude by amplitude, packed word by
// word). MB/s counts the bytes one task sends; both directions flow at
// once.
func BenchmarkExchange(b *testing.B) {
	const n = 24
	for _, l := range []int{n - 2, 0} {
		b.Run(fmt.Sprintf("local=%d", l), func(b *testing.B) {
			comms, err := LocalComms(2)
			if err != nil {
				b.Fatal(err)
			}
			ds := make([]*distState[float32], 2)
			for r := range ds {
				ds[r], _ = newDistState[float32](n, comms[r])
				defer comms[r].Close()
			}
			b.SetBytes(ds[0].s.bytes() / 2)
			b.ResetTimer()
			for range b.N {
				var wg sync.WaitGroup
				for _, d := range ds {
					wg.Add(1)
					go func() {
						defer wg.Done()
						if err := d.swap(l, n-1); err != nil {
							b.Error(err)
						}
					}()
				}
				wg.Wait()
			}
		})
	}
}

// BenchmarkDistributed24 runs the 24-qubit random circuit of depth 20
// (BenchmarkRandomCircuit's shape, single precision) with 1024 shots on
// one state and split over 2 and 4 in-process tasks connected over
// loopback TCP, reporting the remaps and the bytes each task sent. The
// tasks share the machine's cores, so this measures the cost of the
// exchanges, not a speed-up.
func BenchmarkDistributed24(b *testing.B) {
	c := mustCompile(b, randomCircuit(24, 20, 1))
	b.Run("tasks=1", func(b *testing.B) {
		for b.Loop() {
			if _, err := Run(c, Options{Shots: 1024, Seed: 1}); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, size := range []int{2, 4} {
		b.Run(fmt.Sprintf("tasks=%d", size), func(b *testing.B) {
			comms, err := LocalComms(size)
			if err != nil {
				b.Fatal(err)
			}
			defer func() {
				for _, c := range comms {
					c.Close()
				}
			}()
			for b.Loop() {
				var wg sync.WaitGroup
				for _, comm := range comms {
					wg.Add(1)
					go func() {
						defer wg.Done()
						if _, err := RunDistributed(c, Options{Shots: 1024, Seed: 1}, comm); err != nil {
							b.Error(err)
						}
					}()
				}
				wg.Wait()
			}
			b.ReportMetric(float64(comms[0].Remaps)/float64(b.N), "remaps/op")
			b.ReportMetric(float64(comms[0].Sent)/float64(b.N)/1e6, "MB-sent/op")
		})
	}
}

// TestRemapPolicy: a gate on a rank qubit swaps it with the local qubit
// next needed furthest ahead; diagonal gates and controls on rank qubits
// move nothing.
func TestRemapPolicy(t *testing.T) {
	h := UMatrix(math.Pi/2, 0, math.Pi)
	hq := func(q int) *Gate { return NewGate("h", []int{q}, nil, h) }
	rz := NewGate("rz", []int{3}, nil, []complex128{cmplx.Exp(-0.3i), 0, 0, cmplx.Exp(0.3i)})
	cz := NewGate("cz", []int{0}, []int{3}, []complex128{1, 0, 0, -1})
	cx := NewGate("cx", []int{1}, []int{3}, xMatrix)
	for _, tc := range []struct {
		name  string
		gates []*Gate
		swaps int
		// where is the position of qubit 0 at the end, or -1
		where int
	}{
		{"diagonal and controls on the rank qubit", []*Gate{hq(0), hq(1), rz, cz, cx}, 0, 0},
		// q0 is needed last, so it goes to the rank bit; it comes back
		// for the last gate.
		{"furthest next use", []*Gate{hq(3), hq(2), hq(1), hq(2), hq(1), hq(0)}, 2, -1},
		{"furthest next use, q0 never again", []*Gate{hq(0), hq(3), hq(2), hq(1), hq(2)}, 1, 3},
	} {
		var mu sync.Mutex
		onTasks(t, 2, func(c *Comm) error {
			d, err := newDistState[float64](4, c)
			if err != nil {
				return err
			}
			if err := d.applyGates(tc.gates); err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			if d.swaps != tc.swaps || (tc.where >= 0 && d.pos[0] != tc.where) {
				t.Errorf("%s: task %d made %d swaps and left qubit 0 at %d; want %d swaps, qubit 0 at %d", tc.name, c.Rank, d.swaps, d.pos[0], tc.swaps, tc.where)
			}
			return nil
		})
	}
}

// TestSwapEveryPosition: swapping the rank qubit with each local position
// in turn, in both precisions, leaves the state the same (only where its
// amplitudes lie changes).
func TestSwapEveryPosition(t *testing.T) {
	const n = 7
	rng := rand.New(rand.NewPCG(4, 4))
	var gates []*Gate
	for range 40 {
		gates = append(gates, randomGate(rng, n))
	}
	t.Run("single", func(t *testing.T) { swapEveryPosition[float32](t, gates, n) })
	t.Run("double", func(t *testing.T) { swapEveryPosition[float64](t, gates, n) })
}

func swapEveryPosition[F Float](t *testing.T, gates []*Gate, n int) {
	want, _ := NewState[F](n)
	for _, g := range gates {
		want.Apply(g)
	}
	onTasks(t, 2, func(c *Comm) error {
		d, err := newDistState[F](n, c)
		if err != nil {
			return err
		}
		for l := range n - 1 {
			if err := d.applyGates(gates); err != nil {
				return err
			}
			if err := d.swap(l, n-1); err != nil {
				return err
			}
			for i := range 1 << n {
				if a, ok := d.amplitude(uint64(i)); ok && cmplx.Abs(a-want.Amplitude(i)) > 1e-5 {
					return fmt.Errorf("after swapping position %d with the rank bit, amplitude %d = %v; want %v", l, i, a, want.Amplitude(i))
				}
			}
			d.reset()
		}
		return nil
	})
}
