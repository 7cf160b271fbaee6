package console

import (
	"context"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/petrelmq/petrel/pkg/client"
	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol"
)

// DLQ limits: the dead-letter page shows at most dlqShowMax messages, an
// export holds at most dlqExportMax.
const (
	dlqShowDefault   = 50
	dlqShowMax       = 1000
	dlqExportDefault = 10000
	dlqExportMax     = 100000
)

// dlqTopicPrefix starts a consumer group's dead-letter topic, %DLQ%<group>.
const dlqTopicPrefix = "%DLQ%"

// dlqQueues returns the dead-letter topic of group and its queues with
// their min and max offsets, in broker and queue order.
func (s *Server) dlqQueues(ctx context.Context, group string) (string, []Queue, error) {
	if group == "" {
		return "", nil, badRequest("group is required (the consumer group whose dead letters to read)")
	}
	topic := strings.TrimPrefix(group, dlqTopicPrefix)
	if strings.HasPrefix(topic, "%RETRY%") {
		return "", nil, badRequest("group %q: give the consumer group's name, not its retry topic", group)
	}
	topic = dlqTopicPrefix + topic
	maxes, err := s.adm.MaxOffsets(ctx, topic)
	if errors.Is(err, protocol.ErrTopicNotExist) {
		return "", nil, &apiError{status: http.StatusNotFound,
			msg: fmt.Sprintf("group %s has no dead-letter topic %s: no message of it ran out of retries", group, topic)}
	}
	if err != nil {
		return "", nil, fmt.Errorf("dead-letter topic %s: %w", topic, err)
	}
	var qs []Queue
	for mq, mx := range maxes {
		mn, err := s.adm.MinOffset(ctx, mq)
		if err != nil {
			return "", nil, err
		}
		qs = append(qs, Queue{Broker: mq.BrokerName, ID: mq.QueueID, Min: int64(mn), Max: int64(mx)})
	}
	slices.SortFunc(qs, func(a, b Queue) int {
		if c := strings.Compare(a.Broker, b.Broker); c != 0 {
			return c
		}
		return int(a.ID - b.ID)
	})
	return topic, qs, nil
}

// readDLQ calls fn with the messages of the queues below their Max
// offsets, oldest first per queue, at most limit in all. Each pull has the console's Timeout.
func (s *Server) readDLQ(ctx context.Context, topic string, qs []Queue, limit int, fn func(*message.MessageExt) error) (int, error) {
	n := 0
	for _, q := range qs {
		mq := message.MessageQueue{Topic: topic, BrokerName: q.Broker, QueueID: q.ID}
		off := message.QueueOffset(q.Min)
		for n < limit && int64(off) < q.Max {
			pctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
			res, err := s.adm.Pull(pctx, mq, off, int32(min(32, limit-n)))
			cancel()
			if err != nil {
				return n, fmt.Errorf("read %s queue %s:%d at %d: %w", topic, q.Broker, q.ID, off, err)
			}
			if res.Status != client.PullFound {
				if res.NextBeginOffset > off {
					off = res.NextBeginOffset // a gap (expired messages)
					continue
				}
				break
			}
			for _, m := range res.Messages {
				if n == limit || int64(m.QueueOffset) >= q.Max {
					break // stored after the offsets were read: not counted
				}
				if err := fn(m); err != nil {
					return n, err
				}
				n++
			}
			off = res.NextBeginOffset
		}
	}
	return n, nil
}

// dlq lists the dead letters of a consumer group (?group=[&max=50]): the
// total held and the first max messages, oldest first per queue.
func (s *Server) dlq(ctx context.Context, r *http.Request) (any, error) {
	q := r.URL.Query()
	limit, err := limitParam(q.Get("max"), dlqShowDefault, dlqShowMax)
	if err != nil {
		return nil, err
	}
	topic, qs, err := s.dlqQueues(ctx, q.Get("group"))
	if err != nil {
		return nil, err
	}
	var total int64
	for _, q := range qs {
		total += q.Max - q.Min
	}
	out := []Message{}
	if _, err := s.readDLQ(ctx, topic, qs, limit, func(m *message.MessageExt) error {
		out = append(out, view(m))
		return nil
	}); err != nil {
		return nil, err
	}
	return map[string]any{"group": strings.TrimPrefix(topic, dlqTopicPrefix), "topic": topic, "total": total, "messages": out}, nil
}

// limitParam parses a count parameter: def when empty, else 1..hi.
func limitParam(v string, def, hi int) (int, error) {
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > hi {
		return 0, badRequest("max %q: want a number from 1 to %d", v, hi)
	}
	return n, nil
}

// ExportedMessage is one dead letter in an export: a line of JSON lines, a
// row of CSV (properties as a JSON object). Body is base64, as bodies are
// bytes.
type ExportedMessage struct {
	MsgID          string            `json:"msgId"`
	OffsetMsgID    string            `json:"offsetMsgId"`
	Topic          string            `json:"topic"`
	OriginTopic    string            `json:"originTopic"`
	QueueID        int32             `json:"queueId"`
	QueueOffset    int64             `json:"queueOffset"`
	Keys           string            `json:"keys"`
	Tags           string            `json:"tags"`
	BornTime       string            `json:"bornTime"`
	StoreTime      string            `json:"storeTime"`
	BornHost       string            `json:"bornHost"`
	StoreHost      string            `json:"storeHost"`
	ReconsumeTimes int32             `json:"reconsumeTimes"`
	Properties     map[string]string `json:"properties"`
	Body           string            `json:"body"`
}

var exportColumns = []string{"msgId", "offsetMsgId", "topic", "originTopic", "queueId", "queueOffset", "keys", "tags",
	"bornTime", "storeTime", "bornHost", "storeHost", "reconsumeTimes", "properties", "body"}

func exported(m *message.MessageExt) ExportedMessage {
	props := m.Properties
	if props == nil {
		props = map[string]string{}
	}
	return ExportedMessage{MsgID: m.MsgID(), OffsetMsgID: m.OffsetMsgID(), Topic: m.Topic,
		OriginTopic: props[message.PropertyRetryTopic], QueueID: m.QueueID, QueueOffset: int64(m.QueueOffset),
		Keys: props[message.PropertyKeys], Tags: props[message.PropertyTags],
		BornTime:  time.UnixMilli(m.BornTimestamp).UTC().Format(time.RFC3339Nano),
		StoreTime: time.UnixMilli(m.StoreTimestamp).UTC().Format(time.RFC3339Nano),
		BornHost:  m.BornHost.String(), StoreHost: m.StoreHost.String(), ReconsumeTimes: m.ReconsumeTimes,
		Properties: props, Body: base64.StdEncoding.EncodeToString(m.Body)}
}

func (e ExportedMessage) row() []string {
	props, _ := json.Marshal(e.Properties)
	return []string{e.MsgID, e.OffsetMsgID, e.Topic, e.OriginTopic, strconv.Itoa(int(e.QueueID)),
		strconv.FormatInt(e.QueueOffset, 10), e.Keys, e.Tags, e.BornTime, e.StoreTime, e.BornHost, e.StoreHost,
		strconv.Itoa(int(e.ReconsumeTimes)), string(props), e.Body}
}

// exportDLQ downloads the dead letters of a consumer group
// (?group=&format=jsonl|csv[&max=10000]) as JSON lines or CSV with a header
// row, oldest first per queue. Bad input and an unknown group are answered
// in JSON before the download starts; a broker failing during it aborts the
// response, so a cut download never looks complete.
func (s *Server) exportDLQ(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	format := q.Get("format")
	if format == "" {
		format = "jsonl"
	}
	var topic string
	var qs []Queue
	var limit int
	err := func() error {
		if format != "jsonl" && format != "csv" {
			return badRequest("format %q: want jsonl or csv", format)
		}
		var err error
		if limit, err = limitParam(q.Get("max"), dlqExportDefault, dlqExportMax); err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(r.Context(), s.cfg.Timeout)
		defer cancel()
		topic, qs, err = s.dlqQueues(ctx, q.Get("group"))
		return err
	}()
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	group := strings.TrimPrefix(topic, dlqTopicPrefix)
	name := "dlq-" + strings.Map(func(c rune) rune {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' {
			return c
		}
		return '_'
	}, group) + "." + format
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	var write func(ExportedMessage) error
	var flush func() error
	if format == "csv" {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		cw := csv.NewWriter(w)
		if err := cw.Write(exportColumns); err != nil {
			return
		}
		write = func(e ExportedMessage) error { return cw.Write(e.row()) }
		flush = func() error { cw.Flush(); return cw.Error() }
	} else {
		w.Header().Set("Content-Type", "application/x-ndjson")
		enc := json.NewEncoder(w)
		write = func(e ExportedMessage) error { return enc.Encode(e) }
		flush = func() error { return nil }
	}
	n, err := s.readDLQ(r.Context(), topic, qs, limit, func(m *message.MessageExt) error { return write(exported(m)) })
	if err == nil {
		err = flush()
	}
	if err != nil {
		s.log.Warn("console: dead-letter export cut", "group", group, "exported", n, "err", err)
		panic(http.ErrAbortHandler)
	}
}
