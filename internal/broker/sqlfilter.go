package broker

import (
	"context"
	"encoding/json"
	"sync"

	"github.com/petrelmq/petrel/internal/filter"
	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/protocol/body"
	"github.com/petrelmq/petrel/pkg/remoting"
)

// maxCachedSQL bounds the compiled-expression cache; when it is full the cache
// is emptied (subscriptions change rarely, so it refills with the live ones).
const maxCachedSQL = 4096

// sqlKey identifies one version of a group's subscription to a topic.
type sqlKey struct {
	group, topic string
	subVersion   int64
}

type sqlEntry struct {
	text string
	expr *filter.Expr
}

// sqlCache caches compiled SQL92 expressions per (group, topic, subVersion),
// so a pull compiles nothing while the subscription is unchanged. The entry
// also keeps the text: a pull that carries a different expression under the
// same key (a client that does not bump subVersion) is compiled afresh.
// Failed compilations are not cached. Safe for concurrent use.
type sqlCache struct {
	mu sync.Mutex
	m  map[sqlKey]sqlEntry
}

// compile returns the compiled expression of text, from the cache if it holds
// k with the same text.
func (c *sqlCache) compile(k sqlKey, text string) (*filter.Expr, error) {
	c.mu.Lock()
	e, ok := c.m[k]
	c.mu.Unlock()
	if ok && e.text == text {
		return e.expr, nil
	}
	expr, err := filter.Compile(text)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxCachedSQL {
		c.m = make(map[sqlKey]sqlEntry)
	}
	c.m[k] = sqlEntry{text: text, expr: expr}
	c.mu.Unlock()
	return expr, nil
}

// subscriptionFilter builds the pull filter of a subscription: TAG expressions
// as buildFilter does; SQL92 ones (when enablePropertyFilter is on) compiled
// through the cache and evaluated per record on the stored property string.
// Errors: errSQL92 when the property filter is off, a *filter.SyntaxError for
// an invalid expression, buildFilter's errors for TAG.
func (b *Broker) subscriptionFilter(group, topic string, subVersion int64, expr, exprType string) (*tagFilter, error) {
	if exprType != exprSQL92 {
		return buildFilter(expr, exprType)
	}
	if !b.cfg.EnablePropertyFilter {
		return nil, errSQL92
	}
	e, err := b.sql.compile(sqlKey{group, topic, subVersion}, expr)
	if err != nil {
		return nil, err
	}
	// The tags code says nothing about properties: every entry passes the
	// consume-queue stage (and wakes held pulls); the record decides.
	return &tagFilter{all: true, sql: e}, nil
}

// matchSQL evaluates f's SQL92 expression on a stored record's property
// string, without allocating. A record that does not parse does not match.
func (f *tagFilter) matchSQL(record []byte) bool {
	var v message.RecordView
	if message.ParseRecord(record, &v) != nil {
		return false
	}
	return f.sql.MatchRaw(v.Properties)
}

// onHeartbeat is the client manager's consumer-heartbeat hook: it rejects a
// heartbeat whose SQL92 subscriptions cannot be served (property filter off:
// SYSTEM_ERROR; invalid expression: SUBSCRIPTION_PARSE_FAILED with the
// parser's message), so a bad expression fails when the consumer subscribes
// rather than silently at every pull, then runs onConsumerHeartbeat.
func (b *Broker) onHeartbeat(group string, subs []body.SubscriptionData, clustering bool) error {
	for _, s := range subs {
		if s.ExpressionType != exprSQL92 {
			continue
		}
		if err := b.checkSQLSubscription(group, &s); err != nil {
			return err
		}
	}
	return b.onConsumerHeartbeat(group, subs, clustering)
}

// checkSQLSubscription compiles an SQL92 subscription (and caches it for the
// pulls to come); the error is a *protocol.Error ready to be the answer.
func (b *Broker) checkSQLSubscription(group string, s *body.SubscriptionData) error {
	if !b.cfg.EnablePropertyFilter {
		return &protocol.Error{Code: protocol.SystemError, Remark: errSQL92.Error() +
			" (enablePropertyFilter=false); consumer group " + group + ", topic " + s.Topic}
	}
	if _, err := b.sql.compile(sqlKey{group, s.Topic, s.SubVersion}, s.SubString); err != nil {
		return &protocol.Error{Code: protocol.SubscriptionParseFailed,
			Remark: "consumer group " + group + " subscribes to topic " + s.Topic + " with an invalid SQL92 expression [" +
				s.SubString + "]: " + err.Error()}
	}
	return nil
}

// checkClientRequest is the CHECK_CLIENT_CONFIG body (Java's
// CheckClientRequestBody).
type checkClientRequest struct {
	ClientID         string                   `json:"clientId"`
	Group            string                   `json:"group"`
	SubscriptionData *checkClientSubscription `json:"subscriptionData"`
}

type checkClientSubscription struct {
	Topic          string `json:"topic"`
	SubString      string `json:"subString"`
	ExpressionType string `json:"expressionType"`
	SubVersion     int64  `json:"subVersion"`
}

// processCheckClientConfig answers CHECK_CLIENT_CONFIG (46), which the Java
// client sends before an SQL92 subscription: SUCCESS for TAG subscriptions and
// valid SQL92 ones, SYSTEM_ERROR when the property filter is off,
// SUBSCRIPTION_PARSE_FAILED for an invalid expression.
func (b *Broker) processCheckClientConfig(_ context.Context, _ *remoting.Conn, req *protocol.Command) (*protocol.Command, error) {
	var cr checkClientRequest
	if err := json.Unmarshal(req.Body, &cr); err != nil {
		return protocol.NewResponse(req, protocol.SystemError, "CHECK_CLIENT_CONFIG: bad body: "+err.Error()), nil
	}
	sd := cr.SubscriptionData
	if sd == nil || sd.ExpressionType == "" || sd.ExpressionType == exprTag {
		return protocol.NewResponse(req, protocol.Success, ""), nil
	}
	if sd.ExpressionType != exprSQL92 {
		return protocol.NewResponse(req, protocol.SystemError, "unknown expression type "+sd.ExpressionType), nil
	}
	s := body.SubscriptionData{Topic: sd.Topic, SubString: sd.SubString, ExpressionType: sd.ExpressionType, SubVersion: sd.SubVersion}
	if err := b.checkSQLSubscription(cr.Group, &s); err != nil {
		pe := err.(*protocol.Error)
		return protocol.NewResponse(req, pe.Code, pe.Remark), nil
	}
	return protocol.NewResponse(req, protocol.Success, ""), nil
}
