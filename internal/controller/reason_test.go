package controller

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestClipReason(t *testing.T) {
	long := strings.Repeat("ø", maxReasonBytes) // two bytes each
	for _, tc := range []struct {
		name, in string
		wantLen  int
	}{
		{"short", "chdir /x: no such file or directory", len("chdir /x: no such file or directory")},
		{"at the bound", strings.Repeat("a", maxReasonBytes), maxReasonBytes},
		{"over, ASCII", strings.Repeat("a", maxReasonBytes+1), maxReasonBytes + len("...")},
		{"over, cut inside a character", "a" + long, maxReasonBytes - 1 + len("...")},
	} {
		got := clipReason(tc.in)
		if len(got) != tc.wantLen || !utf8.ValidString(got) {
			t.Errorf("%s: clipReason gave %d bytes (valid UTF-8: %v); want %d", tc.name, len(got), utf8.ValidString(got), tc.wantLen)
		}
	}
}
