package filter

import (
	"bytes"
	"strconv"
	"strings"
	"unsafe"

	"github.com/petrelmq/petrel/pkg/message"
)

// op is the operation of a node.
type op uint8

const (
	opConst    op = iota // literal: val
	opProp               // property: name
	opNeg                // unary minus: kids[0]
	opBoolCast           // a property used as a condition: kids[0]
	opNot                // NOT kids[0]
	opAnd                // kids[0] AND kids[1] AND ...
	opOr                 // kids[0] OR kids[1] OR ...
	opEq                 // kids[0] = kids[1]
	opNe                 // kids[0] <> kids[1]
	opIsNull             // kids[0] IS [NOT] NULL
	opGt                 // kids[0] > kids[1]
	opGe                 // kids[0] >= kids[1]
	opLt                 // kids[0] < kids[1]
	opLe                 // kids[0] <= kids[1]
	opBetween            // kids[0] [NOT] BETWEEN kids[1] AND kids[2]
	opIn                 // kids[0] [NOT] IN (list)
)

var cmpSymbols = [...]string{opGt: ">", opGe: ">=", opLt: "<", opLe: "<="}

// node is one expression node. A compiled tree is never modified, so it is
// safe to evaluate from many goroutines.
type node struct {
	op   op
	not  bool   // opIsNull, opBetween, opIn: the NOT form
	h    int32  // height of the subtree, at most MaxDepth
	val  value  // opConst
	name string // opProp
	kids []*node
	list []string            // opIn, in source order
	set  map[string]struct{} // opIn with many elements
}

// isBool reports whether Java would type the node as a BooleanExpression:
// every condition, and the TRUE, FALSE and NULL literals.
func (n *node) isBool() bool {
	switch n.op {
	case opConst:
		return n.val.k == kBool || n.val.k == kNull
	case opProp, opNeg:
		return false
	}
	return true
}

// lookup finds property values. It is a concrete type, so passing it down the
// evaluation does not allocate; raw is used when props is nil.
type lookup struct {
	props Properties
	raw   []byte
}

func (lk *lookup) get(name string) (string, bool) {
	if lk.props != nil {
		return lk.props.Get(name)
	}
	return rawLookup(lk.raw, name)
}

// eval computes the node like RocketMQ 4.9's Expression.evaluate. ok is false
// where Java throws (a failed type conversion); the broker then treats the
// whole expression as not matching, so the error propagates at once.
func (n *node) eval(lk *lookup) (v value, ok bool) {
	switch n.op {
	case opConst:
		return n.val, true
	case opProp:
		s, found := lk.get(n.name)
		if !found {
			return vNull, true
		}
		return value{k: kString, s: s}, true
	case opNeg:
		v, ok = n.kids[0].eval(lk)
		switch {
		case !ok:
			return v, false
		case v.k == kInt:
			return value{k: kInt, i: int64(-int32(v.i))}, true
		case v.k == kLong:
			return value{k: kLong, i: -v.i}, true
		case v.k == kDouble:
			return value{k: kDouble, f: -v.f}, true
		}
		return vNull, true // Java: negating a non-number gives null
	case opBoolCast:
		v, ok = n.kids[0].eval(lk)
		if !ok || v.k == kNull || v.k == kBool {
			return v, ok
		}
		return vFalse, true
	case opNot:
		v, ok = n.kids[0].eval(lk)
		if !ok || v.k != kBool {
			return v, ok
		}
		return boolValue(!v.b), true
	case opAnd, opOr:
		// Java evaluates left to right and stops at the first FALSE (AND) or
		// TRUE (OR); otherwise any null makes the result null.
		stop := n.op == opOr
		unknown := false
		for _, k := range n.kids {
			v, ok = k.eval(lk)
			if !ok {
				return v, false
			}
			if v.k == kBool && v.b == stop {
				return v, true
			}
			if v.k == kNull {
				unknown = true
			}
		}
		if unknown {
			return vNull, true
		}
		return boolValue(!stop), true
	case opEq, opNe:
		v, ok = n.evalEqual(lk)
		if n.op == opNe && ok && v.k == kBool {
			v.b = !v.b
		}
		return v, ok
	case opIsNull:
		v, ok = n.kids[0].eval(lk)
		if !ok {
			return v, false
		}
		return boolValue((v.k == kNull) != n.not), true
	case opGt, opGe, opLt, opLe:
		return evalCmp(n.op, n.kids[0], n.kids[1], lk)
	case opBetween:
		// BETWEEN is x >= lo AND x <= hi; NOT BETWEEN is x < lo OR x > hi.
		first, second, stop := opGe, opLe, false
		if n.not {
			first, second, stop = opLt, opGt, true
		}
		l, ok := evalCmp(first, n.kids[0], n.kids[1], lk)
		if !ok || l.k == kBool && l.b == stop {
			return l, ok
		}
		r, ok := evalCmp(second, n.kids[0], n.kids[2], lk)
		if !ok || r.k == kBool && r.b == stop {
			return r, ok
		}
		if l.k == kNull || r.k == kNull {
			return vNull, true
		}
		return boolValue(!stop), true
	case opIn:
		v, ok = n.kids[0].eval(lk)
		if !ok || v.k != kString {
			return vNull, ok // missing property: unknown, for IN and NOT IN
		}
		return boolValue(n.contains(v.s) != n.not), true
	}
	panic("filter: unknown op " + strconv.Itoa(int(n.op)))
}

// evalEqual is ComparisonExpression.doCreateEqual: both sides are evaluated;
// null = null is TRUE; null = x is null but x = null is FALSE (Java's
// asymmetry); otherwise the values are compared after conversion.
func (n *node) evalEqual(lk *lookup) (value, bool) {
	l, ok := n.kids[0].eval(lk)
	if !ok {
		return l, false
	}
	r, ok := n.kids[1].eval(lk)
	if !ok {
		return r, false
	}
	switch {
	case l.k == kNull && r.k == kNull:
		return vTrue, true
	case l.k == kNull:
		return vNull, true
	case r.k == kNull:
		return vFalse, true
	}
	c, ok := compare(l, r)
	return boolValue(c == 0), ok
}

// evalCmp is ComparisonExpression.evaluate for >, >=, < and <=: null on
// either side gives null (the right side is not evaluated when the left is
// null); two strings are both parsed as doubles; anything else is compared
// after conversion.
func evalCmp(o op, ln, rn *node, lk *lookup) (value, bool) {
	l, ok := ln.eval(lk)
	if !ok || l.k == kNull {
		return l, ok
	}
	r, ok := rn.eval(lk)
	if !ok || r.k == kNull {
		return r, ok
	}
	var c int
	if l.k == kString && r.k == kString {
		lf, ok1 := javaDouble(l.s)
		rf, ok2 := javaDouble(r.s)
		if !ok1 || !ok2 {
			return value{}, false
		}
		c = cmpDouble(lf, rf)
	} else if c, ok = compare(l, r); !ok {
		return value{}, false
	}
	switch o {
	case opGt:
		return boolValue(c > 0), true
	case opGe:
		return boolValue(c >= 0), true
	case opLt:
		return boolValue(c < 0), true
	}
	return boolValue(c <= 0), true
}

func (n *node) contains(s string) bool {
	if n.set != nil {
		_, ok := n.set[s]
		return ok
	}
	for _, e := range n.list {
		if e == s {
			return true
		}
	}
	return false
}

// rawLookup finds name in a property string the way the Java broker's
// MessageDecoder.string2messageProperties reads it: pairs end at 0x02, the
// name ends at the first 0x01, name and value must be non-empty (so an empty
// value reads as missing), and the last occurrence wins. The result aliases b.
func rawLookup(b []byte, name string) (string, bool) {
	var val []byte
	for len(b) > 0 {
		seg := b
		if i := bytes.IndexByte(b, message.PropertySeparator); i >= 0 {
			seg, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		i := bytes.IndexByte(seg, message.NameValueSeparator)
		if i <= 0 || i == len(seg)-1 {
			continue
		}
		if string(seg[:i]) == name {
			val = seg[i+1:]
		}
	}
	if val == nil {
		return "", false
	}
	return unsafe.String(&val[0], len(val)), true
}

// write prints the node with every binary operation parenthesised (except at
// the top), so the text parses back to the same tree. Printing a tree never
// needs more nesting than its height, so the text is within MaxDepth too.
func (n *node) write(sb *strings.Builder, top bool) {
	open := func() {
		if !top {
			sb.WriteByte('(')
		}
	}
	closeParen := func() {
		if !top {
			sb.WriteByte(')')
		}
	}
	switch n.op {
	case opConst:
		writeLiteral(sb, n.val)
	case opProp:
		sb.WriteString(n.name)
	case opBoolCast:
		n.kids[0].write(sb, top)
	case opNeg:
		// Prefix operators bind tighter than anything else, so they need no
		// parentheses (which would also double the nesting depth on reparse).
		sb.WriteByte('-')
		if k := n.kids[0]; k.op == opNeg {
			sb.WriteByte(' ') // never "--", which could start a comment
		}
		n.kids[0].write(sb, false)
	case opNot:
		sb.WriteString("NOT ")
		n.kids[0].write(sb, false)
	case opAnd, opOr:
		open()
		sep := " AND "
		if n.op == opOr {
			sep = " OR "
		}
		for i, k := range n.kids {
			if i > 0 {
				sb.WriteString(sep)
			}
			k.write(sb, false)
		}
		closeParen()
	case opEq, opNe, opGt, opGe, opLt, opLe:
		open()
		n.kids[0].write(sb, false)
		switch n.op {
		case opEq:
			sb.WriteString(" = ")
		case opNe:
			sb.WriteString(" <> ")
		default:
			sb.WriteString(" " + cmpSymbols[n.op] + " ")
		}
		n.kids[1].write(sb, false)
		closeParen()
	case opIsNull:
		open()
		n.kids[0].write(sb, false)
		if n.not {
			sb.WriteString(" IS NOT NULL")
		} else {
			sb.WriteString(" IS NULL")
		}
		closeParen()
	case opBetween:
		open()
		n.kids[0].write(sb, false)
		if n.not {
			sb.WriteString(" NOT")
		}
		sb.WriteString(" BETWEEN ")
		n.kids[1].write(sb, false)
		sb.WriteString(" AND ")
		n.kids[2].write(sb, false)
		closeParen()
	case opIn:
		open()
		n.kids[0].write(sb, false)
		if n.not {
			sb.WriteString(" NOT")
		}
		sb.WriteString(" IN (")
		for i, e := range n.list {
			if i > 0 {
				sb.WriteString(", ")
			}
			writeString(sb, e)
		}
		sb.WriteByte(')')
		closeParen()
	}
}

func writeLiteral(sb *strings.Builder, v value) {
	switch v.k {
	case kNull:
		sb.WriteString("NULL")
	case kBool:
		if v.b {
			sb.WriteString("TRUE")
		} else {
			sb.WriteString("FALSE")
		}
	case kInt, kLong:
		sb.WriteString(strconv.FormatInt(v.i, 10))
	case kDouble:
		s := strconv.FormatFloat(v.f, 'g', -1, 64)
		sb.WriteString(s)
		if !strings.ContainsAny(s, ".e") {
			sb.WriteString(".0") // keep it a decimal literal
		}
	case kString:
		writeString(sb, v.s)
	}
}

func writeString(sb *strings.Builder, s string) {
	sb.WriteByte('\'')
	sb.WriteString(strings.ReplaceAll(s, "'", "''"))
	sb.WriteByte('\'')
}
