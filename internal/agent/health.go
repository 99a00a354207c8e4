package agent

import (
	"fmt"
	"time"
)

// DrainXIDs are the XID errors that mean the hardware, not the program, is
// at fault, after NVIDIA's XID catalogue and GPU debug guidelines: a node
// showing one is drained and its jobs requeued. XIDs a program causes (13
// graphics engine exception, 31 MMU fault, 43 stopped channel, 45
// preemptive clean-up, 68 video processor exception) are not here: a bug in
// one job must not take a node out of service.
var DrainXIDs = map[uint64]string{
	48:  "double-bit ECC error",
	63:  "ECC page retirement or row remapping event",
	64:  "ECC page retirement or row remapping failure",
	74:  "NVLink error",
	79:  "GPU has fallen off the bus",
	92:  "high single-bit ECC error rate",
	94:  "contained ECC error",
	95:  "uncontained ECC error",
	119: "GSP RPC timeout",
	120: "GSP error",
	140: "unrecovered ECC error",
}

// HealthVerdict says what a GPU fault means for the node: Drain with a
// reason an operator reads in `gefion nodes`, or nothing to do.
func HealthVerdict(e HealthEvent, drain map[uint64]string) (bool, string) {
	if e.DoubleBitECC {
		return true, fmt.Sprintf("GPU %d: uncorrectable (double-bit) ECC error", e.GPU)
	}
	if what, ok := drain[e.XID]; ok {
		return true, fmt.Sprintf("GPU %d: XID %d (%s)", e.GPU, e.XID, what)
	}
	return false, fmt.Sprintf("GPU %d: XID %d", e.GPU, e.XID)
}

// gpuUse accumulates one GPU's samples during a job and notices when it
// has been idle too long.
type gpuUse struct {
	gpu       int
	startMJ   uint64
	hasEnergy bool
	utilSum   float64
	samples   int
	maxMemMB  int64
	// idleSince is when the current run of 0% samples began (zero when
	// the last sample was busy); reported is set once the idle report
	// has been sent, so it is sent once per job and GPU.
	idleSince time.Time
	reported  bool
}

// observe adds a sample taken at now and reports whether the GPU has now
// been idle for at least idleAfter (only the first time).
func (u *gpuUse) observe(s GPUSample, now time.Time, idleAfter time.Duration) bool {
	if s.MemUsedMB > u.maxMemMB {
		u.maxMemMB = s.MemUsedMB
	}
	if !s.HasUtil {
		return false
	}
	u.utilSum += s.UtilPct
	u.samples++
	if s.UtilPct > 0 {
		u.idleSince = time.Time{}
		return false
	}
	if u.idleSince.IsZero() {
		u.idleSince = now
	}
	if idleAfter > 0 && !u.reported && now.Sub(u.idleSince) >= idleAfter {
		u.reported = true
		return true
	}
	return false
}
