package job

import (
	"errors"
	"slices"
	"testing"
)

func TestParseRef(t *testing.T) {
	tests := []struct {
		in   string
		want Ref
	}{
		{"1048", Ref{ID: 1048}},
		{"1048_2", Ref{ID: 1048, Tasks: []int{2}}},
		{"1048_0", Ref{ID: 1048, Tasks: []int{0}}},
		{"1048_[1-3]", Ref{ID: 1048, Tasks: []int{1, 2, 3}}},
		{"1048_[1,3,5-7]", Ref{ID: 1048, Tasks: []int{1, 3, 5, 6, 7}}},
		{"1048_[0-6:3]", Ref{ID: 1048, Tasks: []int{0, 3, 6}}},
	}
	for _, tc := range tests {
		got, err := ParseRef(tc.in)
		if err != nil || got.ID != tc.want.ID || !slices.Equal(got.Tasks, tc.want.Tasks) {
			t.Errorf("ParseRef(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
		if got.String() != tc.in && tc.in != "1048_[0-6:3]" {
			t.Errorf("ParseRef(%q).String() = %q; want it back", tc.in, got.String())
		}
	}
	for _, in := range []string{"", "0", "-1", "+5", "1_", "1_garbage", "1_-2", "1_+2", "1_[]", "1_[1-3%2]",
		"1_[1", "1_2_3", "abc", "1x", " 1", "1_ 2", "1_[3-1]", "99999999999999999999"} {
		if r, err := ParseRef(in); !errors.Is(err, ErrBadRef) {
			t.Errorf("ParseRef(%q) = %+v, %v; want ErrBadRef", in, r, err)
		}
	}
}

func TestSplitRefs(t *testing.T) {
	got := SplitRefs("12,13_2,14_[1,3-4],15")
	want := []string{"12", "13_2", "14_[1,3-4]", "15"}
	if !slices.Equal(got, want) {
		t.Errorf("SplitRefs = %q; want %q", got, want)
	}
	if got := FormatIndices([]int{0, 1, 2, 3, 7, 9, 10}); got != "0-3,7,9-10" {
		t.Errorf("FormatIndices = %q; want 0-3,7,9-10", got)
	}
}
