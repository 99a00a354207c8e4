//go:build amd64

package quantum

// cpuid executes the CPUID instruction for leaf eax, subleaf ecx.
//
//go:noescape
func cpuid(eaxArg, ecxArg uint32) (eax, ebx, ecx, edx uint32)

// cpuidCaches returns the L1 data and L2 cache sizes in bytes that the
// processor reports in its extended leaves (0x80000005 for the L1 on AMD,
// 0x80000006 for the L2 on AMD and Intel alike), or 0 for a size it does
// not report.
func cpuidCaches() (l1, l2 int) {
	maxExt, _, _, _ := cpuid(0x80000000, 0)
	if maxExt >= 0x80000006 {
		_, _, c, _ := cpuid(0x80000006, 0)
		l2 = int(c>>16) << 10
	}
	if maxExt >= 0x80000005 {
		_, _, c, _ := cpuid(0x80000005, 0)
		l1 = int(c>>24) << 10
	}
	return l1, l2
}
