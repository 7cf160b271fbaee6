package broker

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/petrelmq/petrel/pkg/clock"
	"github.com/petrelmq/petrel/pkg/protocol/body"
)

// Names of topics and prefixes the broker treats specially (TopicValidator and
// MixAll in RocketMQ).
const (
	TopicAutoCreate      = "TBW102"
	TopicSchedule        = "SCHEDULE_TOPIC_XXXX"
	TopicSelfTest        = "SELF_TEST_TOPIC"
	TopicOffsetMoved     = "OFFSET_MOVED_EVENT"
	TopicBenchmark       = "BenchmarkTest"
	TopicTransHalf       = "RMQ_SYS_TRANS_HALF_TOPIC"
	TopicTransOpHalf     = "RMQ_SYS_TRANS_OP_HALF_TOPIC"
	TopicTransCheckMax   = "TRANS_CHECK_MAX_TIME_TOPIC"
	TopicTrace           = "RMQ_SYS_TRACE_TOPIC"
	RetryTopicPrefix     = "%RETRY%"
	DLQTopicPrefix       = "%DLQ%"
	ReplyTopicSuffix     = "_REPLY_TOPIC"
	sysTopicPrefix       = "rmq_sys_"
	maxTopicLength       = 127
	scheduleQueueNums    = 18
	filterTypeSingleTag  = "SINGLE_TAG"
	filterTypeMultiTag   = "MULTI_TAG"
	topicsConfigFileName = "topics.json"
)

// RetryTopic returns %RETRY%<group>.
func RetryTopic(group string) string { return RetryTopicPrefix + group }

// DLQTopic returns %DLQ%<group>.
func DLQTopic(group string) string { return DLQTopicPrefix + group }

// errBadTopicName is wrapped by validateTopicName.
var errBadTopicName = errors.New("illegal topic name")

// validateTopicName applies RocketMQ's rule: ^[%|a-zA-Z0-9_-]+$, at most 127
// characters.
func validateTopicName(t string) error {
	if t == "" {
		return fmt.Errorf("%w: empty", errBadTopicName)
	}
	if len(t) > maxTopicLength {
		return fmt.Errorf("%w: %d characters, at most %d allowed", errBadTopicName, len(t), maxTopicLength)
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '%' || c == '|' || c == '_' || c == '-') {
			return fmt.Errorf("%w: character %q; only letters, digits, %%, |, _ and - are allowed", errBadTopicName, c)
		}
	}
	return nil
}

// isSendForbiddenTopic reports topics clients may not send to
// (TopicValidator.isNotAllowedSendTopic).
func isSendForbiddenTopic(t string) bool {
	switch t {
	case TopicSchedule, TopicTransHalf, TopicTransOpHalf, TopicTransCheckMax, TopicSelfTest, TopicOffsetMoved, TopicTimer:
		return true
	}
	return false
}

// isSystemTopic reports topics admin tools may not create or delete.
func isSystemTopic(t string) bool {
	switch t {
	case TopicAutoCreate, TopicSchedule, TopicBenchmark, TopicTransHalf, TopicTransOpHalf,
		TopicTransCheckMax, TopicSelfTest, TopicOffsetMoved, TopicTrace:
		return true
	}
	return strings.HasPrefix(t, sysTopicPrefix)
}

// configStore is the part of the store that keeps config files.
type configStore interface {
	LoadConfig(name string) ([]byte, error)
	SaveConfig(name string, data []byte) error
}

// loadJSON reads config file name through cs into v. A missing or empty file
// leaves v alone and reports false.
func loadJSON(cs configStore, name string, v any) (bool, error) {
	data, err := cs.LoadConfig(name)
	if err != nil {
		return false, fmt.Errorf("broker: load %s: %w", name, err)
	}
	if len(data) == 0 {
		return false, nil
	}
	if err := json.Unmarshal(data, v); err != nil {
		return false, fmt.Errorf("broker: parse %s: %w", name, err)
	}
	return true, nil
}

// saveJSON writes v as config file name through cs (atomically, keeping .bak).
func saveJSON(cs configStore, name string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if err := cs.SaveConfig(name, data); err != nil {
		return fmt.Errorf("broker: save %s: %w", name, err)
	}
	return nil
}

// topicManager owns the topic table and its DataVersion, persisted as
// config/topics.json in RocketMQ's TopicConfigSerializeWrapper shape.
//
// All methods are safe for concurrent use. Changes bump the DataVersion and are
// written through at once; mu is never held while writing (persistMu orders
// the writes, and each write takes a fresh snapshot, so the file always ends
// with the latest table).
type topicManager struct {
	clk clock.Clock
	cs  configStore

	mu      sync.RWMutex
	table   map[string]body.TopicConfig
	version body.DataVersion

	persistMu sync.Mutex
}

func newTopicManager(clk clock.Clock) *topicManager {
	return &topicManager{clk: clk, table: map[string]body.TopicConfig{}}
}

// load reads topics.json through cs and adds the system topics cfg asks for.
// It keeps cs for later writes.
func (m *topicManager) load(cs configStore, cfg *Config) error {
	m.cs = cs
	var w body.TopicConfigWrapper
	found, err := loadJSON(cs, topicsConfigFileName, &w)
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
	sys := func(name string, queues int32, perm int32) {
		if _, ok := m.table[name]; !ok {
			m.table[name] = newTopicConfig(name, queues, perm)
		}
	}
	if cfg.AutoCreateTopicEnable {
		sys(TopicAutoCreate, int32(cfg.DefaultTopicQueueNums), body.PermInherit|body.PermRead|body.PermWrite)
	}
	sys(TopicSelfTest, 1, body.PermRead|body.PermWrite)
	sys(cfg.ClusterName, 16, body.PermInherit)
	sys(cfg.BrokerName, 1, body.PermInherit)
	sys(TopicOffsetMoved, 1, body.PermRead|body.PermWrite)
	sys(TopicSchedule, scheduleQueueNums, body.PermRead|body.PermWrite)
	sys(cfg.ClusterName+ReplyTopicSuffix, 1, body.PermRead|body.PermWrite)
	m.bumpLocked()
	m.mu.Unlock()
	return m.persist()
}

func newTopicConfig(name string, queues, perm int32) body.TopicConfig {
	return body.TopicConfig{
		TopicName:       name,
		ReadQueueNums:   queues,
		WriteQueueNums:  queues,
		Perm:            perm,
		TopicFilterType: filterTypeSingleTag,
	}
}

// bumpLocked advances the DataVersion. Caller holds mu for writing.
func (m *topicManager) bumpLocked() {
	m.version.Counter++
	m.version.Timestamp = m.clk.Now().UnixMilli()
}

// persist writes the current table. Errors are returned; the in-memory table
// stays authoritative either way.
func (m *topicManager) persist() error {
	if m.cs == nil {
		return nil
	}
	m.persistMu.Lock()
	defer m.persistMu.Unlock()
	return saveJSON(m.cs, topicsConfigFileName, m.snapshot())
}

// snapshot returns a copy of the table with its version (the registration body
// and GET_ALL_TOPIC_CONFIG).
func (m *topicManager) snapshot() body.TopicConfigWrapper {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return body.TopicConfigWrapper{DataVersion: m.version, TopicConfigTable: maps.Clone(m.table)}
}

// dataVersion returns the current version.
func (m *topicManager) dataVersion() body.DataVersion {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.version
}

// get returns a topic's config.
func (m *topicManager) get(topic string) (body.TopicConfig, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	tc, ok := m.table[topic]
	return tc, ok
}

// names returns every topic name, sorted.
func (m *topicManager) names() []string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return slices.Sorted(maps.Keys(m.table))
}

// put creates or replaces a topic and persists. It reports whether anything
// changed.
func (m *topicManager) put(tc body.TopicConfig) (bool, error) {
	m.mu.Lock()
	if old, ok := m.table[tc.TopicName]; ok && old == tc {
		m.mu.Unlock()
		return false, nil
	}
	m.table[tc.TopicName] = tc
	m.bumpLocked()
	m.mu.Unlock()
	return true, m.persist()
}

// createIfAbsent adds tc unless the topic exists. It returns the topic's config
// and whether it was created.
func (m *topicManager) createIfAbsent(tc body.TopicConfig) (body.TopicConfig, bool, error) {
	m.mu.Lock()
	if old, ok := m.table[tc.TopicName]; ok {
		m.mu.Unlock()
		return old, false, nil
	}
	m.table[tc.TopicName] = tc
	m.bumpLocked()
	m.mu.Unlock()
	return tc, true, m.persist()
}

// delete removes a topic; it reports whether it existed.
func (m *topicManager) delete(topic string) (bool, error) {
	m.mu.Lock()
	if _, ok := m.table[topic]; !ok {
		m.mu.Unlock()
		return false, nil
	}
	delete(m.table, topic)
	m.bumpLocked()
	m.mu.Unlock()
	return true, m.persist()
}

// createOnSend implements auto-creation on send (RocketMQ's
// createTopicInSendMessageMethod): the template defaultTopic must exist with the
// inherit bit; the new topic gets min(clientQueueNums, template write queues)
// queues (at least 1), the template's perm without the inherit bit and its
// filter type. autoCreate false disables it. It returns the topic's config,
// whether it was created, and ok false when the topic cannot be created.
func (m *topicManager) createOnSend(topic, defaultTopic string, clientQueueNums int32, autoCreate bool) (tc body.TopicConfig, created, ok bool, err error) {
	if tc, ok := m.get(topic); ok {
		return tc, false, true, nil
	}
	if !autoCreate {
		return body.TopicConfig{}, false, false, nil
	}
	def, ok := m.get(defaultTopic)
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
		tc.TopicFilterType = filterTypeSingleTag
	}
	tc, created, err = m.createIfAbsent(tc)
	return tc, created, true, err
}

// createRetryTopic makes %RETRY%<group> (queues from the group's
// retryQueueNums, perm 6) if it is missing.
func (m *topicManager) createRetryTopic(group string, queues int32) (body.TopicConfig, bool, error) {
	return m.createIfAbsent(newTopicConfig(RetryTopic(group), max(queues, 1), body.PermRead|body.PermWrite))
}

// createDLQTopic makes %DLQ%<group> (1 queue, perm 2: write-only, as RocketMQ
// 4.x creates it) if it is missing.
func (m *topicManager) createDLQTopic(group string) (body.TopicConfig, bool, error) {
	return m.createIfAbsent(newTopicConfig(DLQTopic(group), 1, body.PermWrite))
}
