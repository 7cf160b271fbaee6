package meta

import (
	"maps"
	"sync"

	"github.com/petrelmq/petrel/pkg/clock"
	"github.com/petrelmq/petrel/pkg/protocol/body"
)

const groupsConfigFileName = "subscriptionGroup.json"

// systemGroups are created at start, as the Java broker does.
var systemGroups = []string{"TOOLS_CONSUMER", "FILTERSRV_CONSUMER", "SELF_TEST_C_GROUP", "CID_SYS_RMQ_TRANS", "CID_ONSAPI_PERMISSION", "CID_ONSAPI_OWNER", "CID_ONSAPI_PULL", "CID_ONS-HTTP-PROXY"}

// Groups owns the subscription-group table, persisted as
// config/subscriptionGroup.json (SubscriptionGroupWrapper). Same concurrency
// rules as Topics.
type Groups struct {
	clk clock.Clock
	cs  ConfigStore

	mu      sync.RWMutex
	table   map[string]body.SubscriptionGroupConfig
	version body.DataVersion

	persistMu sync.Mutex
}

// NewGroups returns an empty table; Load fills it.
func NewGroups(clk clock.Clock) *Groups {
	return &Groups{clk: clk, table: map[string]body.SubscriptionGroupConfig{}}
}

// Load reads subscriptionGroup.json through cs, adds RocketMQ's system
// groups and keeps cs for later writes.
func (m *Groups) Load(cs ConfigStore) error {
	m.cs = cs
	var w body.SubscriptionGroupWrapper
	found, err := LoadJSON(cs, groupsConfigFileName, &w)
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
	return m.Persist()
}

func (m *Groups) bumpLocked() {
	m.version.Counter++
	m.version.Timestamp = m.clk.Now().UnixMilli()
}

// Snapshot returns a copy of the table with its version
// (GET_ALL_SUBSCRIPTIONGROUP_CONFIG).
func (m *Groups) Snapshot() body.SubscriptionGroupWrapper {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return body.SubscriptionGroupWrapper{SubscriptionGroupTable: maps.Clone(m.table), DataVersion: m.version}
}

// Persist writes the current table.
func (m *Groups) Persist() error {
	if m.cs == nil {
		return nil
	}
	m.persistMu.Lock()
	defer m.persistMu.Unlock()
	return SaveJSON(m.cs, groupsConfigFileName, m.Snapshot())
}

// Get returns a group's config.
func (m *Groups) Get(group string) (body.SubscriptionGroupConfig, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	g, ok := m.table[group]
	return g, ok
}

// FindOrCreate returns the group's config, creating it with the defaults when
// autoCreate is set. ok is false when the group is unknown and not created.
func (m *Groups) FindOrCreate(group string, autoCreate bool) (g body.SubscriptionGroupConfig, ok bool, err error) {
	if g, ok := m.Get(group); ok {
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
	return g, true, m.Persist()
}

// Put creates or replaces a group.
func (m *Groups) Put(g body.SubscriptionGroupConfig) error {
	m.mu.Lock()
	m.table[g.GroupName] = g
	m.bumpLocked()
	m.mu.Unlock()
	return m.Persist()
}

// Delete removes a group; it reports whether it existed.
func (m *Groups) Delete(group string) (bool, error) {
	m.mu.Lock()
	if _, ok := m.table[group]; !ok {
		m.mu.Unlock()
		return false, nil
	}
	delete(m.table, group)
	m.bumpLocked()
	m.mu.Unlock()
	return true, m.Persist()
}

// Replace makes the table a copy of w (a slave adopting its master's groups)
// when w's DataVersion differs from the current one, and persists. It reports
// whether anything changed.
func (m *Groups) Replace(w body.SubscriptionGroupWrapper) (bool, error) {
	m.mu.Lock()
	if m.version == w.DataVersion {
		m.mu.Unlock()
		return false, nil
	}
	m.table = make(map[string]body.SubscriptionGroupConfig, len(w.SubscriptionGroupTable))
	for name, g := range w.SubscriptionGroupTable {
		g.GroupName = name
		m.table[name] = g
	}
	m.version = w.DataVersion
	m.mu.Unlock()
	return true, m.Persist()
}
