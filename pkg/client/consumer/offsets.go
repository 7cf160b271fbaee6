package consumer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/petrelmq/petrel/pkg/client"
	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/protocol/body"
	"github.com/petrelmq/petrel/pkg/protocol/header"
)

// offsetTable is the in-memory table of consumed offsets (the next offset to
// consume per queue) and which of them changed since the last persist. Safe
// for concurrent use.
type offsetTable struct {
	mu sync.Mutex
	m  map[message.MessageQueue]tableEntry
}

type tableEntry struct {
	off   message.QueueOffset
	dirty bool
}

func newOffsetTable() *offsetTable {
	return &offsetTable{m: map[message.MessageQueue]tableEntry{}}
}

// update sets the offset of mq; with increaseOnly a smaller one is ignored.
func (t *offsetTable) update(mq message.MessageQueue, off message.QueueOffset, increaseOnly bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.m[mq]
	if ok && increaseOnly && off <= e.off {
		return
	}
	if ok && e.off == off {
		return
	}
	t.m[mq] = tableEntry{off: off, dirty: true}
}

func (t *offsetTable) get(mq message.MessageQueue) (message.QueueOffset, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.m[mq]
	return e.off, ok
}

func (t *offsetTable) remove(mq message.MessageQueue) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.m, mq)
}

// take returns the offsets of the given queues (all when qs is nil) that
// changed since the last take, or all of them with all, and marks them clean.
func (t *offsetTable) take(qs []message.MessageQueue, all bool) map[message.MessageQueue]message.QueueOffset {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := map[message.MessageQueue]message.QueueOffset{}
	pick := func(mq message.MessageQueue, e tableEntry) {
		if e.dirty || all {
			out[mq] = e.off
			t.m[mq] = tableEntry{off: e.off}
		}
	}
	if qs == nil {
		for mq, e := range t.m {
			pick(mq, e)
		}
		return out
	}
	for _, mq := range qs {
		if e, ok := t.m[mq]; ok {
			pick(mq, e)
		}
	}
	return out
}

// markDirty marks offsets dirty again after a failed persist.
func (t *offsetTable) markDirty(offs map[message.MessageQueue]message.QueueOffset) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for mq, off := range offs {
		if e, ok := t.m[mq]; ok && e.off == off {
			t.m[mq] = tableEntry{off: off, dirty: true}
		}
	}
}

// offsetBackend is where offsets are stored durably: the broker (clustering)
// or a local file (broadcasting).
type offsetBackend interface {
	// fetch returns the stored offset of mq; found is false when there is none
	// (a new group). Other errors mean the queue cannot be started now.
	fetch(ctx context.Context, mq message.MessageQueue) (off message.QueueOffset, found bool, err error)
	// persist stores offsets.
	persist(ctx context.Context, offs map[message.MessageQueue]message.QueueOffset) error
}

// brokerOps are the per-queue calls to the brokers of a queue: the master
// for locks and send-backs, the master or else a slave for offsets, the
// broker a pull answer suggested for pulls.
type brokerOps struct {
	cli *client.Client
}

// masterAddr returns the master address of a queue's broker: from the
// topic's cached route, else from any cached route, else after refreshing
// the topic's route (rate-limited, see client.RefreshStaleRoute).
func (b brokerOps) masterAddr(ctx context.Context, mq message.MessageQueue) (string, error) {
	if r, ok := b.cli.CachedRoute(mq.Topic); ok {
		if a, ok := r.MasterAddr(mq.BrokerName); ok {
			return a, nil
		}
	} else if a, ok := b.cli.MasterAddr(mq.BrokerName); ok {
		return a, nil
	}
	r, err := b.cli.RefreshStaleRoute(ctx, mq.Topic)
	if err != nil {
		return "", err
	}
	if a, ok := r.MasterAddr(mq.BrokerName); ok {
		return a, nil
	}
	return "", fmt.Errorf("consumer: no master address for broker %q", mq.BrokerName)
}

// failed follows up a call about mq that failed with err: when err suggests
// the topic's route is stale (client.SuggestsStaleRoute), a refresh starts in
// the background (shared and rate-limited per topic), so the next call goes
// to the broker's current address.
func (b brokerOps) failed(mq message.MessageQueue, err error) {
	if client.SuggestsStaleRoute(err) {
		b.cli.MarkRouteStale(mq.Topic)
	}
}

// readAddr finds where to read mq from, as RocketMQ's
// findBrokerAddressInSubscribe with a route refresh on a miss (rate-limited,
// see client.RefreshStaleRoute): the broker of
// id brokerID in the cached route (with onlyThisBroker, that one or, for a
// slave id, the next); failing that, after refreshing the topic's route, that
// broker or any other of the same name, the lowest id first (so a slave when
// the master is down). slave reports whether the address is not a master's.
func (b brokerOps) readAddr(ctx context.Context, mq message.MessageQueue, brokerID int64, onlyThisBroker bool) (addr string, slave bool, err error) {
	if r, err := b.cli.Route(ctx, mq.Topic); err == nil {
		if a, id, ok := r.SubscribeAddr(mq.BrokerName, brokerID, onlyThisBroker); ok {
			return a, id != body.MasterID, nil
		}
	}
	r, err := b.cli.RefreshStaleRoute(ctx, mq.Topic)
	if err != nil {
		return "", false, err
	}
	if a, id, ok := r.SubscribeAddr(mq.BrokerName, brokerID, false); ok {
		return a, id != body.MasterID, nil
	}
	return "", false, fmt.Errorf("consumer: no address for broker %q", mq.BrokerName)
}

// offsetAddr finds where to query and commit the offsets of mq: the master,
// or, when the master is not in the topic's route even after a refresh (it
// is down), a slave of the same broker name, as RocketMQ's
// RemoteBrokerOffsetStore does. The same goes for the min, max and
// timestamp offset queries that place a new group.
func (b brokerOps) offsetAddr(ctx context.Context, mq message.MessageQueue) (string, error) {
	addr, _, err := b.readAddr(ctx, mq, body.MasterID, true)
	return addr, err
}

func (b brokerOps) call(ctx context.Context, mq message.MessageQueue, code protocol.RequestCode, h header.Header) (*protocol.Command, error) {
	addr, err := b.offsetAddr(ctx, mq)
	if err != nil {
		return nil, err
	}
	resp, err := b.cli.Invoke(ctx, addr, header.NewRequest(code, h))
	if err == nil {
		err = protocol.ResponseError(resp)
	}
	b.failed(mq, err)
	return resp, err
}

// offsetCall sends req to where mq's offsets live (offsetAddr) and decodes a
// successful answer's header into resp.
func (b brokerOps) offsetCall(ctx context.Context, mq message.MessageQueue, code protocol.RequestCode, req, resp header.Header) error {
	r, err := b.call(ctx, mq, code, req)
	if err != nil {
		return err
	}
	if err := resp.Decode(r); err != nil {
		return fmt.Errorf("consumer: %s: %s answer: %w", mq, code, err)
	}
	return nil
}

// maxOffset returns the offset after the last message of mq.
func (b brokerOps) maxOffset(ctx context.Context, mq message.MessageQueue) (message.QueueOffset, error) {
	var resp header.GetMaxOffsetResponse
	err := b.offsetCall(ctx, mq, protocol.GetMaxOffset,
		&header.GetMaxOffset{Topic: mq.Topic, QueueID: mq.QueueID, BrokerName: mq.BrokerName}, &resp)
	return message.QueueOffset(resp.Offset), err
}

// minOffset returns the smallest readable offset of mq.
func (b brokerOps) minOffset(ctx context.Context, mq message.MessageQueue) (message.QueueOffset, error) {
	var resp header.GetMinOffsetResponse
	err := b.offsetCall(ctx, mq, protocol.GetMinOffset,
		&header.GetMinOffset{Topic: mq.Topic, QueueID: mq.QueueID, BrokerName: mq.BrokerName}, &resp)
	return message.QueueOffset(resp.Offset), err
}

// searchOffset returns the offset of the message stored nearest to ts.
func (b brokerOps) searchOffset(ctx context.Context, mq message.MessageQueue, ms int64) (message.QueueOffset, error) {
	var resp header.SearchOffsetResponse
	err := b.offsetCall(ctx, mq, protocol.SearchOffsetByTimestamp,
		&header.SearchOffset{Topic: mq.Topic, QueueID: mq.QueueID, Timestamp: ms, BrokerName: mq.BrokerName}, &resp)
	return message.QueueOffset(resp.Offset), err
}

// remoteOffsets keeps a clustering group's offsets on the brokers.
type remoteOffsets struct {
	ops   brokerOps
	group string
}

func (r remoteOffsets) fetch(ctx context.Context, mq message.MessageQueue) (message.QueueOffset, bool, error) {
	var resp header.QueryConsumerOffsetResponse
	err := r.ops.offsetCall(ctx, mq, protocol.QueryConsumerOffset, &header.QueryConsumerOffset{
		ConsumerGroup: r.group, Topic: mq.Topic, QueueID: mq.QueueID, BrokerName: mq.BrokerName,
	}, &resp)
	off := message.QueueOffset(resp.Offset)
	if errors.Is(err, protocol.ErrQueryNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	return off, off >= 0, nil
}

func (r remoteOffsets) persist(ctx context.Context, offs map[message.MessageQueue]message.QueueOffset) error {
	var errs []error
	addrs := map[string]string{} // by broker name: one look-up per broker and round
	for mq, off := range offs {
		addr, ok := addrs[mq.BrokerName]
		var err error
		if !ok {
			if addr, err = r.ops.offsetAddr(ctx, mq); err == nil {
				addrs[mq.BrokerName] = addr
			}
		}
		var resp *protocol.Command
		if err == nil {
			resp, err = r.ops.cli.Invoke(ctx, addr, header.NewRequest(protocol.UpdateConsumerOffset, &header.UpdateConsumerOffset{
				ConsumerGroup: r.group, Topic: mq.Topic, QueueID: mq.QueueID, CommitOffset: int64(off),
				BrokerName: mq.BrokerName,
			}))
		}
		if err == nil {
			err = protocol.ResponseError(resp)
		}
		if err != nil {
			r.ops.failed(mq, err)
			errs = append(errs, fmt.Errorf("consumer: commit %s at %d: %w", mq, off, err))
		}
	}
	return errors.Join(errs...)
}

// localOffsets keeps a broadcasting consumer's offsets in a JSON file,
// replaced atomically on every persist. Safe for concurrent use.
type localOffsets struct {
	path string
	mu   sync.Mutex
	m    map[message.MessageQueue]message.QueueOffset // nil until loaded
}

// offsetFileJSON is the file format: {"offsets":[{"topic","brokerName","queueId","offset"}]}.
type offsetFileJSON struct {
	Offsets []offsetFileEntry `json:"offsets"`
}

type offsetFileEntry struct {
	message.MessageQueue
	Offset int64 `json:"offset"`
}

func (l *localOffsets) loadLocked() error {
	if l.m != nil {
		return nil
	}
	b, err := os.ReadFile(l.path)
	if errors.Is(err, os.ErrNotExist) {
		l.m = map[message.MessageQueue]message.QueueOffset{}
		return nil
	}
	if err != nil {
		return fmt.Errorf("consumer: read offset file: %w", err)
	}
	var f offsetFileJSON
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("consumer: offset file %s: %w", l.path, err)
	}
	l.m = map[message.MessageQueue]message.QueueOffset{}
	for _, e := range f.Offsets {
		l.m[e.MessageQueue] = message.QueueOffset(e.Offset)
	}
	return nil
}

func (l *localOffsets) fetch(_ context.Context, mq message.MessageQueue) (message.QueueOffset, bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.loadLocked(); err != nil {
		return 0, false, err
	}
	off, ok := l.m[mq]
	return off, ok, nil
}

func (l *localOffsets) persist(_ context.Context, offs map[message.MessageQueue]message.QueueOffset) error {
	if len(offs) == 0 {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.loadLocked(); err != nil {
		return err
	}
	for mq, off := range offs {
		l.m[mq] = off
	}
	qs := make([]message.MessageQueue, 0, len(l.m))
	for mq := range l.m {
		qs = append(qs, mq)
	}
	SortQueues(qs)
	f := offsetFileJSON{Offsets: make([]offsetFileEntry, 0, len(qs))}
	for _, mq := range qs {
		f.Offsets = append(f.Offsets, offsetFileEntry{MessageQueue: mq, Offset: int64(l.m[mq])})
	}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	return writeAtomic(l.path, b)
}

// writeAtomic replaces path with data: write a temporary file in the same
// directory, fsync it, rename it over path, fsync the directory.
func writeAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("consumer: offset dir: %w", err)
	}
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("consumer: offset file: %w", err)
	}
	name := tmp.Name()
	_, werr := tmp.Write(data)
	if werr == nil {
		werr = tmp.Sync()
	}
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(name, path)
	}
	if werr != nil {
		_ = os.Remove(name)
		return fmt.Errorf("consumer: write offset file: %w", werr)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}

// defaultOffsetFile is $HOME/.petrel_offsets/<clientId>/<group>/offsets.json.
func defaultOffsetFile(clientID, group string) (string, error) {
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("consumer: no home directory for the offset file (use OffsetFile): %w", err)
	}
	return filepath.Join(home, ".petrel_offsets", clientID, group, "offsets.json"), nil
}
