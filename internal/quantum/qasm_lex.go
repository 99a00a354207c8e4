package quantum

import (
	"fmt"
	"strconv"
)

// Pos is a place in an OpenQASM source: file, 1-based line and column
// (columns count bytes).
type Pos struct {
	File string
	Line int
	Col  int
}

func (p Pos) String() string { return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col) }

// ParseError is a mistake in an OpenQASM source. Its message starts with
// file:line:column and says what was expected.
type ParseError struct {
	Pos Pos
	Msg string
}

func (e *ParseError) Error() string { return e.Pos.String() + ": " + e.Msg }

type tokKind int

const (
	tEOF tokKind = iota
	tIdent
	tReal
	tInt
	tString
	tPunct // ; , ( ) [ ] { } -> == + - * / ^
	// tError stands where the lexer failed; the parser reports the
	// lexer's error when it reaches it.
	tError
)

type token struct {
	kind tokKind
	text string
	num  float64
	pos  Pos
}

func (t token) describe() string {
	switch t.kind {
	case tEOF:
		return "end of file"
	case tString:
		return strconv.Quote(t.text)
	}
	return "'" + t.text + "'"
}

// lexer reads tokens one at a time, so that the parser holds only the
// token it is looking at: a long run of tokens costs no memory of its own.
// Comments run from // to the end of the line.
type lexer struct {
	file      string
	src       []byte
	i         int
	line, col int
}

func newLexer(file string, src []byte) *lexer {
	return &lexer{file: file, src: src, line: 1, col: 1}
}

func (l *lexer) adv(n int) {
	for k := 0; k < n; k++ {
		if l.src[l.i] == '\n' {
			l.line++
			l.col = 1
		} else {
			l.col++
		}
		l.i++
	}
}

// next returns the next token, a tEOF token at the end of the source.
func (l *lexer) next() (token, error) {
	src := l.src
	for l.i < len(src) {
		i := l.i
		c := src[i]
		p := Pos{l.file, l.line, l.col}
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v':
			l.adv(1)
		case c == '/' && i+1 < len(src) && src[i+1] == '/':
			for l.i < len(src) && src[l.i] != '\n' {
				l.adv(1)
			}
		case c == '/' && i+1 < len(src) && src[i+1] == '*':
			// Block comments are not in the 2.0 grammar, but common
			// tools write them; accept them.
			l.adv(2)
			for l.i < len(src) && !(src[l.i] == '*' && l.i+1 < len(src) && src[l.i+1] == '/') {
				l.adv(1)
			}
			if l.i >= len(src) {
				return token{}, &ParseError{p, "comment opened with /* is never closed: add */"}
			}
			l.adv(2)
		case isLetter(c):
			j := i
			for j < len(src) && (isLetter(src[j]) || isDigit(src[j]) || src[j] == '_') {
				j++
			}
			l.adv(j - i)
			return token{kind: tIdent, text: string(src[i:j]), pos: p}, nil
		case isDigit(c) || (c == '.' && i+1 < len(src) && isDigit(src[i+1])):
			j := i
			for j < len(src) && isDigit(src[j]) {
				j++
			}
			isReal := false
			if j < len(src) && src[j] == '.' {
				isReal = true
				j++
				for j < len(src) && isDigit(src[j]) {
					j++
				}
			}
			if j < len(src) && (src[j] == 'e' || src[j] == 'E') {
				k := j + 1
				if k < len(src) && (src[k] == '+' || src[k] == '-') {
					k++
				}
				if k < len(src) && isDigit(src[k]) {
					isReal = true
					for k < len(src) && isDigit(src[k]) {
						k++
					}
					j = k
				}
			}
			text := string(src[i:j])
			v, err := strconv.ParseFloat(text, 64)
			if err != nil {
				return token{}, &ParseError{p, fmt.Sprintf("bad number %q", text)}
			}
			kind := tInt
			if isReal {
				kind = tReal
			}
			l.adv(j - i)
			return token{kind: kind, text: text, num: v, pos: p}, nil
		case c == '"':
			j := i + 1
			for j < len(src) && src[j] != '"' && src[j] != '\n' {
				j++
			}
			if j >= len(src) || src[j] != '"' {
				return token{}, &ParseError{p, "string is not closed: add \" before the end of the line"}
			}
			l.adv(j + 1 - i)
			return token{kind: tString, text: string(src[i+1 : j]), pos: p}, nil
		case c == '-' && i+1 < len(src) && src[i+1] == '>':
			l.adv(2)
			return token{kind: tPunct, text: "->", pos: p}, nil
		case c == '=' && i+1 < len(src) && src[i+1] == '=':
			l.adv(2)
			return token{kind: tPunct, text: "==", pos: p}, nil
		case c == ';' || c == ',' || c == '(' || c == ')' || c == '[' || c == ']' || c == '{' || c == '}' ||
			c == '+' || c == '-' || c == '*' || c == '/' || c == '^':
			l.adv(1)
			return token{kind: tPunct, text: string(c), pos: p}, nil
		default:
			return token{}, &ParseError{p, fmt.Sprintf("unexpected character %q", rune(c))}
		}
	}
	return token{kind: tEOF, pos: Pos{l.file, l.line, l.col}}, nil
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool  { return c >= '0' && c <= '9' }
