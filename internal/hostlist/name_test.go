package hostlist

import (
	"errors"
	"strconv"
	"strings"
	"testing"
)

func TestValidateName(t *testing.T) {
	long := strings.Repeat("a", 63)
	for _, name := range []string{
		"dgx001", "a", "7", "DGX-A100-01", "node1.pod2", "n-1.su-2.example", long,
		long + "." + long + "." + long + "." + strings.Repeat("b", 61), // 253
	} {
		if err := ValidateName(name); err != nil {
			t.Errorf("ValidateName(%q) = %v; want nil", name, err)
		}
	}
	tests := []struct {
		name string
		// why is a piece of the message that says what is wrong.
		why string
	}{
		{"", "empty"},
		{"dgx[001-003]", `'['`},
		{"a]b[0]", `']'`},
		{"../../x", "empty label"},
		{"a/b", `'/'`},
		{"a,b", `','`},
		{"a b", `' '`},
		{"dgx\x1b[31m", `'\x1b'`},
		{"n\u202e1", "not ASCII"},
		{"dgx_01", `'_'`},
		{"-dgx", "starts or ends with '-'"},
		{"dgx-", "starts or ends with '-'"},
		{"a.-b", "starts or ends with '-'"},
		{".dgx", "empty label"},
		{"dgx.", "empty label"},
		{"a..b", "empty label"},
		{long + "a", "64 characters"},
		{long + "." + long + "." + long + "." + strings.Repeat("b", 62), "254 characters"},
	}
	for _, tt := range tests {
		err := ValidateName(tt.name)
		if err == nil {
			t.Errorf("ValidateName(%q) = nil; want an error", tt.name)
			continue
		}
		msg := err.Error()
		if !errors.Is(err, ErrName) || !strings.Contains(msg, tt.why) || !strings.Contains(msg, "RFC 1123") {
			t.Errorf("ValidateName(%q) = %v; want ErrName saying %s and the rule", tt.name, err, tt.why)
		}
		if strings.ContainsAny(msg, "\x1b\u202e") {
			t.Errorf("ValidateName(%q) error %q holds the raw control character; want it escaped", tt.name, msg)
		}
		if tt.name != "" && !strings.Contains(msg, strconv.Quote(tt.name)) {
			t.Errorf("ValidateName(%q) = %v; want the name quoted in the message", tt.name, err)
		}
	}
}
