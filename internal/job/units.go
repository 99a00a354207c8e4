package job

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/gefion-hpc/gefion/internal/cluster"
)

func init() { cluster.ParseDuration = ParseTime }

// ErrUnlimited is not an error users see: ParseTime returns 0 with a nil
// error for "UNLIMITED"; this documents that 0 means no limit.

// ParseTime parses a Slurm time limit: "minutes", "minutes:seconds",
// "hours:minutes:seconds", "days-hours", "days-hours:minutes" and
// "days-hours:minutes:seconds". "INFINITE", "UNLIMITED" and "-1" mean no
// limit and return 0. The result is in seconds.
func ParseTime(s string) (int64, error) {
	s = strings.TrimSpace(s)
	switch strings.ToUpper(s) {
	case "INFINITE", "UNLIMITED", "-1":
		return 0, nil
	case "":
		return 0, errors.New("empty time: use minutes, h:m:s or d-h:m:s")
	}
	bad := fmt.Errorf("invalid time %q: use minutes, minutes:seconds, h:m:s, d-h, d-h:m or d-h:m:s", s)
	// Every field is at most a century's seconds before it is scaled,
	// so that the sum below cannot overflow.
	const centuryS = 365 * 86400 * 100
	tooLong := fmt.Errorf("time %q is over a century: use UNLIMITED for no limit", s)
	var days int64
	rest := s
	hasDays := false
	if d, r, ok := strings.Cut(s, "-"); ok {
		v, err := strconv.ParseInt(d, 10, 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) || v < 0 {
			return 0, bad
		}
		if err != nil || v > centuryS/86400 {
			return 0, tooLong
		}
		days, rest, hasDays = v, r, true
	}
	parts := strings.Split(rest, ":")
	nums := make([]int64, len(parts))
	for i, p := range parts {
		v, err := strconv.ParseInt(p, 10, 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) || v < 0 {
			return 0, bad
		}
		if err != nil || v > centuryS {
			return 0, tooLong
		}
		nums[i] = v
	}
	var secs int64
	switch {
	case hasDays && len(nums) == 1: // d-h
		secs = nums[0] * 3600
	case hasDays && len(nums) == 2: // d-h:m
		secs = nums[0]*3600 + nums[1]*60
	case hasDays && len(nums) == 3: // d-h:m:s
		secs = nums[0]*3600 + nums[1]*60 + nums[2]
	case len(nums) == 1: // minutes
		secs = nums[0] * 60
	case len(nums) == 2: // minutes:seconds
		secs = nums[0]*60 + nums[1]
	case len(nums) == 3: // h:m:s
		secs = nums[0]*3600 + nums[1]*60 + nums[2]
	default:
		return 0, bad
	}
	secs += days * 86400
	if secs > centuryS {
		return 0, tooLong
	}
	return secs, nil
}

// FormatTime formats seconds as Slurm prints times: [d-]hh:mm:ss, or
// UNLIMITED for 0.
func FormatTime(s int64) string {
	if s <= 0 {
		return "UNLIMITED"
	}
	d, s := s/86400, s%86400
	h, m, sec := s/3600, s%3600/60, s%60
	if d > 0 {
		return fmt.Sprintf("%d-%02d:%02d:%02d", d, h, m, sec)
	}
	return fmt.Sprintf("%02d:%02d:%02d", h, m, sec)
}

// ParseMem parses a Slurm memory size: a number with an optional K, M, G or
// T suffix (M when absent, powers of 1024). The result is in MiB; "0" is 0.
func ParseMem(s string) (int64, error) {
	t := strings.TrimSpace(strings.ToUpper(s))
	t = strings.TrimSuffix(t, "B")
	if t == "" {
		return 0, errors.New("empty memory size: use a number with K, M, G or T")
	}
	mult := 1.0
	switch t[len(t)-1] {
	case 'K':
		mult = 1.0 / 1024
	case 'M':
	case 'G':
		mult = 1024
	case 'T':
		mult = 1024 * 1024
	default:
		if t[len(t)-1] < '0' || t[len(t)-1] > '9' {
			return 0, fmt.Errorf("invalid memory size %q: use a number with K, M, G or T (for example 64G)", s)
		}
		t += "M"
	}
	v, err := strconv.ParseFloat(t[:len(t)-1], 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("invalid memory size %q: use a number with K, M, G or T (for example 64G)", s)
	}
	mb := v * mult
	if mb > 1<<40 {
		return 0, fmt.Errorf("memory size %q is too large", s)
	}
	if mb > 0 && mb < 1 {
		mb = 1
	}
	return int64(mb + 0.5), nil
}
