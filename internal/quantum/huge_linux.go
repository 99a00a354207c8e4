//go:build linux

package quantum

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// hugePage is the size of a transparent huge page on the platforms Gefion
// runs on (x86-64 and arm64 with 4 KiB base pages).
const hugePage = 2 << 20

// adviseHuge asks the kernel to back the 2 MiB-aligned interior of
// [p, p+n) with transparent huge pages (MADV_HUGEPAGE). Where the kernel
// allows them only on request (transparent_hugepage=madvise, a common
// default) this is what turns them on; where they are off, or the call
// fails, nothing changes but speed.
func adviseHuge(p unsafe.Pointer, n uintptr) {
	start := (uintptr(p) + hugePage - 1) &^ (hugePage - 1)
	end := (uintptr(p) + n) &^ (hugePage - 1)
	if end <= start {
		return
	}
	b := unsafe.Slice((*byte)(p), n)[start-uintptr(p) : end-uintptr(p)]
	_ = unix.Madvise(b, unix.MADV_HUGEPAGE)
}
