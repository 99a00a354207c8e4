package agent

import (
	"context"
	"errors"
	"fmt"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/cluster"
)

// GPUSample is one reading of a GPU's counters. A field whose Has flag is
// false could not be read (a counter the GPU or driver lacks).
type GPUSample struct {
	// EnergyMJ is the energy used since the driver loaded, in millijoules
	// (NVML's total-energy counter).
	EnergyMJ  uint64
	HasEnergy bool
	// UtilPct is the percentage of the last sample period in which a
	// kernel ran.
	UtilPct float64
	HasUtil bool
	// MemUsedMB is the device memory in use.
	MemUsedMB int64
}

// GPUMeter reads a node's GPU counters; gpu is the NVML index.
type GPUMeter interface {
	Sample(gpu int) (GPUSample, error)
}

// HealthEvent is a GPU fault the driver reported.
type HealthEvent struct {
	GPU int
	// XID is the driver's error number (Xid); 0 for an ECC event.
	XID uint64
	// DoubleBitECC marks an uncorrectable memory error.
	DoubleBitECC bool
}

// HealthSource delivers GPU faults until ctx ends.
type HealthSource interface {
	WatchHealth(ctx context.Context, event func(HealthEvent)) error
}

// GPUs is a node's GPU hardware as the agent sees it: the inventory it
// registers, the device minor numbers, and, where a driver is present, the
// meter and the fault source. Meter and Health are nil for declared GPUs:
// then nothing is measured and the controller models what it shows.
type GPUs struct {
	Inventory []api.GPU
	Meter     GPUMeter
	Health    HealthSource
	// Driver names where the GPUs came from ("nvml 550.54.15", "declared").
	Driver string
	// Close releases the driver library.
	Close func()
}

// ErrNoNVML means the NVIDIA management library is not available: the
// binary was built without cgo, or no driver is installed.
var ErrNoNVML = errors.New("NVML is not available")

// openNVML opens the NVIDIA management library; gpu_nvml.go sets it in
// builds with cgo on Linux.
var openNVML = func() (*GPUs, error) {
	return nil, fmt.Errorf("%w: this gefion was built without cgo; declare the GPUs instead", ErrNoNVML)
}

// DiscoverGPUs finds the node's GPUs through NVML. It returns an error
// wrapping ErrNoNVML where there is no driver; callers then fall back to
// declared GPUs.
func DiscoverGPUs() (*GPUs, error) { return openNVML() }

// DeclaredGPUs returns n GPUs of a model for a node without a driver (or a
// test): indexes 0..n-1, no meter, no fault source.
func DeclaredGPUs(n int, m cluster.GPUModel) *GPUs {
	g := &GPUs{Driver: "declared", Close: func() {}}
	for i := 0; i < n; i++ {
		g.Inventory = append(g.Inventory, api.GPU{Index: i, Name: m.Name, MemoryMB: m.MemoryBytes >> 20})
	}
	// Declared GPUs stand for a DGX's: all reach one another over NVLink.
	for i := range g.Inventory {
		for j := 0; j < n; j++ {
			if j != i {
				g.Inventory[i].Peers = append(g.Inventory[i].Peers, j)
			}
		}
	}
	return g
}
