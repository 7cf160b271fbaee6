package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/petrelmq/petrel/pkg/admin"
	"github.com/petrelmq/petrel/pkg/client"
	"github.com/petrelmq/petrel/pkg/client/producer"
	"github.com/petrelmq/petrel/pkg/protocol/body"
)

// maxQueues bounds the queue counts the topic forms accept.
const maxQueues = 1024

// consoleProducerGroup is the producer group of the console's test messages.
const consoleProducerGroup = "PETREL_CONSOLE_PRODUCER"

// decodeBody decodes a JSON request body of at most 64 KiB into v.
func decodeBody(r *http.Request, v any) error {
	if err := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 1<<16)).Decode(v); err != nil {
		return badRequest("bad request body: %v", err)
	}
	return nil
}

// checkQueues checks a topic's queue counts and permission as the forms give
// them.
func checkQueues(read, write, perm int32) error {
	if read < 1 || read > maxQueues || write < 1 || write > maxQueues {
		return badRequest("read and write queue numbers must be between 1 and %d (got %d and %d)", maxQueues, read, write)
	}
	switch perm {
	case body.PermWrite, body.PermRead, body.PermRead | body.PermWrite:
		return nil
	}
	return badRequest("perm must be 2 (write only), 4 (read only) or 6 (read and write), not %d", perm)
}

// updateTopic changes a topic's permission and queue numbers on every master
// of its route (POST {"name","perm","readQueues","writeQueues"}), keeping its
// filter type, system flag and order (read from each broker's topic table),
// as mqadmin updateTopic -b does per broker.
func (s *Server) updateTopic(ctx context.Context, r *http.Request) (any, error) {
	var req struct {
		Name        string `json:"name"`
		Perm        int32  `json:"perm"`
		ReadQueues  int32  `json:"readQueues"`
		WriteQueues int32  `json:"writeQueues"`
	}
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	if req.Name == "" {
		return nil, badRequest("name is required")
	}
	if err := checkQueues(req.ReadQueues, req.WriteQueues, req.Perm); err != nil {
		return nil, err
	}
	rt, err := s.adm.TopicRoute(ctx, req.Name)
	if err != nil {
		return nil, err
	}
	var masters []string
	for _, name := range rt.BrokerNames() {
		if addr, ok := rt.MasterAddr(name); ok {
			masters = append(masters, addr)
		}
	}
	if len(masters) == 0 {
		return nil, fmt.Errorf("topic %s: no master in its route", req.Name)
	}
	var errs []error
	for _, addr := range masters {
		spec := admin.TopicSpec{Topic: req.Name, ReadQueues: req.ReadQueues, WriteQueues: req.WriteQueues, Perm: req.Perm}
		tcs, err := s.adm.TopicConfigs(ctx, addr)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if tc, ok := tcs[req.Name]; ok {
			spec.FilterType, spec.SysFlag, spec.Order = tc.TopicFilterType, tc.TopicSysFlag, tc.Order
		}
		errs = append(errs, s.adm.CreateTopic(ctx, addr, spec))
	}
	s.forget("topic")
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return map[string]any{"updated": req.Name, "brokers": masters}, nil
}

// SendResult is the answer of a test message sent from the topic page.
type SendResult struct {
	Status      string `json:"status"`
	MsgID       string `json:"msgId"`
	OffsetMsgID string `json:"offsetMsgId"`
	Broker      string `json:"broker"`
	QueueID     int32  `json:"queueId"`
	QueueOffset int64  `json:"queueOffset"`
}

// sendMessage sends a test message (POST {"topic","tag","keys","body"}; keys
// separated by spaces) with a producer of group PETREL_CONSOLE_PRODUCER
// made for the one send, as RocketMQ's dashboard does.
func (s *Server) sendMessage(ctx context.Context, r *http.Request) (any, error) {
	var req struct {
		Topic string `json:"topic"`
		Tag   string `json:"tag"`
		Keys  string `json:"keys"`
		Body  string `json:"body"`
	}
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	if req.Topic == "" {
		return nil, badRequest("topic is required")
	}
	if req.Body == "" {
		return nil, badRequest("body is required (a message cannot be empty)")
	}
	if strings.ContainsAny(req.Tag, "|") {
		return nil, badRequest("tag %q: a message has one tag; '|' separates tags in subscriptions only", req.Tag)
	}
	opts := []client.ProducerOption{client.NameServers(s.cfg.NameServers...), producer.Group(consoleProducerGroup)}
	for _, o := range s.cfg.ClientOptions {
		if po, ok := o.(client.ProducerOption); ok {
			opts = append(opts, po)
		}
	}
	p, err := producer.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("console producer: %w", err)
	}
	if err := p.Start(ctx); err != nil {
		return nil, fmt.Errorf("console producer: %w", err)
	}
	defer func() { _ = p.Close() }()
	var mopts []producer.MessageOption
	if req.Tag != "" {
		mopts = append(mopts, producer.Tags(req.Tag))
	}
	if keys := strings.Fields(req.Keys); len(keys) > 0 {
		mopts = append(mopts, producer.Keys(keys...))
	}
	res, err := p.Send(ctx, producer.NewMessage(req.Topic, []byte(req.Body), mopts...))
	if errors.Is(err, producer.ErrBadMessage) {
		return nil, badRequest("%v", err)
	}
	if err != nil {
		return nil, fmt.Errorf("send to %s: %w", req.Topic, err)
	}
	s.forget("topic")
	return SendResult{Status: res.Status.String(), MsgID: res.MsgID, OffsetMsgID: res.OffsetMsgID,
		Broker: res.Queue.BrokerName, QueueID: res.Queue.QueueID, QueueOffset: int64(res.QueueOffset)}, nil
}
