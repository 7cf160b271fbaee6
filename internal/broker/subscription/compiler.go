package subscription

import (
	"context"
	"encoding/json"
	"sync"

	"github.com/petrelmq/petrel/internal/filter"
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

// Compiler builds pull filters, caching compiled SQL92 expressions per
// (group, topic, subVersion) so a pull compiles nothing while the
// subscription is unchanged. A cached entry also keeps its text: a pull that
// carries a different expression under the same key (a client that does not
// bump subVersion) is compiled afresh. Failed compilations are not cached.
// Safe for concurrent use.
type Compiler struct {
	sqlEnabled bool

	mu sync.Mutex
	m  map[sqlKey]sqlEntry
}

// NewCompiler returns a compiler; sqlEnabled is enablePropertyFilter.
func NewCompiler(sqlEnabled bool) *Compiler { return &Compiler{sqlEnabled: sqlEnabled} }

// compile returns the compiled expression of text, from the cache if it holds
// k with the same text.
func (c *Compiler) compile(k sqlKey, text string) (*filter.Expr, error) {
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

// Filter builds the pull filter of a subscription: TAG expressions as Build
// does, SQL92 ones compiled through the cache. Errors: ErrSQL92Disabled when
// the property filter is off, a *filter.SyntaxError for an invalid
// expression, Build's errors for TAG.
func (c *Compiler) Filter(group, topic string, subVersion int64, expr, exprType string) (*Filter, error) {
	if exprType != ExprSQL92 {
		return Build(expr, exprType)
	}
	if !c.sqlEnabled {
		return nil, ErrSQL92Disabled
	}
	e, err := c.compile(sqlKey{group, topic, subVersion}, expr)
	if err != nil {
		return nil, err
	}
	// The tags code says nothing about properties: every entry passes the
	// consume-queue stage (and wakes held pulls); the record decides.
	return &Filter{all: true, sql: e}, nil
}

// CheckHeartbeat rejects a consumer heartbeat whose SQL92 subscriptions
// cannot be served: property filter off is SYSTEM_ERROR, an invalid
// expression SUBSCRIPTION_PARSE_FAILED with the parser's message. The error
// is a *protocol.Error ready to be the answer. Valid expressions are cached
// for the pulls to come.
func (c *Compiler) CheckHeartbeat(group string, subs []body.SubscriptionData) error {
	for i := range subs {
		if subs[i].ExpressionType != ExprSQL92 {
			continue
		}
		if err := c.check(group, &subs[i]); err != nil {
			return err
		}
	}
	return nil
}

func (c *Compiler) check(group string, s *body.SubscriptionData) error {
	if !c.sqlEnabled {
		return &protocol.Error{Code: protocol.SystemError, Remark: ErrSQL92Disabled.Error() +
			" (enablePropertyFilter=false); consumer group " + group + ", topic " + s.Topic}
	}
	if _, err := c.compile(sqlKey{group, s.Topic, s.SubVersion}, s.SubString); err != nil {
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

// ProcessCheckClientConfig answers CHECK_CLIENT_CONFIG (46), which the Java
// client sends before an SQL92 subscription: SUCCESS for TAG subscriptions
// and valid SQL92 ones, SYSTEM_ERROR when the property filter is off,
// SUBSCRIPTION_PARSE_FAILED for an invalid expression.
func (c *Compiler) ProcessCheckClientConfig(_ context.Context, _ *remoting.Conn, req *protocol.Command) (*protocol.Command, error) {
	var cr checkClientRequest
	if err := json.Unmarshal(req.Body, &cr); err != nil {
		return protocol.NewResponse(req, protocol.SystemError, "CHECK_CLIENT_CONFIG: bad body: "+err.Error()), nil
	}
	sd := cr.SubscriptionData
	if sd == nil || sd.ExpressionType == "" || sd.ExpressionType == ExprTag {
		return protocol.NewResponse(req, protocol.Success, ""), nil
	}
	if sd.ExpressionType != ExprSQL92 {
		return protocol.NewResponse(req, protocol.SystemError, "unknown expression type "+sd.ExpressionType), nil
	}
	s := body.SubscriptionData{Topic: sd.Topic, SubString: sd.SubString, ExpressionType: sd.ExpressionType, SubVersion: sd.SubVersion}
	if err := c.check(cr.Group, &s); err != nil {
		pe := err.(*protocol.Error)
		return protocol.NewResponse(req, pe.Code, pe.Remark), nil
	}
	return protocol.NewResponse(req, protocol.Success, ""), nil
}
