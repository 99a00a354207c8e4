package api

import "testing"

// TestCountRows checks the count DecodeTable sizes its slice by: rows
// only, whatever brackets, braces and escaped quotes their values hold.
func TestCountRows(t *testing.T) {
	tests := []struct {
		in   string
		want int
	}{
		{`]`, 0},
		{` ]`, 0},
		{`[1]]`, 1},
		{`[1,"a"],[2,"b"],[3,"c"]]`, 3},
		{`[1,"[x]"],[2,"{y"]]`, 2},
		{`[1,"a\"[b"],[2,"c\\"],[3,"]"]]`, 3},
		{`[1,[{"node":"n1","gpus":[0,1]}]],[2,[]]],"totals":{}`, 2},
		{`[1,"unterminated`, 1},
	}
	for _, tt := range tests {
		s := &scanner{b: []byte(tt.in)}
		if got := s.countRows(); got != tt.want {
			t.Errorf("countRows(%s) = %d; want %d", tt.in, got, tt.want)
		}
		if s.i != 0 {
			t.Errorf("countRows(%s) moved the scanner to %d", tt.in, s.i)
		}
	}
}
