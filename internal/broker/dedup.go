package broker

import (
	"fmt"
	"strings"
	"time"

	"github.com/petrelmq/petrel/internal/broker/meta"
)

// dedupWindow returns a topic's de-duplication window as the send room
// computes it (0 for a system, retry or dead-letter topic). A topic without
// a config here gets the broker default: a promoted slave may have a topic's
// messages before the metadata sync brought its config.
func (b *Broker) dedupWindow(topic string) time.Duration {
	if meta.IsSystemTopic(topic) || strings.HasPrefix(topic, meta.RetryTopicPrefix) ||
		strings.HasPrefix(topic, meta.DLQTopicPrefix) {
		return 0
	}
	tc, _ := b.topics.Get(topic)
	return meta.DuplicateWindow(tc, b.cfg.DuplicateWindow)
}

// rebuildDedup fills a master's de-duplication window from the commit log's
// records of the longest window, before the broker serves
// (docs/design/dedup.md, "Recovery").
func (b *Broker) rebuildDedup() error {
	t := b.rooms.dedup
	if t == nil {
		return nil
	}
	longest := b.cfg.DuplicateWindow
	for _, name := range b.topics.Names() {
		longest = max(longest, b.dedupWindow(name))
	}
	if longest == 0 {
		return nil
	}
	start := b.clk.Now()
	n, err := t.Rebuild(b.store.RecordsSince, b.dedupWindow, longest)
	if err != nil {
		return fmt.Errorf("broker: rebuild the de-duplication window: %w", err)
	}
	b.log.Info("broker: de-duplication window rebuilt from the commit log", "entries", n, "window", longest,
		"took", b.clk.Now().Sub(start))
	return nil
}
