//go:build !linux

package quantum

import "unsafe"

// adviseHuge is a no-op where the kernel has no madvise hint for huge
// pages.
func adviseHuge(p unsafe.Pointer, n uintptr) {}
