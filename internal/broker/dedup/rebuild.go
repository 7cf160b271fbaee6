package dedup

import (
	"iter"
	"strconv"
	"time"

	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol"
)

// Source iterates over the commit log's records from at least those stored
// at sinceMillis (Unix ms) to the end, oldest first, yielding a read error
// last (store.Store.RecordsSince).
type Source func(sinceMillis int64) iter.Seq2[[]byte, error]

// Rebuild adds an entry for every record of src that a de-duplicated send
// stored (it carries PETREL_DEDUP_GROUP) and whose topic's window, from
// windowOf, has not passed: the key is (REAL_TOPIC for a parked record, else
// the topic; the group; PETREL_DEDUP_KEY, else UNIQ_KEY) and the answer
// SUCCESS with the record's offset message id, queue (REAL_QID when parked)
// and queue offset. longest is the longest window of any topic (the scan's
// reach). It returns the number of entries added. Call it before the first
// Claim.
func (t *Table) Rebuild(src Source, windowOf func(topic string) time.Duration, longest time.Duration) (int, error) {
	if longest <= 0 {
		return 0, nil
	}
	now := t.clk.Now()
	since := now.Add(-longest).UnixMilli()
	added := 0
	var v message.RecordView
	for rec, err := range src(since) {
		if err != nil {
			return added, err
		}
		if message.ParseRecord(rec, &v) != nil || v.StoreTimestamp < since {
			continue
		}
		group, ok := message.LookupProperty(v.Properties, message.PropertyDedupGroup)
		if !ok {
			continue
		}
		id, ok := message.LookupProperty(v.Properties, message.PropertyDedupKey)
		if !ok {
			id, _ = message.LookupProperty(v.Properties, message.PropertyUniqKey)
		}
		if len(id) == 0 {
			continue
		}
		topic, qid := string(v.Topic), v.QueueID
		if rt, ok := message.LookupProperty(v.Properties, message.PropertyRealTopic); ok {
			topic = string(rt)
			if q, ok := message.LookupProperty(v.Properties, message.PropertyRealQueueID); ok {
				if n, err := strconv.ParseInt(string(q), 10, 32); err == nil {
					qid = int32(n)
				}
			}
		}
		win := windowOf(topic)
		if win <= 0 {
			continue
		}
		expires := time.UnixMilli(v.StoreTimestamp).Add(win)
		if !expires.After(now) {
			continue
		}
		k := Key{Topic: topic, Group: string(group), ID: string(id)}
		if t.Add(k, Result{Code: protocol.Success, MsgID: message.OffsetMsgID(v.StoreHost, v.PhysOffset),
			QueueID: qid, QueueOffset: int64(v.QueueOffset)}, win, expires) {
			added++
		}
	}
	return added, nil
}
