package cli

import (
	"errors"
	"testing"
)

// TestParseJobRefs checks that the job commands read array tasks exactly
// (cancel 1048_2 names one task, not array 1048) and refuse the rest.
func TestParseJobRefs(t *testing.T) {
	refs, err := parseJobRefs([]string{"1048_2", "12,13_[1,3-4]", "7"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range refs {
		got = append(got, r.String())
	}
	want := []string{"1048_2", "12", "13_[1,3-4]", "7"}
	if len(got) != len(want) {
		t.Fatalf("parseJobRefs = %q; want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("parseJobRefs[%d] = %q; want %q", i, got[i], want[i])
		}
	}
	for _, bad := range []string{"1_garbage", "1037_", "x", "0"} {
		var ue *UsageError
		if _, err := parseJobRefs([]string{bad}); !errors.As(err, &ue) {
			t.Errorf("parseJobRefs(%q) error = %v; want a usage error", bad, err)
		}
	}
	if _, err := parseJobIDs([]string{"1048_2"}); err == nil {
		t.Errorf("parseJobIDs(1048_2) = nil error; want one (accounting takes job IDs)")
	}
}
