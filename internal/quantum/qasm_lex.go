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

// lex splits src into tokens. Comments run from // to the end of the line.
func lex(file string, src []byte) ([]token, error) {
	var toks []token
	line, col := 1, 1
	i := 0
	adv := func(n int) {
		for k := 0; k < n; k++ {
			if src[i] == '\n' {
				line++
				col = 1
			} else {
				col++
			}
			i++
		}
	}
	for i < len(src) {
		c := src[i]
		p := Pos{file, line, col}
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v':
			adv(1)
		case c == '/' && i+1 < len(src) && src[i+1] == '/':
			for i < len(src) && src[i] != '\n' {
				adv(1)
			}
		case c == '/' && i+1 < len(src) && src[i+1] == '*':
			// Block comments are not in the 2.0 grammar, but common
			// tools write them; accept them.
			adv(2)
			for i < len(src) && !(src[i] == '*' && i+1 < len(src) && src[i+1] == '/') {
				adv(1)
			}
			if i >= len(src) {
				return nil, &ParseError{p, "comment opened with /* is never closed: add */"}
			}
			adv(2)
		case isLetter(c):
			j := i
			for j < len(src) && (isLetter(src[j]) || isDigit(src[j]) || src[j] == '_') {
				j++
			}
			toks = append(toks, token{kind: tIdent, text: string(src[i:j]), pos: p})
			adv(j - i)
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
				return nil, &ParseError{p, fmt.Sprintf("bad number %q", text)}
			}
			kind := tInt
			if isReal {
				kind = tReal
			}
			toks = append(toks, token{kind: kind, text: text, num: v, pos: p})
			adv(j - i)
		case c == '"':
			j := i + 1
			for j < len(src) && src[j] != '"' && src[j] != '\n' {
				j++
			}
			if j >= len(src) || src[j] != '"' {
				return nil, &ParseError{p, "string is not closed: add \" before the end of the line"}
			}
			toks = append(toks, token{kind: tString, text: string(src[i+1 : j]), pos: p})
			adv(j + 1 - i)
		case c == '-' && i+1 < len(src) && src[i+1] == '>':
			toks = append(toks, token{kind: tPunct, text: "->", pos: p})
			adv(2)
		case c == '=' && i+1 < len(src) && src[i+1] == '=':
			toks = append(toks, token{kind: tPunct, text: "==", pos: p})
			adv(2)
		case c == ';' || c == ',' || c == '(' || c == ')' || c == '[' || c == ']' || c == '{' || c == '}' ||
			c == '+' || c == '-' || c == '*' || c == '/' || c == '^':
			toks = append(toks, token{kind: tPunct, text: string(c), pos: p})
			adv(1)
		default:
			return nil, &ParseError{p, fmt.Sprintf("unexpected character %q", rune(c))}
		}
	}
	toks = append(toks, token{kind: tEOF, pos: Pos{file, line, col}})
	return toks, nil
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool  { return c >= '0' && c <= '9' }
