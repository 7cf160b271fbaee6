package properties

import (
	_ "embed"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// Class is a RocketMQ configuration class: its setters define the keys a RocketMQ
// server reads from its configuration file.
type Class string

// The RocketMQ classes whose keys rocketmq_keys.txt lists.
const (
	BrokerConfig       Class = "BrokerConfig"
	MessageStoreConfig Class = "MessageStoreConfig"
	NettyServerConfig  Class = "NettyServerConfig"
	NettyClientConfig  Class = "NettyClientConfig"
	NamesrvConfig      Class = "NamesrvConfig"
	// Controller holds RocketMQ 5.x's controller-mode keys (DLedger controller,
	// SyncStateSet replication). The controller binds its own
	// (internal/controller), the broker its own (internal/broker).
	Controller Class = "Controller"
)

// rocketMQKeysText is the key list, kept as data; its header says where it came
// from.
//
//go:embed rocketmq_keys.txt
var rocketMQKeysText string

// rocketMQKeys maps each key to the classes that read it.
var rocketMQKeys = sync.OnceValue(func() map[string][]Class {
	m, err := parseKeyList(rocketMQKeysText)
	if err != nil {
		panic("properties: rocketmq_keys.txt: " + err.Error()) // the embedded file is part of the build
	}
	return m
})

// parseKeyList parses the format of rocketmq_keys.txt: "[Class]" section lines,
// then one key a line; '#' starts a comment line.
func parseKeyList(text string) (map[string][]Class, error) {
	m := map[string][]Class{}
	var cur Class
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || line[0] == '#':
		case line[0] == '[' && line[len(line)-1] == ']':
			cur = Class(line[1 : len(line)-1])
		case cur == "":
			return nil, fmt.Errorf("line %d: key %q before any [Class]", i+1, line)
		case strings.ContainsAny(line, " \t=:"):
			return nil, fmt.Errorf("line %d: %q is not a key", i+1, line)
		default:
			m[line] = append(m[line], cur)
		}
	}
	return m, nil
}

// RocketMQClasses returns the RocketMQ classes that read key (a RocketMQ 4.9 key,
// or a 5.x controller-mode key), or nil when RocketMQ has no such key. The
// caller must not modify the slice.
func RocketMQClasses(key string) []Class { return rocketMQKeys()[key] }

// RocketMQKeys returns the keys read by any of classes, sorted.
func RocketMQKeys(classes ...Class) []string {
	var out []string
	for k, cls := range rocketMQKeys() {
		for _, c := range cls {
			if slices.Contains(classes, c) {
				out = append(out, k)
				break
			}
		}
	}
	slices.Sort(out)
	return out
}
