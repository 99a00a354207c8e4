// Package textsafe makes user-supplied text safe to print on a terminal or
// in a line-oriented table: job names, comments, node names and reasons come
// from users and must not be able to move the cursor, rewrite the screen,
// reverse the reading order or break a table row.
//
// Any package that prints user text for people (the CLI's tables, Slurm's
// text formats) may import it; it imports only the standard library.
package textsafe

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Field returns s with every control character (C0, DEL, C1), every
// bidirectional formatting character and every invalid UTF-8 byte replaced
// by a visible escape: \n, \t, \r, \e, \xNN or \u{NNNN}. A backslash stays
// as it is. Text with nothing to escape is returned unchanged, without
// allocating.
func Field(s string) string {
	i := firstUnsafe(s)
	if i < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	b.WriteString(s[:i])
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteString(`\x`)
			b.WriteString(hex2(s[i]))
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == 0x1b:
			b.WriteString(`\e`)
		case r < 0x20 || r == 0x7f:
			b.WriteString(`\x`)
			b.WriteString(hex2(byte(r)))
		case unsafeRune(r):
			b.WriteString(`\u{`)
			b.WriteString(strconv.FormatInt(int64(r), 16))
			b.WriteByte('}')
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// Safe reports whether s prints as itself (Field(s) == s).
func Safe(s string) bool { return firstUnsafe(s) < 0 }

func firstUnsafe(s string) int {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f {
				return i
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size == 1) || unsafeRune(r) {
			return i
		}
		i += size
	}
	return -1
}

// unsafeRune reports the non-ASCII runes that must not reach a terminal raw:
// C1 controls (0x80-0x9f, which include CSI) and the bidirectional marks,
// embeddings, overrides and isolates (the "Trojan Source" characters), plus
// the line and paragraph separators.
func unsafeRune(r rune) bool {
	switch {
	case r >= 0x80 && r <= 0x9f:
		return true
	case r == 0x061c, r == 0x200e, r == 0x200f:
		return true
	case r >= 0x202a && r <= 0x202e:
		return true
	case r >= 0x2066 && r <= 0x2069:
		return true
	case r == 0x2028, r == 0x2029:
		return true
	}
	return false
}

func hex2(c byte) string {
	const digits = "0123456789abcdef"
	return string([]byte{digits[c>>4], digits[c&15]})
}
