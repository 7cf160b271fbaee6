package subscription

import (
	"errors"
	"strings"

	"github.com/petrelmq/petrel/internal/filter"
	"github.com/petrelmq/petrel/pkg/message"
)

// Expression types of a subscription, and the match-all expression.
const (
	ExprTag   = "TAG"
	ExprSQL92 = "SQL92"
	SubAll    = "*"
)

// Errors of Build and Compiler.Filter.
var (
	// ErrNoTag reports a TAG expression without any tag.
	ErrNoTag = errors.New("subscription expression has no tag")
	// ErrSQL92Disabled reports an SQL92 subscription while the property
	// filter is off (RocketMQ's wording).
	ErrSQL92Disabled = errors.New("The broker does not support consumer to filter message by SQL92")
)

// Filter is a subscription as the broker applies it. It implements
// store.MessageFilter and longpoll.TagMatcher.
type Filter struct {
	all   bool
	codes map[int32]struct{}
	sql   *filter.Expr // SQL92 subscription; nil for TAG
}

// MatchAll accepts every message ("*" and class-filter subscriptions).
var MatchAll = &Filter{all: true}

// MatchTagsCode accepts a message whose tags hash code is in the
// subscription, comparing as Java does (the code's low 32 bits).
func (f *Filter) MatchTagsCode(code int64) bool {
	if f.all {
		return true
	}
	_, ok := f.codes[int32(code)]
	return ok
}

// MatchRecord accepts every record for TAG filters; SQL92 filters evaluate
// the record's property string without allocating. A record that does not
// parse does not match.
func (f *Filter) MatchRecord(record []byte) bool {
	if f.sql == nil {
		return true
	}
	var v message.RecordView
	if message.ParseRecord(record, &v) != nil {
		return false
	}
	return f.sql.MatchRaw(v.Properties)
}

// Build makes the filter of a TAG expression (exprType "" or TAG). The tags
// codes are recomputed from the expression with Java's String.hashCode
// semantics, so non-ASCII tags match what producers stored. SQL92 needs a
// Compiler: Build answers ErrSQL92Disabled for it.
func Build(expr, exprType string) (*Filter, error) {
	switch exprType {
	case "", ExprTag:
	case ExprSQL92:
		return nil, ErrSQL92Disabled
	default:
		return nil, errors.New("unknown expression type " + exprType)
	}
	expr = strings.TrimSpace(expr)
	if expr == "" || expr == SubAll {
		return MatchAll, nil
	}
	f := &Filter{codes: map[int32]struct{}{}}
	for _, tag := range strings.Split(expr, "||") {
		if tag = strings.TrimSpace(tag); tag != "" {
			f.codes[int32(message.TagsHashCode(tag))] = struct{}{}
		}
	}
	if len(f.codes) == 0 {
		return nil, ErrNoTag
	}
	return f, nil
}
