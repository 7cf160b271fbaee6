package filter

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Limits on what Compile accepts, so hostile expressions cost bounded time and
// stack.
const (
	// MaxLength is the longest expression Compile accepts, in bytes.
	MaxLength = 64 << 10
	// MaxDepth bounds both the nesting of parentheses and prefix operators
	// (NOT, -, +) and the height of the compiled tree.
	MaxDepth = 256
)

// inSetMin is the IN-list size from which membership uses a map.
const inSetMin = 8

var (
	// ErrTooLong is wrapped by the *SyntaxError for an expression longer than
	// MaxLength.
	ErrTooLong = errors.New("filter: expression too long")
	// ErrTooDeep is wrapped by the *SyntaxError for an expression nested deeper
	// than MaxDepth.
	ErrTooDeep = errors.New("filter: expression nested too deeply")
)

// SyntaxError reports an expression that Compile rejects: a lexical or
// grammar error, an operand of the wrong type (as RocketMQ 4.9 checks them
// while parsing), an out-of-range literal, or a limit. Its Error text is meant
// for the remark of a SUBSCRIPTION_PARSE_FAILED response.
type SyntaxError struct {
	Offset int    // byte offset in the expression, 0-based
	Line   int    // 1-based line of Offset
	Column int    // 1-based column of Offset, in characters
	Reason string // what is wrong
	Err    error  // ErrTooLong, ErrTooDeep, or nil
}

// Error formats the error with its 1-based line and column and the reason.
func (e *SyntaxError) Error() string {
	return fmt.Sprintf("filter: invalid SQL92 expression at line %d, column %d: %s",
		e.Line, e.Column, e.Reason)
}

// Unwrap returns ErrTooLong, ErrTooDeep or nil.
func (e *SyntaxError) Unwrap() error { return e.Err }

func (l *lexer) errAt(pos int, format string, args ...any) *SyntaxError {
	before := l.src[:pos]
	lineStart := strings.LastIndexAny(before, "\n\r") + 1
	return &SyntaxError{
		Offset: pos,
		Line:   1 + strings.Count(before, "\n") + strings.Count(before, "\r") - strings.Count(before, "\r\n"),
		Column: 1 + utf8.RuneCountInString(before[lineStart:]),
		Reason: fmt.Sprintf(format, args...),
	}
}

// Properties gives the properties of one message. Get returns the value of a
// property and whether it is present; a missing property is SQL NULL. Get
// must not retain or modify anything, and the returned string only needs to
// stay valid until Match returns.
type Properties interface {
	Get(name string) (string, bool)
}

// MapProperties is Properties over a decoded map.
type MapProperties map[string]string

// Get returns m[name].
func (m MapProperties) Get(name string) (string, bool) {
	v, ok := m[name]
	return v, ok
}

// RawProperties is Properties over a RocketMQ property string (name 0x01 value
// 0x02 ..., with or without the final 0x02), read in place the way the Java
// broker decodes it: a pair needs a non-empty name and a non-empty value (so
// "k" with an empty value is missing), the name ends at the first 0x01, and
// the last occurrence of a name wins.
type RawProperties []byte

// Get looks name up without allocating. The returned string shares memory
// with r: it is valid only while r is not modified.
func (r RawProperties) Get(name string) (string, bool) { return rawLookup(r, name) }

var (
	_ Properties = MapProperties(nil)
	_ Properties = RawProperties(nil)
)

// Expr is a compiled SQL92 filter expression. It is immutable and safe for
// concurrent use.
type Expr struct {
	root *node
	text string // canonical form, from String
}

// Compile parses an SQL92 filter expression with RocketMQ 4.9's grammar and
// the type checks its parser makes. On failure it returns a *SyntaxError
// (wrapping ErrTooLong or ErrTooDeep for the limits).
func Compile(expr string) (*Expr, error) {
	p := &parser{lx: lexer{src: expr}}
	if len(expr) > MaxLength {
		err := p.lx.errAt(0, "expression is %d bytes, longer than %d", len(expr), MaxLength)
		err.Err = ErrTooLong
		return nil, err
	}
	root, err := p.parse()
	if err != nil {
		return nil, err
	}
	var sb strings.Builder
	root.write(&sb, true)
	return &Expr{root: root, text: sb.String()}, nil
}

// Match reports whether the expression evaluates to TRUE for props, as the
// broker decides whether to deliver a message. FALSE, NULL (unknown) and an
// evaluation error (for example a property compared with a number that it
// does not parse as) all give false. A nil props has no properties.
//
// Match allocates nothing itself, but passing a RawProperties as the
// Properties interface boxes its slice header (one small allocation); use
// MatchRaw on the hot path.
func (e *Expr) Match(props Properties) bool {
	lk := lookup{props: props}
	if props == nil {
		lk.props = MapProperties(nil)
	}
	v, ok := e.root.eval(&lk)
	return ok && v.k == kBool && v.b
}

// MatchRaw is Match over a RocketMQ property string (see RawProperties). It
// does not allocate.
func (e *Expr) MatchRaw(props []byte) bool {
	lk := lookup{raw: props}
	v, ok := e.root.eval(&lk)
	return ok && v.k == kBool && v.b
}

// String returns the expression in a canonical, fully parenthesised form that
// Compile accepts and compiles to an equivalent expression. Keywords are upper
// case, comments and redundant parentheses are gone, and AND and OR chains are
// flat.
func (e *Expr) String() string { return e.text }

// parser is a recursive-descent parser for the grammar in doc.go, one method
// per rule, with the type checks of RocketMQ's parser made as nodes are built.
type parser struct {
	lx     lexer
	tok    token // current token
	peeked *token
	depth  int
}

func (p *parser) parse() (root *node, err error) {
	defer func() {
		if r := recover(); r != nil {
			se, ok := r.(*SyntaxError)
			if !ok {
				panic(r)
			}
			root, err = nil, se
		}
	}()
	p.advance()
	n := p.orExpr()
	if p.tok.kind != tEOF {
		p.fail(p.tok.pos, "unexpected %s after the end of the expression", p.describe(p.tok))
	}
	return p.asBool(n, 0), nil
}

// fail aborts the parse by panicking with a *SyntaxError, which parse
// recovers and returns (the go/parser "bailout" pattern; it keeps the
// recursive descent readable). Any other panic is re-raised: it is a bug.
func (p *parser) fail(pos int, format string, args ...any) {
	panic(p.lx.errAt(pos, format, args...))
}

func (p *parser) advance() {
	if p.peeked != nil {
		p.tok, p.peeked = *p.peeked, nil
		return
	}
	t, err := p.lx.next()
	if err != nil {
		panic(err)
	}
	p.tok = t
}

func (p *parser) peek() token {
	if p.peeked == nil {
		t, err := p.lx.next()
		if err != nil {
			panic(err)
		}
		p.peeked = &t
	}
	return *p.peeked
}

func (p *parser) describe(t token) string {
	switch t.kind {
	case tEOF:
		return "end of expression"
	case tID, tInt, tFloat, tString:
		text := t.text
		if len(text) > 40 {
			text = text[:40] + "..."
		}
		return t.kind.String() + " " + strconv.Quote(text)
	}
	return strconv.Quote(t.text)
}

func (p *parser) expect(k tokKind, what string) {
	if p.tok.kind != k {
		p.fail(p.tok.pos, "expected %s, found %s", what, p.describe(p.tok))
	}
	p.advance()
}

func (p *parser) enter(pos int) {
	p.depth++
	if p.depth > MaxDepth {
		p.failDeep(pos)
	}
}

func (p *parser) failDeep(pos int) {
	err := p.lx.errAt(pos, "nested deeper than %d", MaxDepth)
	err.Err = ErrTooDeep
	panic(err)
}

func (p *parser) leave() { p.depth-- }

// mk records the height of a new node and enforces the height limit.
func (p *parser) mk(pos int, n *node) *node {
	h := 0
	for _, k := range n.kids {
		h = max(h, int(k.h))
	}
	if h+1 > MaxDepth {
		p.failDeep(pos)
	}
	n.h = int32(h + 1)
	return n
}

// asBool is SelectorParser.asBooleanExpression: a condition stays as it is, a
// property becomes a boolean cast (TRUE only if the value is a Boolean, which
// a property string never is; NULL if missing), anything else is an error.
func (p *parser) asBool(n *node, pos int) *node {
	switch {
	case n.isBool():
		return n
	case n.op == opProp:
		return p.mk(pos, &node{op: opBoolCast, kids: []*node{n}})
	}
	p.fail(pos, "%s does not give a boolean value", describeNode(n))
	return nil
}

// logic builds AND or OR, flattening chains of the same operator (both are
// associative under RocketMQ's left-to-right, short-circuit evaluation). A
// flattened left operand is extended in place, so a long chain parses in
// linear time.
func (p *parser) logic(o op, pos int, l, r *node) *node {
	l, r = p.asBool(l, pos), p.asBool(r, pos)
	n := l
	if l.op != o {
		n = p.mk(pos, &node{op: o, kids: []*node{l}})
	}
	add := []*node{r}
	if r.op == o {
		add = r.kids
	}
	for _, k := range add {
		if k.h+1 > MaxDepth {
			p.failDeep(pos)
		}
		n.kids = append(n.kids, k)
		n.h = max(n.h, k.h+1)
	}
	return n
}

func (p *parser) orExpr() *node {
	left := p.andExpr()
	for p.tok.kind == tOr {
		pos := p.tok.pos
		p.advance()
		left = p.logic(opOr, pos, left, p.andExpr())
	}
	return left
}

func (p *parser) andExpr() *node {
	left := p.equality()
	for p.tok.kind == tAnd {
		pos := p.tok.pos
		p.advance()
		left = p.logic(opAnd, pos, left, p.equality())
	}
	return left
}

func (p *parser) equality() *node {
	left := p.comparison()
	for {
		pos := p.tok.pos
		switch p.tok.kind {
		case tEq, tNe:
			o := opEq
			if p.tok.kind == tNe {
				o = opNe
			}
			p.advance()
			right := p.comparison()
			p.checkEqual(pos, left, right)
			left = p.mk(pos, &node{op: o, kids: []*node{left, right}})
		case tIs:
			p.advance()
			not := false
			if p.tok.kind == tNot {
				not = true
				p.advance()
			}
			p.expect(tNull, "NULL")
			left = p.mk(pos, &node{op: opIsNull, not: not, kids: []*node{left}})
		default:
			return left
		}
	}
}

var cmpOps = [...]op{tGt: opGt, tGe: opGe, tLt: opLt, tLe: opLe}

func (p *parser) comparison() *node {
	left := p.unary()
	for {
		pos := p.tok.pos
		not := false
		switch p.tok.kind {
		case tGt, tGe, tLt, tLe:
			o := cmpOps[p.tok.kind]
			p.advance()
			right := p.unary()
			p.checkOrdered(pos, left)
			p.checkOrdered(pos, right)
			left = p.mk(pos, &node{op: o, kids: []*node{left, right}})
			continue
		case tNot:
			if k := p.peek().kind; k != tBetween && k != tIn {
				return left
			}
			not = true
			p.advance()
		case tBetween, tIn:
		default:
			return left
		}
		if p.tok.kind == tBetween {
			p.advance()
			lo := p.unary()
			p.expect(tAnd, "AND")
			hi := p.unary()
			if !not {
				p.checkRange(pos, lo, hi)
			}
			p.checkOrdered(pos, left)
			p.checkOrdered(pos, lo)
			p.checkOrdered(pos, hi)
			left = p.mk(pos, &node{op: opBetween, not: not, kids: []*node{left, lo, hi}})
			continue
		}
		p.advance() // IN
		if left.op != opProp {
			p.fail(pos, "IN needs a property on its left, found %s", describeNode(left))
		}
		left = p.mk(pos, p.inList(left, not))
	}
}

func (p *parser) inList(left *node, not bool) *node {
	p.expect(tLParen, `"(" after IN`)
	n := &node{op: opIn, not: not, kids: []*node{left}}
	for {
		if p.tok.kind != tString {
			p.fail(p.tok.pos, "IN takes string literals, found %s", p.describe(p.tok))
		}
		n.list = append(n.list, unquote(p.tok.text))
		p.advance()
		if p.tok.kind != tComma {
			break
		}
		p.advance()
	}
	p.expect(tRParen, `"," or ")" in the IN list`)
	if len(n.list) >= inSetMin {
		n.set = make(map[string]struct{}, len(n.list))
		for _, s := range n.list {
			n.set[s] = struct{}{}
		}
	}
	return n
}

func (p *parser) unary() *node {
	pos := p.tok.pos
	switch p.tok.kind {
	case tPlus:
		p.enter(pos)
		defer p.leave()
		p.advance()
		return p.unary()
	case tMinus:
		p.enter(pos)
		defer p.leave()
		p.advance()
		return p.mk(pos, &node{op: opNeg, kids: []*node{p.unary()}})
	case tNot:
		p.enter(pos)
		defer p.leave()
		p.advance()
		x := p.unary()
		return p.mk(pos, &node{op: opNot, kids: []*node{p.asBool(x, pos)}})
	}
	return p.primary()
}

func (p *parser) primary() *node {
	t := p.tok
	switch t.kind {
	case tString:
		p.advance()
		return p.mk(t.pos, &node{op: opConst, val: value{k: kString, s: unquote(t.text)}})
	case tInt:
		p.advance()
		digits := strings.TrimRight(t.text, "lL")
		n, err := strconv.ParseInt(digits, 10, 64)
		if err != nil {
			p.fail(t.pos, "integer %s is out of the long range", t.text)
		}
		k := kLong
		if int64(int32(n)) == n {
			k = kInt
		}
		return p.mk(t.pos, &node{op: opConst, val: value{k: k, i: n}})
	case tFloat:
		p.advance()
		f, err := strconv.ParseFloat(t.text, 64)
		switch {
		case math.IsInf(f, 0):
			p.fail(t.pos, "decimal %s is greater than the largest double", t.text)
		case f == 0:
			// RocketMQ 4.9 rejects a decimal literal below Double.MIN_VALUE,
			// which includes 0.0.
			p.fail(t.pos, "decimal %s is below the smallest positive double (RocketMQ 4.9 rejects 0.0)", t.text)
		case err != nil: // not expected: the lexer checked the syntax
			p.fail(t.pos, "bad decimal %s", t.text)
		}
		return p.mk(t.pos, &node{op: opConst, val: value{k: kDouble, f: f}})
	case tTrue:
		p.advance()
		return p.mk(t.pos, &node{op: opConst, val: vTrue})
	case tFalse:
		p.advance()
		return p.mk(t.pos, &node{op: opConst, val: vFalse})
	case tNull:
		p.advance()
		return p.mk(t.pos, &node{op: opConst, val: vNull})
	case tID:
		p.advance()
		return p.mk(t.pos, &node{op: opProp, name: t.text})
	case tLParen:
		p.enter(t.pos)
		defer p.leave()
		p.advance()
		n := p.orExpr()
		p.expect(tRParen, `")"`)
		return n
	}
	p.fail(t.pos, "expected an operand, found %s", p.describe(t))
	return nil
}

// checkEqual makes the checks of ComparisonExpression.createEqual: no NULL
// literal on either side (IS NULL is the way), and TRUE or FALSE on the left
// cannot be compared with a non-boolean literal.
func (p *parser) checkEqual(pos int, l, r *node) {
	for _, n := range [...]*node{l, r} {
		if n.op == opConst && n.val.k == kNull {
			p.fail(pos, "NULL cannot be compared with = or <>; use IS NULL")
		}
	}
	if l.op == opConst && l.val.k == kBool && r.op == opConst && r.val.k != kBool {
		p.fail(pos, "%s cannot be compared with %s", describeNode(l), describeNode(r))
	}
}

// checkOrdered is ComparisonExpression.checkLessThanOperand: an operand of >,
// >=, <, <= or BETWEEN is a property, a numeric literal or a negation, never a
// string, boolean or NULL literal nor a condition.
func (p *parser) checkOrdered(pos int, n *node) {
	if (n.op == opConst && !n.val.isNumber()) || n.isBool() {
		p.fail(pos, "%s cannot be compared with >, >=, <, <= or BETWEEN", describeNode(n))
	}
}

// checkRange is the check of ComparisonExpression.createBetween: when both
// bounds are literals, neither is NULL and the low one is not above the high
// one. (A negated bound such as -5 is not a literal in RocketMQ, so it skips
// the check.)
func (p *parser) checkRange(pos int, lo, hi *node) {
	if lo.op != opConst || hi.op != opConst {
		return
	}
	if lo.val.k == kNull || hi.val.k == kNull {
		p.fail(pos, "BETWEEN bounds cannot be NULL")
	}
	if c, ok := compare(hi.val, lo.val); !ok || c < 0 {
		p.fail(pos, "BETWEEN low bound %s is greater than high bound %s",
			describeNode(lo), describeNode(hi))
	}
}

func describeNode(n *node) string {
	var sb strings.Builder
	n.write(&sb, true)
	s := sb.String()
	if len(s) > 60 {
		s = s[:60] + "..."
	}
	return s
}

// unquote decodes a STRING_LITERAL token: strip the quotes, ” → '.
func unquote(text string) string {
	s := text[1 : len(text)-1]
	if !strings.Contains(s, "''") {
		return s
	}
	return strings.ReplaceAll(s, "''", "'")
}
