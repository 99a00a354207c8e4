package hostlist

import (
	"errors"
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
		// A range ending at the largest int64 never ended.
		{"n[9223372036854775806-9223372036854775807]", []string{"n9223372036854775806", "n9223372036854775807"}},
		{"", nil},
	}
	for _, tt := range tests {
		got, err := Expand(tt.in)
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("Expand(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
		if n, err := Count(tt.in); err != nil || n != len(tt.want) {
			t.Errorf("Count(%q) = %d, %v; want %d", tt.in, n, err, len(tt.want))
		}
	}
}

func TestExpandErrors(t *testing.T) {
	for _, in := range []string{
		"dgx[001-", "dgx]", "dgx[]", "dgx[a-b]", "dgx[5-1]", "n[0-99999999]",
		// A ']' before the first '[' was read as part of the name.
		"000...0]0000000000000000[0]", "a]b[0]",
		// Signs and spaces are not digits.
		"n[+5]", "n[1-+2]", "n[ 1]",
		// 0 to the largest int64 overflowed the size check.
		"n[0-9223372036854775807]", "n[9223372036854775808]",
		// Ten thousand names times ten thousand: refused before they are
		// built.
		"r[0-9999]n[0-9999]",
	} {
		if got, err := Expand(in); err == nil {
			t.Errorf("Expand(%q) = %d names; want an error", in, len(got))
		}
		if n, err := Count(in); err == nil {
			t.Errorf("Count(%q) = %d; want an error", in, n)
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
		{[]string{"n9223372036854775807", "n9223372036854775806"}, "n[9223372036854775806-9223372036854775807]"},
		{[]string{"n99999999999999999999", "n1"}, "n1,n99999999999999999999"},
		{[]string{"a-1", "a-2", "a-01", "b.c3", "b.c4", "7"}, "7,a-[1-2],a-01,b.c[3-4]"},
	}
	for _, tt := range tests {
		got, err := Compress(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("Compress(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

// TestCompressRefusesBadNames: a name the host-list syntax cannot carry
// is refused with ErrName, not written into a list that reads back as
// other names.
func TestCompressRefusesBadNames(t *testing.T) {
	for _, in := range [][]string{
		{"000...0]00000000000000000"}, {"n1", "a,b"}, {"dgx[001-003]"}, {"-x"}, {""}, {"n 1"},
	} {
		if got, err := Compress(in); !errors.Is(err, ErrName) {
			t.Errorf("Compress(%q) = %q, %v; want an ErrName error", in, got, err)
		}
	}
}

// FuzzRoundTrip checks that Compress either refuses a name list, because a
// name is no valid node name, or gives an expression that Expand reads back
// as the same set of names.
func FuzzRoundTrip(f *testing.F) {
	for _, s := range []string{
		"dgx[001-004,010],login1", "n[8-10],n[08-10],n0,n00", "a-[1-3].b[1-2],7,c.d", "r[1-2]n[1-2]",
		"n[9223372036854775806-9223372036854775807]", "x[1-2],x[01-02],x[001]",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, cerr := Count(s)
		names, err := Expand(s)
		if (err == nil) != (cerr == nil) || err == nil && n != len(names) {
			t.Fatalf("Count(%q) = %d, %v; Expand gave %d names, %v", s, n, cerr, len(names), err)
		}
		if err != nil || len(names) > 10000 {
			return
		}
		valid := true
		for _, n := range names {
			valid = valid && ValidateName(n) == nil
		}
		c, err := Compress(names)
		if !valid {
			if err == nil {
				t.Fatalf("Compress(%q) = %q; want an error for the invalid name", names, c)
			}
			return
		}
		if err != nil {
			t.Fatalf("Compress(%q) = %v; want an expression", names, err)
		}
		back, err := Expand(c)
		if err != nil {
			t.Fatalf("Expand(Compress(%q)) = Expand(%q) failed: %v", names, c, err)
		}
		a, b := slices.Clone(names), back
		slices.Sort(a)
		a = slices.Compact(a)
		slices.Sort(b)
		if !slices.Equal(a, b) {
			t.Fatalf("Expand(Compress(%q)) = Expand(%q) = %q; want the same names", names, c, back)
		}
	})
}
