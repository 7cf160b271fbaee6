package broker

import (
	"maps"
	"sync"

	"github.com/petrelmq/petrel/pkg/clock"
	"github.com/petrelmq/petrel/pkg/protocol/body"
)

const groupsConfigFileName = "subscriptionGroup.json"

// systemGroups are created at start, as the Java broker does.
var systemGroups = []string{"TOOLS_CONSUMER", "FILTERSRV_CONSUMER", "SELF_TEST_C_GROUP", "CID_SYS_RMQ_TRANS", "CID_ONSAPI_PERMISSION", "CID_ONSAPI_OWNER", "CID_ONSAPI_PULL", "CID_ONS-HTTP-PROXY"}

// groupManager owns the subscription-group table, persisted as
// config/subscriptionGroup.json (SubscriptionGroupWrapper). Same concurrency
// rules as topicManager.
type groupManager struct {
	clk clock.Clock
	cs  configStore

	mu      sync.RWMutex
	table   map[string]body.SubscriptionGroupConfig
	version body.DataVersion

	persistMu sync.Mutex
}

func newGroupManager(clk clock.Clock) *groupManager {
	return &groupManager{clk: clk, table: map[string]body.SubscriptionGroupConfig{}}
}

func (m *groupManager) load(cs configStore) error {
	m.cs = cs
	var w body.SubscriptionGroupWrapper
	found, err := loadJSON(cs, groupsConfigFileName, &w)
	if err != nil {
		return err
	}
	m.mu.Lock()
	if found {
		for name, g := range w.SubscriptionGroupTable {
			g.GroupName = name
			m.table[name] = g
		}
		m.version = w.DataVersion
	}
	for _, g := range systemGroups {
		if _, ok := m.table[g]; !ok {
			m.table[g] = body.DefaultSubscriptionGroupConfig(g)
		}
	}
	m.bumpLocked()
	m.mu.Unlock()
	return m.persist()
}

func (m *groupManager) bumpLocked() {
	m.version.Counter++
	m.version.Timestamp = m.clk.Now().UnixMilli()
}

func (m *groupManager) snapshot() body.SubscriptionGroupWrapper {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return body.SubscriptionGroupWrapper{SubscriptionGroupTable: maps.Clone(m.table), DataVersion: m.version}
}

func (m *groupManager) persist() error {
	if m.cs == nil {
		return nil
	}
	m.persistMu.Lock()
	defer m.persistMu.Unlock()
	return saveJSON(m.cs, groupsConfigFileName, m.snapshot())
}

func (m *groupManager) get(group string) (body.SubscriptionGroupConfig, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	g, ok := m.table[group]
	return g, ok
}

// findOrCreate returns the group's config, creating it with the defaults when
// autoCreate is set. ok is false when the group is unknown and not created.
func (m *groupManager) findOrCreate(group string, autoCreate bool) (g body.SubscriptionGroupConfig, ok bool, err error) {
	if g, ok := m.get(group); ok {
		return g, true, nil
	}
	if !autoCreate || group == "" {
		return body.SubscriptionGroupConfig{}, false, nil
	}
	m.mu.Lock()
	if g, ok := m.table[group]; ok {
		m.mu.Unlock()
		return g, true, nil
	}
	g = body.DefaultSubscriptionGroupConfig(group)
	m.table[group] = g
	m.bumpLocked()
	m.mu.Unlock()
	return g, true, m.persist()
}

// put creates or replaces a group.
func (m *groupManager) put(g body.SubscriptionGroupConfig) error {
	m.mu.Lock()
	m.table[g.GroupName] = g
	m.bumpLocked()
	m.mu.Unlock()
	return m.persist()
}

// delete removes a group; it reports whether it existed.
func (m *groupManager) delete(group string) (bool, error) {
	m.mu.Lock()
	if _, ok := m.table[group]; !ok {
		m.mu.Unlock()
		return false, nil
	}
	delete(m.table, group)
	m.bumpLocked()
	m.mu.Unlock()
	return true, m.persist()
}
