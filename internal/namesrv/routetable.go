package namesrv

import (
	"maps"
	"slices"
	"time"
)

// RouteTable is the name server's state: which brokers exist, which clusters they
// belong to, which queues each topic has on which broker, and when each broker
// address was last heard from. It is a plain state machine: no goroutines, no I/O,
// and time enters only as the now argument, so tests drive it step by step.
//
// RouteTable is not safe for concurrent use; Server guards it with a mutex. Methods
// that only read (Route, ClusterInfo, the topic lists) never modify it, so a
// read-write lock may let them run in parallel.
//
// Invariants (checked by checkInvariants in tests): every BrokerData has at least
// one address, and every topic has at least one QueueData.
type RouteTable struct {
	topics   map[string]map[string]*QueueData // topic → broker name → queues
	brokers  map[string]*BrokerData           // broker name → broker
	clusters map[string]map[string]struct{}   // cluster → broker names
	live     map[string]*liveInfo             // broker address → liveness
	filters  map[string][]string              // broker address → filter servers
}

// liveInfo is what the table knows about one registered broker address.
type liveInfo struct {
	lastUpdate   time.Time
	dataVersion  DataVersion
	connID       uint64
	haServerAddr string
}

// NewRouteTable returns an empty table.
func NewRouteTable() *RouteTable {
	return &RouteTable{
		topics:   map[string]map[string]*QueueData{},
		brokers:  map[string]*BrokerData{},
		clusters: map[string]map[string]struct{}{},
		live:     map[string]*liveInfo{},
		filters:  map[string][]string{},
	}
}

// Registration is one REGISTER_BROKER request, decoded.
type Registration struct {
	Cluster      string
	BrokerAddr   string
	BrokerName   string
	BrokerID     int64
	HAServerAddr string
	// Topics is the broker's topic table. Queue data is taken from it only for a
	// master (BrokerID 0), and only when its DataVersion differs from the stored
	// one or id 0 had no address or another address before.
	Topics TopicConfigWrapper
	// FilterServers replaces the address's filter-server list; nil or empty
	// removes it.
	FilterServers []string
	// ConnID is the connection the registration arrived on; closing it drops the
	// address.
	ConnID uint64
}

// RegisterResult is the answer to a registration. For a slave whose master is
// registered and alive, it names the master and its HA address; otherwise both are
// empty.
type RegisterResult struct {
	HAServerAddr string
	MasterAddr   string
	// NewAddr reports that the address had no liveness entry before this
	// registration (a broker coming up, or back after being dropped).
	NewAddr bool
}

// Register records a broker registration at time now.
//
// One address holds one id per broker name: the same address registered under
// a new id loses its old id first (a slave promoted to master, a master
// demoted to slave), as RocketMQ's RouteInfoManager does. An id registered
// from a new address replaces the old address (a new master registering id 0);
// the old address's liveness stays until it expires, its connection closes or
// it registers again, and dropping it then removes only entries that still
// name it. Topics absent from r.Topics keep their queue data, so a broker may
// register incrementally.
func (t *RouteTable) Register(r Registration, now time.Time) RegisterResult {
	names := t.clusters[r.Cluster]
	if names == nil {
		names = map[string]struct{}{}
		t.clusters[r.Cluster] = names
	}
	names[r.BrokerName] = struct{}{}

	first := false
	bd := t.brokers[r.BrokerName]
	if bd == nil {
		first = true
		bd = &BrokerData{Cluster: r.Cluster, BrokerName: r.BrokerName, Addrs: map[int64]string{}}
		t.brokers[r.BrokerName] = bd
	}
	// One address has one id: drop any other id this address held.
	for id, addr := range bd.Addrs {
		if addr == r.BrokerAddr && id != r.BrokerID {
			delete(bd.Addrs, id)
		}
	}
	old, had := bd.Addrs[r.BrokerID]
	bd.Addrs[r.BrokerID] = r.BrokerAddr
	// A master at a new address (a failover) counts as a first registration,
	// so its topic table is taken whatever its data version: a promoted slave
	// registers the version it copied from the old master. RocketMQ 4.9 counts
	// only an id that had no address.
	first = first || !had || old != r.BrokerAddr

	if r.BrokerID == MasterID && (first || t.versionChanged(r.BrokerAddr, r.Topics.DataVersion)) {
		for name, tc := range r.Topics.TopicConfigTable {
			if tc.TopicName == "" {
				tc.TopicName = name
			}
			t.updateQueueData(r.BrokerName, tc)
		}
	}

	prev := t.live[r.BrokerAddr]
	t.live[r.BrokerAddr] = &liveInfo{
		lastUpdate:   now,
		dataVersion:  r.Topics.DataVersion,
		connID:       r.ConnID,
		haServerAddr: r.HAServerAddr,
	}

	if len(r.FilterServers) == 0 {
		delete(t.filters, r.BrokerAddr)
	} else {
		t.filters[r.BrokerAddr] = slices.Clone(r.FilterServers)
	}

	res := RegisterResult{NewAddr: prev == nil}
	if r.BrokerID != MasterID {
		if master, ok := bd.Addrs[MasterID]; ok {
			if li := t.live[master]; li != nil {
				res.HAServerAddr = li.haServerAddr
				res.MasterAddr = master
			}
		}
	}
	return res
}

// versionChanged reports whether v differs from the version stored for addr, or
// addr has none.
func (t *RouteTable) versionChanged(addr string, v DataVersion) bool {
	li := t.live[addr]
	return li == nil || li.dataVersion != v
}

func (t *RouteTable) updateQueueData(brokerName string, tc TopicConfig) {
	qd := &QueueData{
		BrokerName:     brokerName,
		ReadQueueNums:  tc.ReadQueueNums,
		WriteQueueNums: tc.WriteQueueNums,
		Perm:           tc.Perm,
		TopicSysFlag:   tc.TopicSysFlag,
	}
	m := t.topics[tc.TopicName]
	if m == nil {
		m = map[string]*QueueData{}
		t.topics[tc.TopicName] = m
	}
	m[brokerName] = qd
}

// Unregister removes the id brokerID of brokerName if it still maps to addr, and
// the liveness and filter servers of addr unless a broker name still lists addr
// under another id (UNREGISTER_BROKER). A broker name with no address left goes
// away together with its queue data; topics left without queue data disappear.
//
// The address check is Petrel's (RocketMQ removes the id whatever its address):
// when a master changes, the old master's broker closes and unregisters as id 0
// possibly after the new master registered id 0 from its own address, and that
// late request must not take the new master out of the routes. Likewise an
// address that has since registered under another id (a demoted master now a
// slave) keeps that entry and its liveness.
func (t *RouteTable) Unregister(cluster, addr, brokerName string, brokerID int64) {
	bd := t.brokers[brokerName]
	if bd != nil && bd.Addrs[brokerID] == addr {
		delete(bd.Addrs, brokerID)
	}
	if !t.listed(addr) {
		delete(t.live, addr)
		delete(t.filters, addr)
	}
	if bd == nil || len(bd.Addrs) > 0 {
		return
	}
	delete(t.brokers, brokerName)
	if names := t.clusters[cluster]; names != nil {
		delete(names, brokerName)
		if len(names) == 0 {
			delete(t.clusters, cluster)
		}
	}
	t.removeQueueDataOf(brokerName)
}

// listed reports whether any broker name lists addr under some id.
func (t *RouteTable) listed(addr string) bool {
	for _, bd := range t.brokers {
		for _, a := range bd.Addrs {
			if a == addr {
				return true
			}
		}
	}
	return false
}

// removeQueueDataOf drops brokerName's queue data from every topic, and topics
// left without any.
func (t *RouteTable) removeQueueDataOf(brokerName string) {
	for topic, m := range t.topics {
		delete(m, brokerName)
		if len(m) == 0 {
			delete(t.topics, topic)
		}
	}
}

// Scan drops every broker address silent for more than timeout at time now, as a
// closed connection would, and returns what it dropped sorted by address.
func (t *RouteTable) Scan(now time.Time, timeout time.Duration) []DroppedBroker {
	var dropped []DroppedBroker
	for _, addr := range slices.Sorted(maps.Keys(t.live)) {
		li := t.live[addr]
		if now.Sub(li.lastUpdate) > timeout {
			dropped = append(dropped, t.dropAddr(addr))
		}
	}
	return dropped
}

// ConnClosed drops every broker address whose latest registration arrived on
// connection connID, and returns what it dropped sorted by address. An address
// that re-registered on a newer connection is kept.
func (t *RouteTable) ConnClosed(connID uint64) []DroppedBroker {
	var dropped []DroppedBroker
	for _, addr := range slices.Sorted(maps.Keys(t.live)) {
		if t.live[addr].connID == connID {
			dropped = append(dropped, t.dropAddr(addr))
		}
	}
	return dropped
}

// dropAddr removes addr's liveness and filter servers and the address from every
// broker name that lists it; names left with no address go away with their queue
// data.
func (t *RouteTable) dropAddr(addr string) DroppedBroker {
	d := DroppedBroker{Addr: addr}
	if li := t.live[addr]; li != nil {
		d.ConnID, d.LastUpdate = li.connID, li.lastUpdate
	}
	delete(t.live, addr)
	delete(t.filters, addr)
	for _, name := range slices.Sorted(maps.Keys(t.brokers)) {
		bd := t.brokers[name]
		for id, a := range bd.Addrs {
			if a == addr {
				delete(bd.Addrs, id)
			}
		}
		if len(bd.Addrs) == 0 {
			delete(t.brokers, name)
			d.RemovedNames = append(d.RemovedNames, name)
		}
	}
	for _, name := range d.RemovedNames {
		for cluster, names := range t.clusters {
			delete(names, name)
			if len(names) == 0 {
				delete(t.clusters, cluster)
			}
		}
		t.removeQueueDataOf(name)
	}
	return d
}

// Route returns the route of topic, or false when the topic has no queue data or
// none of its brokers is registered (TOPIC_NOT_EXIST). The result is a copy the
// caller owns; OrderTopicConf is left empty for the caller to fill in.
func (t *RouteTable) Route(topic string) (*TopicRouteData, bool) {
	m := t.topics[topic]
	if len(m) == 0 {
		return nil, false
	}
	rd := &TopicRouteData{FilterServerTable: map[string][]string{}}
	for _, name := range slices.Sorted(maps.Keys(m)) {
		rd.QueueDatas = append(rd.QueueDatas, *m[name])
		bd := t.brokers[name]
		if bd == nil {
			continue
		}
		rd.BrokerDatas = append(rd.BrokerDatas, bd.Clone())
		for _, addr := range bd.Addrs {
			if fs := t.filters[addr]; len(fs) > 0 {
				rd.FilterServerTable[addr] = slices.Clone(fs)
			}
		}
	}
	if len(rd.BrokerDatas) == 0 {
		return nil, false
	}
	return rd, true
}

// ClusterInfo returns a copy of every broker and cluster.
func (t *RouteTable) ClusterInfo() *ClusterInfo {
	ci := &ClusterInfo{
		BrokerAddrTable:  make(map[string]*BrokerData, len(t.brokers)),
		ClusterAddrTable: make(map[string][]string, len(t.clusters)),
	}
	for name, bd := range t.brokers {
		ci.BrokerAddrTable[name] = bd.Clone()
	}
	for cluster, names := range t.clusters {
		ci.ClusterAddrTable[cluster] = slices.Sorted(maps.Keys(names))
	}
	return ci
}

// Topics returns every topic name, sorted.
func (t *RouteTable) Topics() []string {
	return slices.Sorted(maps.Keys(t.topics))
}

// TopicsByCluster returns the sorted names of topics with queue data on a broker of
// cluster; an unknown cluster gives none.
func (t *RouteTable) TopicsByCluster(cluster string) []string {
	names := t.clusters[cluster]
	var out []string
	for topic, m := range t.topics {
		for name := range m {
			if _, ok := names[name]; ok {
				out = append(out, topic)
				break
			}
		}
	}
	slices.Sort(out)
	return out
}

// SystemTopics returns the names RocketMQ treats as system topics on the name
// server: every cluster name and every broker name, sorted and deduplicated, and
// the address of one broker (the lowest id of the first broker name) so a tool
// knows where to ask for more; "" when no broker is registered.
func (t *RouteTable) SystemTopics() (topics []string, brokerAddr string) {
	set := map[string]struct{}{}
	for cluster, names := range t.clusters {
		set[cluster] = struct{}{}
		for n := range names {
			set[n] = struct{}{}
		}
	}
	if len(t.brokers) > 0 {
		bd := t.brokers[slices.Min(slices.Collect(maps.Keys(t.brokers)))]
		brokerAddr = bd.Addrs[slices.Min(slices.Collect(maps.Keys(bd.Addrs)))]
	}
	return slices.Sorted(maps.Keys(set)), brokerAddr
}

// DeleteTopic removes topic's queue data. With cluster "" it removes the topic
// entirely; otherwise only the queue data of that cluster's brokers, and the topic
// once none is left.
func (t *RouteTable) DeleteTopic(topic, cluster string) {
	if cluster == "" {
		delete(t.topics, topic)
		return
	}
	m := t.topics[topic]
	if m == nil {
		return
	}
	for name := range t.clusters[cluster] {
		delete(m, name)
	}
	if len(m) == 0 {
		delete(t.topics, topic)
	}
}

// WipeWritePerm clears the write bit of every topic's queue data on brokerName, so
// producers move away before maintenance, and returns how many topics it touched.
// A later registration restores the broker's perms only if its data version
// changed.
func (t *RouteTable) WipeWritePerm(brokerName string) int {
	n := 0
	for _, m := range t.topics {
		if qd := m[brokerName]; qd != nil {
			qd.Perm &^= PermWrite
			n++
		}
	}
	return n
}

// AddWritePerm sets the perm of every topic's queue data on brokerName to read and
// write (6), as Java does, and returns how many topics it touched.
func (t *RouteTable) AddWritePerm(brokerName string) int {
	n := 0
	for _, m := range t.topics {
		if qd := m[brokerName]; qd != nil {
			qd.Perm = PermRead | PermWrite
			n++
		}
	}
	return n
}

// QueryDataVersion compares v with the version stored for addr (QUERY_DATA_VERSION).
// When they are equal the address's liveness is refreshed to now. It returns
// whether they differ and the stored version, if any.
func (t *RouteTable) QueryDataVersion(addr string, v DataVersion, now time.Time) (changed bool, stored *DataVersion) {
	li := t.live[addr]
	if li == nil {
		return true, nil
	}
	if li.dataVersion != v {
		dv := li.dataVersion
		return true, &dv
	}
	li.lastUpdate = now
	dv := li.dataVersion
	return false, &dv
}
