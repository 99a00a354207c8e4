package hostlist

import (
	"errors"
	"fmt"
)

// ErrName is wrapped by every error ValidateName returns, so callers can
// tell a refused name from other failures without reading the message.
var ErrName = errors.New("invalid node name")

// NameRule says in words which names ValidateName accepts; error messages
// end with it so that whoever chose the name knows what to give instead.
const NameRule = "a node name is a host name (RFC 1123): labels of 1 to 63 letters, digits and '-', " +
	"each starting and ending with a letter or digit, joined by '.', 253 characters in all at most"

// Name length limits of RFC 1123 (and RFC 1035, which it refers to).
const (
	MaxNameLen  = 253
	MaxLabelLen = 63
)

// ValidateName reports whether name may name a node: a host name as RFC
// 1123 allows it. Node names travel through host-list expressions
// (drain, --nodelist, squeue's NODELIST), file paths and terminals, so a
// name holding '[', ',', '/', a space or a control character could not be
// named again, or could do harm where it is printed. The error names the
// name (quoted, so control characters show as escapes) and the rule.
func ValidateName(name string) error {
	bad := func(why string, a ...any) error {
		return fmt.Errorf("%w %q: %s; %s", ErrName, name, fmt.Sprintf(why, a...), NameRule)
	}
	switch {
	case name == "":
		return bad("it is empty")
	case len(name) > MaxNameLen:
		return bad("it is %d characters long", len(name))
	}
	start := 0
	for i := 0; i <= len(name); i++ {
		if i < len(name) && name[i] != '.' {
			c := name[i]
			if !isAlnum(c) && c != '-' {
				if c >= 0x80 {
					return bad("byte %d is not ASCII", i+1)
				}
				return bad("character %q at %d is not allowed", rune(c), i+1)
			}
			continue
		}
		label := name[start:i]
		switch {
		case label == "":
			return bad("it has an empty label (a '.' at its start or end, or two together)")
		case len(label) > MaxLabelLen:
			return bad("label %q is %d characters long", label, len(label))
		case !isAlnum(label[0]) || !isAlnum(label[len(label)-1]):
			return bad("label %q starts or ends with '-'", label)
		}
		start = i + 1
	}
	return nil
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}
