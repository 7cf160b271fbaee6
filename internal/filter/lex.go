package filter

import "strings"

// tokKind is the kind of a lexical token.
type tokKind uint8

const (
	tEOF tokKind = iota
	tID
	tInt    // DECIMAL_LITERAL: "0" | [1-9][0-9]*[lL]?
	tFloat  // FLOATING_POINT_LITERAL
	tString // '...' with '' for a quote
	tNot
	tAnd
	tOr
	tBetween
	tIn
	tTrue
	tFalse
	tNull
	tIs
	tEq     // =
	tNe     // <>
	tGt     // >
	tGe     // >=
	tLt     // <
	tLe     // <=
	tLParen // (
	tComma  // ,
	tRParen // )
	tPlus   // +
	tMinus  // -
)

var tokNames = [...]string{
	tEOF: "end of expression", tID: "identifier", tInt: "integer", tFloat: "decimal",
	tString: "string", tNot: "NOT", tAnd: "AND", tOr: "OR", tBetween: "BETWEEN",
	tIn: "IN", tTrue: "TRUE", tFalse: "FALSE", tNull: "NULL", tIs: "IS",
	tEq: "=", tNe: "<>", tGt: ">", tGe: ">=", tLt: "<", tLe: "<=",
	tLParen: "(", tComma: ",", tRParen: ")", tPlus: "+", tMinus: "-",
}

func (k tokKind) String() string { return tokNames[k] }

// keywords are matched case-insensitively and only as whole identifiers, so a
// property cannot be named after one ("isx" is a property, "is" is not).
var keywords = [...]struct {
	word string
	kind tokKind
}{
	{"NOT", tNot}, {"AND", tAnd}, {"OR", tOr}, {"BETWEEN", tBetween}, {"IN", tIn},
	{"TRUE", tTrue}, {"FALSE", tFalse}, {"NULL", tNull}, {"IS", tIs},
}

type token struct {
	kind tokKind
	pos  int    // byte offset of the first byte
	text string // source text of the token
}

// lexer splits an expression into tokens with the rules of RocketMQ 4.9's
// SelectorParser.jj: longest match, keywords before identifiers, whitespace
// " \t\n\r\f", "--" comments that end at a line break and "/* */" comments.
type lexer struct {
	src string
	pos int
}

func isIDStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == '$'
}

func isIDPart(c byte) bool { return isIDStart(c) || isDigit(c) }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// next returns the next token, or a *SyntaxError for a character that starts no
// token, an unterminated string or an unterminated block comment.
func (l *lexer) next() (token, error) {
	if err := l.skip(); err != nil {
		return token{}, err
	}
	s, p := l.src, l.pos
	if p >= len(s) {
		return token{kind: tEOF, pos: p}, nil
	}
	c := s[p]
	emit := func(k tokKind, n int) (token, error) {
		l.pos = p + n
		return token{kind: k, pos: p, text: s[p : p+n]}, nil
	}
	switch {
	case isIDStart(c):
		n := 1
		for p+n < len(s) && isIDPart(s[p+n]) {
			n++
		}
		for _, kw := range keywords {
			if strings.EqualFold(s[p:p+n], kw.word) {
				return emit(kw.kind, n)
			}
		}
		return emit(tID, n)
	case isDigit(c) || c == '.':
		fn, dn := floatLen(s[p:]), decimalLen(s[p:])
		switch {
		case fn > dn:
			return emit(tFloat, fn)
		case dn > 0:
			return emit(tInt, dn)
		}
	case c == '\'':
		for i := p + 1; i < len(s); i++ {
			if s[i] != '\'' {
				continue
			}
			if i+1 < len(s) && s[i+1] == '\'' {
				i++
				continue
			}
			return emit(tString, i+1-p)
		}
		return token{}, l.errAt(p, "unterminated string literal")
	case c == '=':
		return emit(tEq, 1)
	case c == '<':
		if p+1 < len(s) && s[p+1] == '>' {
			return emit(tNe, 2)
		}
		if p+1 < len(s) && s[p+1] == '=' {
			return emit(tLe, 2)
		}
		return emit(tLt, 1)
	case c == '>':
		if p+1 < len(s) && s[p+1] == '=' {
			return emit(tGe, 2)
		}
		return emit(tGt, 1)
	case c == '(':
		return emit(tLParen, 1)
	case c == ')':
		return emit(tRParen, 1)
	case c == ',':
		return emit(tComma, 1)
	case c == '+':
		return emit(tPlus, 1)
	case c == '-':
		return emit(tMinus, 1)
	}
	return token{}, l.errAt(p, "unexpected character %q", rune0(s[p:]))
}

// skip advances over whitespace and comments. A "--" comment needs a line
// break after it, as in the Java grammar; without one "--" is two minus signs.
func (l *lexer) skip() error {
	s := l.src
	for l.pos < len(s) {
		switch c := s[l.pos]; {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f':
			l.pos++
		case strings.HasPrefix(s[l.pos:], "--"):
			i := strings.IndexAny(s[l.pos+2:], "\n\r")
			if i < 0 {
				return nil
			}
			l.pos += 2 + i + 1
		case strings.HasPrefix(s[l.pos:], "/*"):
			i := strings.Index(s[l.pos+2:], "*/")
			if i < 0 {
				return l.errAt(l.pos, "unterminated comment")
			}
			l.pos += 2 + i + 2
		default:
			return nil
		}
	}
	return nil
}

// decimalLen is the length of the DECIMAL_LITERAL at the start of s, or 0.
func decimalLen(s string) int {
	if s == "" || !isDigit(s[0]) {
		return 0
	}
	if s[0] == '0' {
		return 1
	}
	n := 1
	for n < len(s) && isDigit(s[n]) {
		n++
	}
	if n < len(s) && (s[n] == 'l' || s[n] == 'L') {
		n++
	}
	return n
}

// floatLen is the length of the longest FLOATING_POINT_LITERAL at the start of
// s, or 0: digits "." digits? exp?, "." digits exp?, or digits exp.
func floatLen(s string) int {
	digits := func(i int) int {
		j := i
		for j < len(s) && isDigit(s[j]) {
			j++
		}
		return j - i
	}
	exp := func(i int) int {
		if i >= len(s) || (s[i] != 'e' && s[i] != 'E') {
			return 0
		}
		j := i + 1
		if j < len(s) && (s[j] == '+' || s[j] == '-') {
			j++
		}
		if d := digits(j); d > 0 {
			return j + d - i
		}
		return 0
	}
	n := digits(0)
	switch {
	case n > 0 && n < len(s) && s[n] == '.':
		m := n + 1
		m += digits(m)
		return m + exp(m)
	case n > 0:
		if e := exp(n); e > 0 {
			return n + e
		}
		return 0
	case len(s) > 1 && s[0] == '.' && isDigit(s[1]):
		m := 1 + digits(1)
		return m + exp(m)
	}
	return 0
}

// rune0 returns the first rune of s for error messages.
func rune0(s string) rune {
	for _, r := range s {
		return r
	}
	return 0
}
