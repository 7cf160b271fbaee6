package meta

import (
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"

	"github.com/petrelmq/petrel/pkg/protocol/body"
)

// KeyDuplicateWindowSeconds is the de-duplication window, in seconds: the
// broker.conf key (the default of every topic) and the topic attribute (one
// topic's window; 0 turns it off for the topic). docs/design/dedup.md.
const KeyDuplicateWindowSeconds = "duplicateWindowSeconds"

// MaxDuplicateWindow is the longest de-duplication window accepted (a day):
// recovery scans the window's span of the commit log.
const MaxDuplicateWindow = 24 * time.Hour

// SameTopicConfig reports whether two topic configs are equal, attributes
// included.
func SameTopicConfig(a, b body.TopicConfig) bool {
	return a.TopicName == b.TopicName && a.ReadQueueNums == b.ReadQueueNums && a.WriteQueueNums == b.WriteQueueNums &&
		a.Perm == b.Perm && a.TopicFilterType == b.TopicFilterType && a.TopicSysFlag == b.TopicSysFlag &&
		a.Order == b.Order && maps.Equal(a.Attributes, b.Attributes)
}

// DuplicateWindow returns tc's de-duplication window: its
// duplicateWindowSeconds attribute when set, else def.
func DuplicateWindow(tc body.TopicConfig, def time.Duration) time.Duration {
	v, ok := tc.Attributes[KeyDuplicateWindowSeconds]
	if !ok {
		return def
	}
	d, err := ParseDuplicateWindow(v)
	if err != nil {
		return def // validated when set; a hand-edited topics.json falls back
	}
	return d
}

// ParseDuplicateWindow parses a duplicateWindowSeconds value: whole seconds,
// 0 (off) to MaxDuplicateWindow.
func ParseDuplicateWindow(v string) (time.Duration, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || n < 0 || time.Duration(n)*time.Second > MaxDuplicateWindow {
		return 0, fmt.Errorf("want whole seconds from 0 (off) to %d, got %q", int64(MaxDuplicateWindow/time.Second), v)
	}
	return time.Duration(n) * time.Second, nil
}

// knownAttributes are the topic attributes Petrel accepts, with their checks.
var knownAttributes = map[string]func(string) error{
	KeyDuplicateWindowSeconds: func(v string) error { _, err := ParseDuplicateWindow(v); return err },
}

// ApplyAttributes applies UPDATE_AND_CREATE_TOPIC's attributes field, in
// RocketMQ 5's form ("+key=value,-key": + sets, - removes), to a copy of old
// and returns it (nil when empty). An unknown key or a bad value is an error
// that names it; old is never modified.
func ApplyAttributes(old map[string]string, spec string) (map[string]string, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return old, nil
	}
	out := maps.Clone(old)
	if out == nil {
		out = map[string]string{}
	}
	for _, item := range strings.Split(spec, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		op, kv := item[0], item[1:]
		k, v, hasValue := strings.Cut(kv, "=")
		check, known := knownAttributes[k]
		switch {
		case op != '+' && op != '-':
			return nil, fmt.Errorf("topic attribute %q: want +key=value or -key", item)
		case !known:
			return nil, fmt.Errorf("topic attribute %q is not supported (supported: %s)", k, KeyDuplicateWindowSeconds)
		case op == '-':
			if hasValue {
				return nil, fmt.Errorf("topic attribute %q: -key takes no value", item)
			}
			delete(out, k)
		case !hasValue:
			return nil, fmt.Errorf("topic attribute %q: want +key=value", item)
		default:
			if err := check(v); err != nil {
				return nil, fmt.Errorf("topic attribute %s: %w", k, err)
			}
			out[k] = strings.TrimSpace(v)
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}
