package quantum

import (
	"math/bits"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"unsafe"
)

// Cache sizes of the core the simulator runs on, which set the shape of
// the blocked passes (see blockShape). Linux publishes them under
// /sys/devices/system/cpu/cpu0/cache; where it does not, x86 processors
// answer CPUID; elsewhere, or when neither can be read, the sizes of the
// AMD Zen cores the kernels were first tuned on (32 KiB L1 data, 512 KiB
// L2) stand in.
const (
	defaultL1Bytes = 32 << 10
	defaultL2Bytes = 512 << 10
	// maxL2Bytes bounds the L2 size used: past it blocks would outgrow
	// the caches of the other cores sharing the memory bus.
	maxL2Bytes = 4 << 20
)

var cacheSizes = sync.OnceValues(func() (l1, l2 int) {
	l1, l2 = defaultL1Bytes, defaultL2Bytes
	// Virtual machines often publish no cache directory; the processor
	// itself still tells (see cpuidCaches).
	if c1, c2 := cpuidCaches(); c2 > 0 {
		l2 = min(c2, maxL2Bytes)
		if c1 > 0 {
			l1 = c1
		}
	}
	dirs, _ := filepath.Glob("/sys/devices/system/cpu/cpu0/cache/index*")
	for _, d := range dirs {
		level := readSysfs(filepath.Join(d, "level"))
		typ := readSysfs(filepath.Join(d, "type"))
		size, ok := parseCacheSize(readSysfs(filepath.Join(d, "size")))
		if !ok {
			continue
		}
		switch {
		case level == "1" && typ == "Data":
			l1 = size
		case level == "2" && (typ == "Unified" || typ == "Data"):
			l2 = min(size, maxL2Bytes)
		}
	}
	return l1, l2
})

func readSysfs(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// parseCacheSize reads sysfs's "48K", "2048K" or "1M".
func parseCacheSize(s string) (int, bool) {
	mult := 1
	switch {
	case strings.HasSuffix(s, "K"):
		mult, s = 1<<10, strings.TrimSuffix(s, "K")
	case strings.HasSuffix(s, "M"):
		mult, s = 1<<20, strings.TrimSuffix(s, "M")
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return 0, false
	}
	return n * mult, true
}

// blockShape returns the number of local qubits of a pass and how many of
// them are the lowest qubits, for amplitudes of F: blocks of a quarter of
// the L2 cache (room for the lines being gathered and the next block's
// prefetch), gathered in runs of 2^low amplitudes with low = 5/8 of the
// local qubits. On a 25-qubit random circuit on Zen cores (512 KiB L2:
// 14 local qubits in single precision) 14 with 9 low ran as fast as 15
// with 9 and 5-10% faster than 14 with 10; on the cycle circuit of
// BenchmarkRandomCircuit at 26 qubits on Xeon cores with 2 MiB of L2
// (16 local), 16 with 10 low took 17 passes and ran 10-15% faster than
// 14 with 9 (29 passes) or 16 with 11 (25 passes).
func blockShape[F Float]() (local, low int) {
	_, l2 := cacheSizes()
	var f F
	amp := 2 * int(unsafe.Sizeof(f))
	local = bits.Len(uint(l2/4/amp)) - 1
	local = max(local, 10)
	return local, (local*5 + 4) / 8
}
