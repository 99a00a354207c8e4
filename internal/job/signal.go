package job

import (
	"fmt"
	"strconv"
	"strings"
)

// DefaultSignalBeforeS is how long before the time limit --signal sends its
// signal when the expression gives no @time; Slurm's default is 60 seconds.
const DefaultSignalBeforeS = 60

// maxSignalBeforeS is the largest @time Slurm accepts (a 16-bit field).
const maxSignalBeforeS = 0xffff

// Signal is a parsed --signal=[{R|B}:]sig[@time]: send signal Num (named
// Name, without the SIG prefix, when it has a name) BeforeS seconds before
// the job's time limit.
type Signal struct {
	Num  int    `json:"num"`
	Name string `json:"name,omitempty"`
	// BatchOnly (B:) signals only the batch shell, not the job's other
	// processes.
	BatchOnly bool `json:"batch_only,omitempty"`
	// Reservation (R:) also sends the signal when the job's reservation
	// ends; there are no reservations here, so it only records the request.
	Reservation bool  `json:"reservation,omitempty"`
	BeforeS     int64 `json:"before_s"`
}

// signalNames maps the signal names Slurm knows to their Linux numbers.
var signalNames = []struct {
	name string
	num  int
}{
	{"HUP", 1}, {"INT", 2}, {"QUIT", 3}, {"ABRT", 6}, {"KILL", 9},
	{"ALRM", 14}, {"TERM", 15}, {"CHLD", 17}, {"USR1", 10}, {"USR2", 12},
	{"PIPE", 13}, {"URG", 23}, {"CONT", 18}, {"STOP", 19}, {"TSTP", 20},
	{"TTIN", 21}, {"TTOU", 22}, {"XCPU", 24},
}

// SignalNumber returns the number of a signal given by number ("10") or
// by name, with or without "SIG", in any case ("USR1", "sigusr1").
func SignalNumber(s string) (num int, name string, err error) {
	t := strings.TrimSpace(s)
	if t != "" && t[0] >= '0' && t[0] <= '9' {
		n, err := strconv.Atoi(t)
		if err != nil || n < 1 || n > 0xffff {
			return 0, "", fmt.Errorf("invalid signal %q: use a name such as USR1 or a number from 1", s)
		}
		for _, sn := range signalNames {
			if sn.num == n {
				name = sn.name
			}
		}
		return n, name, nil
	}
	u := strings.ToUpper(t)
	u = strings.TrimPrefix(u, "SIG")
	for _, sn := range signalNames {
		if u == sn.name {
			return sn.num, sn.name, nil
		}
	}
	return 0, "", fmt.Errorf("invalid signal %q: use a number or one of %s", s, signalList())
}

func signalList() string {
	names := make([]string, len(signalNames))
	for i, sn := range signalNames {
		names[i] = sn.name
	}
	return strings.Join(names, ", ")
}

// ParseSignal parses a --signal expression: [{R|B}:]sig[@time], where the
// flags may be R, B, RB or BR, sig is a number or a name and time is
// seconds before the time limit (default DefaultSignalBeforeS, at most
// 65535).
func ParseSignal(s string) (Signal, error) {
	var sig Signal
	rest := s
	// Slurm reads the flags before an optional colon: R, B, RB or BR.
	if head, tail, ok := strings.Cut(rest, ":"); ok {
		for _, c := range strings.ToUpper(head) {
			switch c {
			case 'R':
				sig.Reservation = true
			case 'B':
				sig.BatchOnly = true
			default:
				return Signal{}, fmt.Errorf("invalid signal flags %q in %q: use R, B or RB before the colon", head, s)
			}
		}
		rest = tail
	}
	name, at, hasAt := strings.Cut(rest, "@")
	num, nm, err := SignalNumber(name)
	if err != nil {
		return Signal{}, err
	}
	sig.Num, sig.Name = num, nm
	sig.BeforeS = DefaultSignalBeforeS
	if hasAt {
		v, err := strconv.ParseInt(at, 10, 64)
		if err != nil || v < 0 || v > maxSignalBeforeS {
			return Signal{}, fmt.Errorf("invalid signal time %q in %q: use whole seconds from 0 to %d", at, s, maxSignalBeforeS)
		}
		sig.BeforeS = v
	}
	return sig, nil
}

// String formats the signal as --signal takes it.
func (s Signal) String() string {
	var b strings.Builder
	if s.Reservation {
		b.WriteByte('R')
	}
	if s.BatchOnly {
		b.WriteByte('B')
	}
	if b.Len() > 0 {
		b.WriteByte(':')
	}
	if s.Name != "" {
		b.WriteString(s.Name)
	} else {
		b.WriteString(strconv.Itoa(s.Num))
	}
	fmt.Fprintf(&b, "@%d", s.BeforeS)
	return b.String()
}
