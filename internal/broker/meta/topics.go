package meta

import (
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/petrelmq/petrel/pkg/clock"
	"github.com/petrelmq/petrel/pkg/protocol/body"
)

const topicsConfigFileName = "topics.json"

// Topics owns the topic table and its DataVersion, persisted as
// config/topics.json in RocketMQ's TopicConfigSerializeWrapper shape.
//
// All methods are safe for concurrent use. Changes bump the DataVersion and are
// written through at once; mu is never held while writing (persistMu orders
// the writes, and each write takes a fresh snapshot, so the file always ends
// with the latest table).
type Topics struct {
	clk clock.Clock
	cs  ConfigStore

	mu      sync.RWMutex
	table   map[string]body.TopicConfig
	version body.DataVersion

	persistMu sync.Mutex
}

// NewTopics returns an empty table; Load fills it.
func NewTopics(clk clock.Clock) *Topics {
	return &Topics{clk: clk, table: map[string]body.TopicConfig{}}
}

// SystemTopics says which system topics Load adds (RocketMQ's
// TopicConfigManager constructor).
type SystemTopics struct {
	ClusterName string // the cluster-name topic
	BrokerName  string // the broker-name topic
	// AutoCreate adds TBW102 with DefaultQueueNums queues and perm 7.
	AutoCreate       bool
	DefaultQueueNums int32
	// ClusterTopicEnable and BrokerTopicEnable are clusterTopicEnable and
	// brokerTopicEnable: the cluster-name and broker-name topics are readable
	// and writable (perm 7), as mqadmin clusterRT and sendMessage -t
	// <cluster> need; otherwise perm 1 (inherit only).
	ClusterTopicEnable bool
	BrokerTopicEnable  bool
	// TraceTopic, when not empty, is created at start with one queue
	// (traceTopicEnable with msgTraceTopicName).
	TraceTopic string
}

// Load reads topics.json through cs and adds the system topics sys asks for.
// It keeps cs for later writes.
func (m *Topics) Load(cs ConfigStore, cfg SystemTopics) error {
	m.cs = cs
	var w body.TopicConfigWrapper
	found, err := LoadJSON(cs, topicsConfigFileName, &w)
	if err != nil {
		return err
	}
	m.mu.Lock()
	if found {
		for name, tc := range w.TopicConfigTable {
			tc.TopicName = name
			m.table[name] = tc
		}
		m.version = w.DataVersion
	}
	// RocketMQ 4.9's TopicConfigManager: these exist from the start. A
	// topic already in the file keeps its config, except the cluster- and
	// broker-name topics, whose permission follows the *TopicEnable keys.
	const rw = body.PermRead | body.PermWrite
	add := func(name string, queues int32, perm int32) {
		if _, ok := m.table[name]; !ok {
			m.table[name] = NewTopicConfig(name, queues, perm)
		}
	}
	if cfg.AutoCreate {
		add(TopicAutoCreate, cfg.DefaultQueueNums, body.PermInherit|rw)
	}
	add(TopicSelfTest, 1, rw)
	add(TopicBenchmark, 1024, rw)
	namePerm := func(on bool) int32 {
		if on {
			return body.PermInherit | rw
		}
		return body.PermInherit
	}
	add(cfg.ClusterName, 16, namePerm(cfg.ClusterTopicEnable))
	add(cfg.BrokerName, 1, namePerm(cfg.BrokerTopicEnable))
	for name, perm := range map[string]int32{cfg.ClusterName: namePerm(cfg.ClusterTopicEnable), cfg.BrokerName: namePerm(cfg.BrokerTopicEnable)} {
		if tc := m.table[name]; tc.Perm != perm {
			tc.Perm = perm
			m.table[name] = tc
		}
	}
	add(TopicOffsetMoved, 1, rw)
	add(TopicSchedule, ScheduleQueueNums, rw)
	if cfg.TraceTopic != "" {
		add(cfg.TraceTopic, 1, rw)
	}
	add(cfg.ClusterName+ReplyTopicSuffix, 1, rw)
	// Dead-letter topics were write-only before Petrel followed RocketMQ 4.9.
	for name, tc := range m.table {
		if strings.HasPrefix(name, DLQTopicPrefix) && tc.Perm == body.PermWrite {
			tc.Perm = rw
			m.table[name] = tc
		}
	}
	m.bumpLocked()
	m.mu.Unlock()
	return m.Persist()
}

func NewTopicConfig(name string, queues, perm int32) body.TopicConfig {
	return body.TopicConfig{
		TopicName:       name,
		ReadQueueNums:   queues,
		WriteQueueNums:  queues,
		Perm:            perm,
		TopicFilterType: FilterTypeSingleTag,
	}
}

// bumpLocked advances the DataVersion. Caller holds mu for writing.
func (m *Topics) bumpLocked() {
	m.version.Counter++
	m.version.Timestamp = m.clk.Now().UnixMilli()
}

// Persist writes the current table. Errors are returned; the in-memory table
// stays authoritative either way.
func (m *Topics) Persist() error {
	if m.cs == nil {
		return nil
	}
	m.persistMu.Lock()
	defer m.persistMu.Unlock()
	return SaveJSON(m.cs, topicsConfigFileName, m.Snapshot())
}

// Snapshot returns a copy of the table with its version (the registration body
// and GET_ALL_TOPIC_CONFIG).
func (m *Topics) Snapshot() body.TopicConfigWrapper {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return body.TopicConfigWrapper{DataVersion: m.version, TopicConfigTable: maps.Clone(m.table)}
}

// DataVersion returns the current version.
func (m *Topics) DataVersion() body.DataVersion {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.version
}

// Get returns a topic's config.
func (m *Topics) Get(topic string) (body.TopicConfig, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	tc, ok := m.table[topic]
	return tc, ok
}

// Names returns every topic name, sorted.
func (m *Topics) Names() []string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return slices.Sorted(maps.Keys(m.table))
}

// Put creates or replaces a topic and persists. It reports whether anything
// changed.
func (m *Topics) Put(tc body.TopicConfig) (bool, error) {
	m.mu.Lock()
	if old, ok := m.table[tc.TopicName]; ok && SameTopicConfig(old, tc) {
		m.mu.Unlock()
		return false, nil
	}
	m.table[tc.TopicName] = tc
	m.bumpLocked()
	m.mu.Unlock()
	return true, m.Persist()
}

// CreateIfAbsent adds tc unless the topic exists. It returns the topic's config
// and whether it was created.
func (m *Topics) CreateIfAbsent(tc body.TopicConfig) (body.TopicConfig, bool, error) {
	m.mu.Lock()
	if old, ok := m.table[tc.TopicName]; ok {
		m.mu.Unlock()
		return old, false, nil
	}
	m.table[tc.TopicName] = tc
	m.bumpLocked()
	m.mu.Unlock()
	return tc, true, m.Persist()
}

// Delete removes a topic; it reports whether it existed.
func (m *Topics) Delete(topic string) (bool, error) {
	m.mu.Lock()
	if _, ok := m.table[topic]; !ok {
		m.mu.Unlock()
		return false, nil
	}
	delete(m.table, topic)
	m.bumpLocked()
	m.mu.Unlock()
	return true, m.Persist()
}

// CreateOnSend implements auto-creation on send (RocketMQ's
// createTopicInSendMessageMethod): the template defaultTopic must exist with the
// inherit bit; the new topic gets min(clientQueueNums, template write queues)
// queues (at least 1), the template's perm without the inherit bit and its
// filter type. autoCreate false disables it. It returns the topic's config,
// whether it was created, and ok false when the topic cannot be created.
func (m *Topics) CreateOnSend(topic, defaultTopic string, clientQueueNums int32, autoCreate bool) (tc body.TopicConfig, created, ok bool, err error) {
	if tc, ok := m.Get(topic); ok {
		return tc, false, true, nil
	}
	if !autoCreate {
		return body.TopicConfig{}, false, false, nil
	}
	def, ok := m.Get(defaultTopic)
	if !ok || def.Perm&body.PermInherit == 0 {
		return body.TopicConfig{}, false, false, nil
	}
	n := min(clientQueueNums, def.WriteQueueNums)
	if n < 1 {
		n = 1
	}
	tc = body.TopicConfig{
		TopicName:       topic,
		ReadQueueNums:   n,
		WriteQueueNums:  n,
		Perm:            def.Perm &^ body.PermInherit,
		TopicFilterType: def.TopicFilterType,
		TopicSysFlag:    def.TopicSysFlag,
	}
	if tc.TopicFilterType == "" {
		tc.TopicFilterType = FilterTypeSingleTag
	}
	tc, created, err = m.CreateIfAbsent(tc)
	return tc, created, true, err
}

// CreateRetryTopic makes %RETRY%<group> (queues from the group's
// retryQueueNums, perm 6) if it is missing.
func (m *Topics) CreateRetryTopic(group string, queues int32) (body.TopicConfig, bool, error) {
	return m.CreateIfAbsent(NewTopicConfig(RetryTopic(group), max(queues, 1), body.PermRead|body.PermWrite))
}

// CreateDLQTopic makes %DLQ%<group> (1 queue, perm 6, as RocketMQ 4.9
// creates it, so operators can read and re-drive dead letters with any
// consumer) if it is missing.
func (m *Topics) CreateDLQTopic(group string) (body.TopicConfig, bool, error) {
	return m.CreateIfAbsent(NewTopicConfig(DLQTopic(group), 1, body.PermRead|body.PermWrite))
}

// CreateOnFirstUse makes a system topic the broker writes into itself
// (RMQ_SYS_TRANS_HALF_TOPIC, RMQ_SYS_TRANS_OP_HALF_TOPIC) with 1 queue and
// perm 6 if it is missing, as RocketMQ 4.9 adds them to its table on first
// use. It reports whether it created the topic (then register soon).
func (m *Topics) CreateOnFirstUse(name string) (bool, error) {
	_, created, err := m.CreateIfAbsent(NewTopicConfig(name, 1, body.PermRead|body.PermWrite))
	return created, err
}

// Replace makes the table a copy of w (a slave adopting its master's topics)
// when w's DataVersion differs from the current one, and persists. It reports
// whether anything changed.
func (m *Topics) Replace(w body.TopicConfigWrapper) (bool, error) {
	m.mu.Lock()
	if m.version == w.DataVersion {
		m.mu.Unlock()
		return false, nil
	}
	m.table = make(map[string]body.TopicConfig, len(w.TopicConfigTable))
	for name, tc := range w.TopicConfigTable {
		tc.TopicName = name
		m.table[name] = tc
	}
	m.version = w.DataVersion
	m.mu.Unlock()
	return true, m.Persist()
}
