package send

import (
	"strings"
	"time"

	"github.com/petrelmq/petrel/internal/broker/answer"
	"github.com/petrelmq/petrel/internal/broker/dedup"
	"github.com/petrelmq/petrel/internal/broker/meta"
	"github.com/petrelmq/petrel/internal/store"
	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/protocol/body"
	"github.com/petrelmq/petrel/pkg/protocol/header"
)

// The de-duplication window (docs/design/dedup.md): a send to a topic with a
// window claims its messages' keys in the dedup table before it is put, and
// resolves them when the store completes it; a duplicate is answered from
// its first copy; a send whose key is in flight is parked and run again.

// window returns the de-duplication window of a send to topic (0: none):
// never for retry, dead-letter and system topics.
func (s *Service) window(topic string, tc body.TopicConfig) time.Duration {
	if s.d.Dedup == nil || meta.IsSystemTopic(topic) || strings.HasPrefix(topic, meta.RetryTopicPrefix) ||
		strings.HasPrefix(topic, meta.DLQTopicPrefix) {
		return 0
	}
	return meta.DuplicateWindow(tc, s.cfg.DuplicateWindow)
}

// keep makes p a de-duplicated send: one slot per message keyed by (topic,
// producer group, PETREL_DEDUP_KEY else UNIQ_KEY), and the group written into
// each keyed message (PETREL_DEDUP_GROUP) for recovery. Messages without a
// key are stored as always.
func (s *Service) keep(p *pending, h *header.SendMessage, win time.Duration) {
	slots := make([]dedup.Slot, len(p.msgs))
	keyed := false
	// The window keeps the keys for its length: copy their strings, which are
	// cut from the request's header and would keep all of it alive.
	topic, group := strings.Clone(h.Topic), strings.Clone(h.ProducerGroup)
	for i, m := range p.msgs {
		id := m.Properties[message.PropertyDedupKey]
		if id == "" {
			id = m.Properties[message.PropertyUniqKey]
		}
		if id == "" {
			continue
		}
		slots[i].Key = dedup.Key{Topic: topic, Group: group, ID: strings.Clone(id)}
		m.Properties[message.PropertyDedupGroup] = h.ProducerGroup
		keyed = true
	}
	if keyed {
		p.svc, p.slots, p.window = s, slots, win
	}
}

// put stores p's messages, or for a de-duplicated send claims their keys
// first: it stores only the messages that are not duplicates, answers at once
// when all are (the returned answer), and parks the send when a key is in
// flight. nil: the store or a resolving send will complete it.
func (s *Service) put(p *pending) *protocol.Command {
	if len(p.slots) == 0 {
		s.d.Store.Put(p.msgs, s.done, p)
		return nil
	}
	if s.d.Dedup.Claim(p.slots, p) {
		return nil
	}
	p.fresh = p.fresh[:0]
	var fresh []*message.MessageExt
	for i := range p.slots {
		if p.slots[i].Found == nil {
			p.fresh = append(p.fresh, i)
			fresh = append(fresh, p.msgs[i])
		}
	}
	if len(fresh) == 0 {
		results := make([]dedup.Result, len(p.slots))
		for i := range p.slots {
			results[i] = *p.slots[i].Found
		}
		return s.dedupAnswer(p, results, results[0].Code, results[0].Remark)
	}
	s.d.Store.Put(fresh, s.done, p)
	return nil
}

// Resume runs a parked send again once the keys it waited for are resolved
// (dedup.Parked).
func (p *pending) Resume() {
	if resp := p.svc.put(p); resp != nil {
		p.svc.finish(p.conn, p.req, resp)
	}
}

// completeDedup resolves a de-duplicated send's claims with the store's
// outcome and returns its answer. A put that failed (nothing stored) or was
// fenced (this broker stopped being the master) aborts the claims, so a
// parked retry tries to store the message itself.
func (s *Service) completeDedup(p *pending, res store.PutResult, err error) *protocol.Command {
	if err != nil || res.Status == store.PutFenced {
		s.d.Dedup.Abort(p.slots)
		return s.putAnswer(p.req, p.queue, res, err, p.batch)
	}
	code, remark, _ := answer.Put(res, nil)
	results := make([]dedup.Result, len(p.slots))
	for j, i := range p.fresh {
		id := res.MsgID
		if p.batch && j < len(res.MsgIDs) {
			id = res.MsgIDs[j]
		}
		results[i] = dedup.Result{Code: code, Remark: remark, MsgID: id, QueueID: p.queue,
			QueueOffset: int64(res.QueueOffset) + int64(j)}
	}
	for i := range p.slots {
		if f := p.slots[i].Found; f != nil {
			results[i] = *f
		}
	}
	s.d.Dedup.Resolve(p.slots, results, p.window)
	return s.dedupAnswer(p, results, code, remark)
}

// dedupAnswer is the send answer built from every message's result: the
// first message's queue and offset, every id for a batch.
func (s *Service) dedupAnswer(p *pending, results []dedup.Result, code protocol.ResponseCode, remark string) *protocol.Command {
	first := results[0]
	msgID := first.MsgID
	if p.batch {
		ids := make([]string, len(results))
		for i := range results {
			ids[i] = results[i].MsgID
		}
		msgID = strings.Join(ids, ",")
	}
	return header.NewResponse(p.req, code, remark, &header.SendMessageResponse{
		MsgID: msgID, QueueID: first.QueueID, QueueOffset: first.QueueOffset,
		Region: s.cfg.RegionID, TraceOn: s.cfg.TraceOn,
	})
}
