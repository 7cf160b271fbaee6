package meta

import (
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/petrelmq/petrel/pkg/message"
)

const offsetsConfigFileName = "consumerOffset.json"

// offsetKeySep joins topic and group in the offset table ("topic@group").
const offsetKeySep = "@"

// offsetFile is config/consumerOffset.json: {"offsetTable":{"topic@group":{"0":12}}}.
type offsetFile struct {
	OffsetTable map[string]map[int32]int64 `json:"offsetTable"`
}

// Offsets keeps the consumer offsets of clustering groups: the next queue
// offset each group will consume, per topic and queue. Changes are in memory;
// flush writes them when something changed (the broker calls it every
// flushConsumerOffsetInterval and on Close). Safe for concurrent use; mu is not
// held while writing the file.
type Offsets struct {
	cs ConfigStore

	mu    sync.Mutex
	table map[string]map[int32]int64 // "topic@group" → queue id → offset
	dirty bool
	// local, on a slave: the offsets committed to this broker directly
	// (while its master was unreachable), not yet known to the master.
	// MergeMaster keeps them over the master's older values and hands them
	// back to be pushed to the master. nil on a master.
	local map[string]map[int32]int64

	persistMu sync.Mutex
}

// NewOffsets returns an empty table; Load fills it.
func NewOffsets() *Offsets {
	return &Offsets{table: map[string]map[int32]int64{}}
}

// fastjsonIntKeys matches the unquoted integer keys a Java broker's fastjson
// writes ({0:12}); load quotes them so files copied from RocketMQ load too.
var fastjsonIntKeys = regexp.MustCompile(`([{,]\s*)(-?[0-9]+)\s*:`)

// QuoteIntKeys turns fastjson's unquoted integer map keys ({0:12}, as Java
// brokers write offset tables) into standard JSON ({"0":12}).
func QuoteIntKeys(data []byte) []byte { return fastjsonIntKeys.ReplaceAll(data, []byte(`$1"$2":`)) }

// Load reads consumerOffset.json through cs (fastjson's unquoted integer
// keys accepted) and keeps cs for Flush.
func (m *Offsets) Load(cs ConfigStore) error {
	m.cs = cs
	data, err := cs.LoadConfig(offsetsConfigFileName)
	if err != nil {
		return fmt.Errorf("meta: load %s: %w", offsetsConfigFileName, err)
	}
	if len(data) == 0 {
		return nil
	}
	var f offsetFile
	if err := json.Unmarshal(QuoteIntKeys(data), &f); err != nil {
		return fmt.Errorf("meta: parse %s: %w", offsetsConfigFileName, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, q := range f.OffsetTable {
		if q != nil {
			m.table[k] = q
		}
	}
	return nil
}

func offsetKey(topic, group string) string { return topic + offsetKeySep + group }

// TrackLocal makes the table remember the commits it receives directly, as
// a slave does (see MergeMaster). Call before use.
func (m *Offsets) TrackLocal() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.local = map[string]map[int32]int64{}
}

// Commit stores offset as group's next offset for the queue. The value is kept
// as given, even if it is past the queue's end (RocketMQ does the same).
func (m *Offsets) Commit(group, topic string, queueID int32, offset int64) {
	k := offsetKey(topic, group)
	m.mu.Lock()
	defer m.mu.Unlock()
	q := m.table[k]
	if q == nil {
		q = map[int32]int64{}
		m.table[k] = q
	}
	if old, ok := q[queueID]; ok && old == offset {
		return
	}
	q[queueID] = offset
	m.dirty = true
	if m.local != nil {
		lq := m.local[k]
		if lq == nil {
			lq = map[int32]int64{}
			m.local[k] = lq
		}
		lq[queueID] = offset
	}
}

// OffsetUpdate is one offset a slave hands back to its master.
type OffsetUpdate struct {
	Topic, Group string
	QueueID      int32
	Offset       int64
}

// MergeMaster adopts a master's offset table (a slave's metadata sync), the
// Petrel way rather than RocketMQ 4.x's (which overwrites the slave's): per
// queue, an offset committed to this slave directly that is ahead of the
// master's is kept and returned, for the caller to push to the master
// (UPDATE_CONSUMER_OFFSET); once the master's value has caught up it wins
// and the local one is forgotten. Queues only the slave has stay too. So
// consumers that went on from the slave while the master was down are not
// rewound when it returns.
func (m *Offsets) MergeMaster(master map[string]map[int32]int64) []OffsetUpdate {
	m.mu.Lock()
	defer m.mu.Unlock()
	var push []OffsetUpdate
	for k, mq := range master {
		q := m.table[k]
		if q == nil {
			q = map[int32]int64{}
			m.table[k] = q
		}
		lq := m.local[k]
		for qid, off := range mq {
			if l, ok := lq[qid]; ok {
				if l > off {
					topic, group, _ := splitOffsetKey(k)
					push = append(push, OffsetUpdate{Topic: topic, Group: group, QueueID: qid, Offset: l})
					continue
				}
				delete(lq, qid)
			}
			if q[qid] != off {
				q[qid] = off
				m.dirty = true
			}
		}
		if lq != nil && len(lq) == 0 {
			delete(m.local, k)
		}
	}
	for k, lq := range m.local { // committed here, unknown to the master
		if _, ok := master[k]; ok {
			continue
		}
		topic, group, _ := splitOffsetKey(k)
		for qid, l := range lq {
			push = append(push, OffsetUpdate{Topic: topic, Group: group, QueueID: qid, Offset: l})
		}
	}
	return push
}

// Query returns group's stored offset for the queue, or -1 if there is none.
func (m *Offsets) Query(group, topic string, queueID int32) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if off, ok := m.table[offsetKey(topic, group)][queueID]; ok {
		return off
	}
	return -1
}

// QueueOffsets returns a copy of group's offsets for topic.
func (m *Offsets) QueueOffsets(group, topic string) map[int32]int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.table[offsetKey(topic, group)])
}

// TopicsOf returns the topics group has offsets for, sorted.
func (m *Offsets) TopicsOf(group string) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for k := range m.table {
		if t, g, ok := splitOffsetKey(k); ok && g == group {
			out = append(out, t)
		}
	}
	slices.Sort(out)
	return out
}

// GroupsOf returns the groups that have offsets for topic, sorted.
func (m *Offsets) GroupsOf(topic string) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for k := range m.table {
		if t, g, ok := splitOffsetKey(k); ok && t == topic {
			out = append(out, g)
		}
	}
	slices.Sort(out)
	return out
}

// splitOffsetKey splits "topic@group". Topics cannot contain '@', so the first
// one separates them.
func splitOffsetKey(k string) (topic, group string, ok bool) {
	return strings.Cut(k, offsetKeySep)
}

// RemoveTopic drops every group's offsets of topic.
func (m *Offsets) RemoveTopic(topic string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k := range m.table {
		if t, _, ok := splitOffsetKey(k); ok && t == topic {
			delete(m.table, k)
			m.dirty = true
		}
	}
}

// RemoveGroup drops every offset of group.
func (m *Offsets) RemoveGroup(group string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k := range m.table {
		if _, g, ok := splitOffsetKey(k); ok && g == group {
			delete(m.table, k)
			m.dirty = true
		}
	}
}

// Flush writes the table if it changed since the last flush.
func (m *Offsets) Flush() error {
	if m.cs == nil {
		return nil
	}
	m.persistMu.Lock()
	defer m.persistMu.Unlock()
	m.mu.Lock()
	if !m.dirty {
		m.mu.Unlock()
		return nil
	}
	f := offsetFile{OffsetTable: make(map[string]map[int32]int64, len(m.table))}
	for k, q := range m.table {
		f.OffsetTable[k] = maps.Clone(q)
	}
	m.dirty = false
	m.mu.Unlock()
	data, err := json.Marshal(f)
	if err == nil {
		err = m.cs.SaveConfig(offsetsConfigFileName, data)
	}
	if err != nil {
		m.mu.Lock()
		m.dirty = true
		m.mu.Unlock()
		return fmt.Errorf("meta: save %s: %w", offsetsConfigFileName, err)
	}
	return nil
}

// All returns a copy of the whole table ("topic@group" → queue id → offset),
// the body of GET_ALL_CONSUMER_OFFSET.
func (m *Offsets) All() map[string]map[int32]int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]map[int32]int64, len(m.table))
	for k, q := range m.table {
		out[k] = maps.Clone(q)
	}
	return out
}

// CommittedOffsets returns, for every group with a committed offset on
// (topic, queueID), that offset: the store's ConsumerProgress, for the log
// line of a forced deletion.
func (m *Offsets) CommittedOffsets(topic string, queueID int32) map[string]message.QueueOffset {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out map[string]message.QueueOffset
	prefix := topic + offsetKeySep
	for k, q := range m.table {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		if off, ok := q[queueID]; ok {
			if out == nil {
				out = map[string]message.QueueOffset{}
			}
			out[k[len(prefix):]] = message.QueueOffset(off)
		}
	}
	return out
}
