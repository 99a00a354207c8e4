package textsafe

import "testing"

func TestField(t *testing.T) {
	tests := []struct{ in, want string }{
		{"train-7b", "train-7b"},
		{"æøå ünïcode 日本", "æøå ünïcode 日本"},
		{"a\nb", `a\nb`},
		{"tab\there", `tab\there`},
		{"\x1b[2J\x1b[Hgotcha", `\e[2J\e[Hgotcha`},
		{"bell\a", `bell\x07`},
		{"del\x7f", `del\x7f`},
		{"csi\u009b31m", `csi\u{9b}31m`},
		{"evil\u202egnp.exe", `evil\u{202e}gnp.exe`},
		{"iso\u2066x\u2069", `iso\u{2066}x\u{2069}`},
		{"bad\xffutf8", `bad\xffutf8`},
		{`back\slash`, `back\slash`},
		{"", ""},
	}
	for _, tt := range tests {
		if got := Field(tt.in); got != tt.want {
			t.Errorf("Field(%q) = %q; want %q", tt.in, got, tt.want)
		}
		if got := Safe(tt.in); got != (tt.in == tt.want) {
			t.Errorf("Safe(%q) = %v; want %v", tt.in, got, tt.in == tt.want)
		}
	}
}

func TestFieldOutputIsSafe(t *testing.T) {
	for c := 0; c < 0x3000; c++ {
		s := "x" + string(rune(c)) + "y"
		if out := Field(s); !Safe(out) {
			t.Errorf("Field(%q) = %q, which is not safe", s, out)
		}
	}
}

func BenchmarkFieldClean(b *testing.B) {
	for b.Loop() {
		_ = Field("an-ordinary-job-name_42")
	}
}
