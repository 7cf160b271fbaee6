package clients

import "github.com/petrelmq/petrel/pkg/remoting"

// ProducerConnByClientID returns an open connection on which the client with
// id clientID registered a producer group, or nil. The broker pushes a reply
// (PUSH_REPLY_MESSAGE_TO_CLIENT) to the requester named by a reply message's
// REPLY_TO_CLIENT property this way, as RocketMQ looks the channel up among
// producers. If no producer channel matches, consumer channels are searched
// too (a Go process shares one client id and one connection among its
// producers and consumers, and a requester that has never published learns
// no broker address, so its only heartbeats may be its consumers'). With
// several matches the one heard from most recently wins.
func (m *Manager) ProducerConnByClientID(clientID string) *remoting.Conn {
	m.mu.Lock()
	defer m.mu.Unlock()
	var best *ChannelInfo
	for _, chans := range m.mu.reg.producers {
		for _, ch := range chans {
			if ch.ClientID != clientID || m.mu.conns[ch.ConnID] == nil {
				continue
			}
			if best == nil || ch.LastUpdate.After(best.LastUpdate) {
				best = ch
			}
		}
	}
	if best == nil {
		for _, g := range m.mu.reg.consumers {
			for _, ch := range g.channels {
				if ch.ClientID == clientID && m.mu.conns[ch.ConnID] != nil &&
					(best == nil || ch.LastUpdate.After(best.LastUpdate)) {
					best = ch
				}
			}
		}
	}
	if best == nil {
		return nil
	}
	return m.mu.conns[best.ConnID]
}

// ClientConn is an open connection of a client, with the client's id.
type ClientConn struct {
	ClientID string
	Conn     *remoting.Conn
}

// ConsumerClients returns the open connections of consumer group group with
// their client ids, sorted by client id; nil if none. The broker relays
// admin requests to a group's clients this way (GET_CONSUMER_RUNNING_INFO,
// CONSUME_MESSAGE_DIRECTLY, GET_CONSUMER_STATUS_FROM_CLIENT).
func (m *Manager) ConsumerClients(group string) []ClientConn {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []ClientConn
	for _, ch := range m.mu.reg.ConsumerChannels(group) {
		if c := m.mu.conns[ch.ConnID]; c != nil {
			out = append(out, ClientConn{ClientID: ch.ClientID, Conn: c})
		}
	}
	return out
}
