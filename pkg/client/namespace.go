package client

import "strings"

// Topic and group prefixes RocketMQ reserves.
const (
	RetryGroupTopicPrefix = "%RETRY%"
	DLQGroupTopicPrefix   = "%DLQ%"
	// AutoCreateTopicKey is the topic whose route a producer borrows to send to
	// a topic that does not exist yet (RocketMQ's TBW102).
	AutoCreateTopicKey = "TBW102"
)

// WrapName returns a topic or group name with the namespace applied: ns%name,
// and %RETRY%ns%group / %DLQ%ns%group for retry and dead-letter topics. Names
// that already carry the namespace, and the auto-create topic, are returned
// unchanged, as is every name when ns is empty.
func WrapName(ns, name string) string {
	if ns == "" || name == "" || name == AutoCreateTopicKey {
		return name
	}
	for _, p := range []string{RetryGroupTopicPrefix, DLQGroupTopicPrefix} {
		if rest, ok := strings.CutPrefix(name, p); ok {
			if strings.HasPrefix(rest, ns+"%") {
				return name
			}
			return p + ns + "%" + rest
		}
	}
	if strings.HasPrefix(name, ns+"%") {
		return name
	}
	return ns + "%" + name
}

// UnwrapName removes the namespace WrapName adds; other names are returned
// unchanged.
func UnwrapName(ns, name string) string {
	if ns == "" {
		return name
	}
	for _, p := range []string{RetryGroupTopicPrefix, DLQGroupTopicPrefix} {
		if rest, ok := strings.CutPrefix(name, p); ok {
			if r, ok := strings.CutPrefix(rest, ns+"%"); ok {
				return p + r
			}
			return name
		}
	}
	if r, ok := strings.CutPrefix(name, ns+"%"); ok {
		return r
	}
	return name
}

// Wrap applies the client's namespace to a topic or group name (see WrapName).
func (c *Client) Wrap(name string) string { return WrapName(c.cfg.namespace, name) }

// Unwrap removes the client's namespace from a name (see UnwrapName).
func (c *Client) Unwrap(name string) string { return UnwrapName(c.cfg.namespace, name) }
