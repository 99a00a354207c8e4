package hostlist

import (
	"slices"
	"testing"
)

func TestExpand(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"dgx001", []string{"dgx001"}},
		{"dgx[001-003]", []string{"dgx001", "dgx002", "dgx003"}},
		{"dgx[001-002,010],login1", []string{"dgx001", "dgx002", "dgx010", "login1"}},
		{"n[8-10]", []string{"n8", "n9", "n10"}},
		{"n[08-10]", []string{"n08", "n09", "n10"}},
		{"r[1-2]n[1-2]", []string{"r1n1", "r1n2", "r2n1", "r2n2"}},
		{"", nil},
	}
	for _, tt := range tests {
		got, err := Expand(tt.in)
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("Expand(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestExpandErrors(t *testing.T) {
	for _, in := range []string{"dgx[001-", "dgx]", "dgx[]", "dgx[a-b]", "dgx[5-1]", "n[0-99999999]"} {
		if got, err := Expand(in); err == nil {
			t.Errorf("Expand(%q) = %v; want an error", in, got)
		}
	}
}

func TestCompress(t *testing.T) {
	tests := []struct {
		in   []string
		want string
	}{
		{[]string{"dgx003", "dgx001", "dgx002", "dgx010"}, "dgx[001-003,010]"},
		{[]string{"dgx001"}, "dgx001"},
		{[]string{"login", "n1", "n2", "n2"}, "n[1-2],login"},
		{nil, ""},
	}
	for _, tt := range tests {
		if got := Compress(tt.in); got != tt.want {
			t.Errorf("Compress(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}

func FuzzRoundTrip(f *testing.F) {
	f.Add("dgx[001-004,010],login1")
	f.Fuzz(func(t *testing.T, s string) {
		names, err := Expand(s)
		if err != nil || len(names) > 10000 {
			return
		}
		back, err := Expand(Compress(names))
		if err != nil {
			t.Fatalf("Expand(Compress(%q)) failed: %v", names, err)
		}
		a, b := slices.Clone(names), back
		slices.Sort(a)
		a = slices.Compact(a)
		slices.Sort(b)
		if !slices.Equal(a, b) && !hasAmbiguous(names) {
			t.Fatalf("round trip of %q: got %q", names, back)
		}
	})
}

// hasAmbiguous reports names that no bracket expression can reproduce
// exactly (characters with meaning in the syntax).
func hasAmbiguous(names []string) bool {
	for _, n := range names {
		for _, r := range n {
			if r == '[' || r == ']' || r == ',' || r == '-' || r == ' ' {
				return true
			}
		}
		if n == "" {
			return true
		}
	}
	return false
}
