package quantum

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/gefion-hpc/gefion/internal/cluster"
)

func TestSize(t *testing.T) {
	gefion, err := cluster.Preset("gefion")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		qubits             int
		backend, precision string
		gpus, nodes        int
	}{
		{30, BackendNVIDIA, Single, 1, 1},
		{33, BackendNVIDIA, Single, 1, 1}, // 68.7 GB of 72 usable
		{32, BackendNVIDIA, Double, 1, 1},
		{20, BackendMGPU, Single, 1, 1},
		{34, BackendMGPU, Single, 2, 1},
		{36, BackendMGPU, Single, 8, 1},
		{37, BackendMGPU, Single, 16, 2},
		{40, BackendMGPU, Single, 128, 16}, // 8.8 TB over 128 x 72 GB
		{40, BackendMGPU, Double, 256, 32},
		{43, BackendMGPU, Single, 1024, 128},
		{50, BackendTensorNet, Single, 1, 1},
	} {
		s, err := Size(tc.qubits, tc.backend, tc.precision, gefion)
		if err != nil {
			t.Errorf("Size(%d, %s, %s): %v", tc.qubits, tc.backend, tc.precision, err)
			continue
		}
		if s.GPUs != tc.gpus || s.Nodes != tc.nodes {
			t.Errorf("Size(%d, %s, %s) = %d GPUs on %d nodes; want %d on %d", tc.qubits, tc.backend, tc.precision, s.GPUs, s.Nodes, tc.gpus, tc.nodes)
		}
		if tc.backend != BackendTensorNet && s.PerGPUBytes > s.UsableGPUBytes {
			t.Errorf("Size(%d): %d bytes per GPU exceed the usable %d", tc.qubits, s.PerGPUBytes, s.UsableGPUBytes)
		}
		if s.GPUs&(s.GPUs-1) != 0 && tc.backend == BackendMGPU {
			t.Errorf("mgpu GPU count %d is not a power of two", s.GPUs)
		}
	}
	for _, tc := range []struct {
		qubits             int
		backend, precision string
		want               []string
	}{
		{44, BackendMGPU, Single, []string{"2048 GPUs on 256 nodes", "1528 GPUs on 191 nodes", "at most 1024 GPUs", "43 qubits"}},
		{43, BackendMGPU, Double, []string{"2048 GPUs", "42 qubits in double"}},
		{34, BackendNVIDIA, Single, []string{"2 GPUs", "--backend mgpu", "at most 33 qubits"}},
	} {
		_, err := Size(tc.qubits, tc.backend, tc.precision, gefion)
		if !errors.Is(err, ErrTooLarge) {
			t.Errorf("Size(%d, %s, %s) = %v; want ErrTooLarge", tc.qubits, tc.backend, tc.precision, err)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("Size(%d) error %q lacks %q", tc.qubits, err, w)
			}
		}
	}
	for _, bad := range []struct {
		q    int
		b, p string
	}{{0, "mgpu", ""}, {70, "mgpu", ""}, {10, "quantum-annealer", ""}, {10, "mgpu", "half"}} {
		if _, err := Size(bad.q, bad.b, bad.p, gefion); err == nil || errors.Is(err, ErrTooLarge) {
			t.Errorf("Size(%d, %q, %q) = %v; want an input error", bad.q, bad.b, bad.p, err)
		}
	}
}

func TestSizingEnv(t *testing.T) {
	gefion, _ := cluster.Preset("gefion")
	s, err := Size(40, BackendMGPU, Double, gefion)
	if err != nil {
		t.Fatal(err)
	}
	env := strings.Join(s.Env(), "\n")
	for _, w := range []string{"GEFION_CUDAQ_TARGET=nvidia", "GEFION_CUDAQ_TARGET_OPTION=mgpu,fp64", "GEFION_MPI_RANKS=256", "GEFION_MPI_RANKS_PER_NODE=8", "CUDAQ_MGPU_P2P_DEVICE_BITS=3", "CUDAQ_GPU_FABRIC=NVL"} {
		if !strings.Contains(env, w) {
			t.Errorf("Env() lacks %s:\n%s", w, env)
		}
	}
	one, _ := Size(20, BackendNVIDIA, Single, gefion)
	if strings.Contains(strings.Join(one.Env(), " "), "CUDAQ_MGPU") {
		t.Errorf("single-GPU sizing sets multi-GPU variables: %v", one.Env())
	}
}

func TestAliasedPairsBuffered(t *testing.T) {
	// Lower the aliasing distance so that a small state takes the
	// buffered path, and check it against the dense reference.
	old := aliasBytes
	aliasBytes = 1 << 10
	defer func() { aliasBytes = old }()
	rng := rand.New(rand.NewPCG(3, 4))
	const n = 16
	for _, g := range []*Gate{
		NewGate("general", []int{n - 1}, nil, UMatrix(0.7, 0.2, 1.9)),
		NewGate("h", []int{12}, nil, UMatrix(1.5707963267948966, 0, 3.141592653589793)),
		NewGate("cry", []int{14}, []int{9}, UMatrix(0.4, 0, 0)),
	} {
		psi := randomState(rng, n)
		want := denseApply(psi, n, g)
		s := loadState[float32](psi)
		s.Apply(g)
		if d := maxDiff(s, want); d > 1e-5 {
			t.Errorf("%s buffered: off by %g", g.Name, d)
		}
		sd := loadState[float64](psi)
		sd.Apply(g)
		if d := maxDiff(sd, want); d > 1e-12 {
			t.Errorf("%s buffered (double): off by %g", g.Name, d)
		}
	}
}
