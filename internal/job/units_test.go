package job

import (
	"strings"
	"testing"
)

func TestParseTime(t *testing.T) {
	tests := []struct {
		in   string
		want int64
	}{
		{"10", 600},                  // minutes
		{"0:30", 30},                 // minutes:seconds
		{"90:00", 5400},              // minutes:seconds past an hour
		{"1:30:00", 5400},            // hours:minutes:seconds
		{"2-0", 2 * 86400},           // days-hours
		{"2-12", 2*86400 + 12*3600},  // days-hours
		{"1-02:30", 86400 + 9000},    // days-hours:minutes
		{"1-02:30:15", 86400 + 9015}, // days-hours:minutes:seconds
		{"2-00:00:00", 172800},       // the PyTorch example
		{"UNLIMITED", 0}, {"infinite", 0}, {"-1", 0},
		{" 15 ", 900},
	}
	for _, tc := range tests {
		got, err := ParseTime(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseTime(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"", "abc", "1:2:3:4", "1-2:3:4:5", "-5", "5-", "1:-2", "1.5", "1h", "60000000"} {
		if got, err := ParseTime(in); err == nil {
			t.Errorf("ParseTime(%q) = %d; want an error", in, got)
		}
	}
	// Fields so large that scaling them would overflow (the first is a
	// fuzzer's find: it came out negative) are over a century, not wrapped.
	for _, in := range []string{"00000000000000000000000002000000000000000000", "200000000000000000", "153722867280912931",
		"1:9223372036854775807", "9223372036854775807-0", "99999999999999999999-1:00", "1-99999999999999999999"} {
		if got, err := ParseTime(in); err == nil || !strings.Contains(err.Error(), "over a century") {
			t.Errorf("ParseTime(%q) = %d, %v; want an error saying it is over a century", in, got, err)
		}
	}
}

func TestFormatTime(t *testing.T) {
	tests := []struct {
		in   int64
		want string
	}{{0, "UNLIMITED"}, {59, "00:00:59"}, {5400, "01:30:00"}, {172800, "2-00:00:00"}, {90061, "1-01:01:01"}}
	for _, tc := range tests {
		if got := FormatTime(tc.in); got != tc.want {
			t.Errorf("FormatTime(%d) = %q; want %q", tc.in, got, tc.want)
		}
		if tc.in > 0 {
			if back, err := ParseTime(FormatTime(tc.in)); err != nil || back != tc.in {
				t.Errorf("ParseTime(FormatTime(%d)) = %d, %v", tc.in, back, err)
			}
		}
	}
}

func TestParseMem(t *testing.T) {
	tests := []struct {
		in   string
		want int64
	}{
		{"100", 100}, {"100M", 100}, {"4G", 4096}, {"4g", 4096}, {"1T", 1 << 20},
		{"2048K", 2}, {"1K", 1}, {"0", 0}, {"64GB", 65536}, {"1.5G", 1536},
	}
	for _, tc := range tests {
		got, err := ParseMem(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseMem(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"", "G", "lots", "-1G", "4X", "99999999T"} {
		if got, err := ParseMem(in); err == nil {
			t.Errorf("ParseMem(%q) = %d; want an error", in, got)
		}
	}
}
