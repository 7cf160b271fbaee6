package dedup

import (
	"strconv"
	"time"

	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol"
)

// Source calls fn for the commit log's records from at least those stored
// at sinceMillis (Unix ms) to the end, oldest first (store.Store.ScanSince).
type Source func(sinceMillis int64, fn func(off message.PhysOffset, rec []byte) error) error

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
	err := src(since, func(_ message.PhysOffset, rec []byte) error {
		if message.ParseRecord(rec, &v) != nil || v.StoreTimestamp < since {
			return nil
		}
		group, ok := message.LookupProperty(v.Properties, message.PropertyDedupGroup)
		if !ok {
			return nil
		}
		id, ok := message.LookupProperty(v.Properties, message.PropertyDedupKey)
		if !ok {
			id, _ = message.LookupProperty(v.Properties, message.PropertyUniqKey)
		}
		if len(id) == 0 {
			return nil
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
			return nil
		}
		expires := time.UnixMilli(v.StoreTimestamp).Add(win)
		if !expires.After(now) {
			return nil
		}
		k := Key{Topic: topic, Group: string(group), ID: string(id)}
		if t.Add(k, Result{Code: protocol.Success, MsgID: message.OffsetMsgID(v.StoreHost, v.PhysOffset),
			QueueID: qid, QueueOffset: int64(v.QueueOffset)}, win, expires) {
			added++
		}
		return nil
	})
	return added, err
}
