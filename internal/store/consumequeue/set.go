package consumequeue

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"sync"

	"github.com/petrelmq/petrel/internal/vfs"
	"github.com/petrelmq/petrel/pkg/message"
)

// Key names one queue: a topic and a queue id.
type Key struct {
	Topic   string
	QueueID int32
}

// Set holds the queues under one root directory (RocketMQ's storePathConsumeQueue):
// <root>/<topic>/<queueId>/. It opens every existing queue in OpenSet and creates new
// ones lazily in Queue. Safe for concurrent use; the Queues it returns follow the
// Queue concurrency contract (one appender each).
type Set struct {
	fs   vfs.FS
	root string
	cfg  Config

	mu struct {
		sync.RWMutex
		queues map[Key]*Queue
		closed bool
	}
}

// OpenSet opens root (created if absent) and every queue below it. Directory names
// that are not a decimal queue id inside a topic directory are an error wrapping
// ErrCorrupt, as is any queue that fails to open.
func OpenSet(fsys vfs.FS, root string, cfg Config) (*Set, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := fsys.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("consumequeue: create %s: %w", root, err)
	}
	s := &Set{fs: fsys, root: root, cfg: cfg}
	s.mu.queues = make(map[Key]*Queue)
	topics, err := fsys.List(root)
	if err != nil {
		return nil, fmt.Errorf("consumequeue: list %s: %w", root, err)
	}
	for _, topic := range topics {
		tdir := fsys.PathJoin(root, topic)
		st, err := fsys.Stat(tdir)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("consumequeue: stat %s: %w", tdir, err)
		}
		if !st.IsDir() {
			s.Close()
			return nil, fmt.Errorf("%w: %s: not a topic directory", ErrCorrupt, tdir)
		}
		ids, err := fsys.List(tdir)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("consumequeue: list %s: %w", tdir, err)
		}
		for _, idName := range ids {
			id, err := strconv.ParseInt(idName, 10, 32)
			if err != nil || id < 0 || strconv.FormatInt(id, 10) != idName {
				s.Close()
				return nil, fmt.Errorf("%w: %s: not a queue id directory", ErrCorrupt, fsys.PathJoin(tdir, idName))
			}
			q, err := Open(fsys, fsys.PathJoin(tdir, idName), cfg)
			if err != nil {
				s.Close()
				return nil, err
			}
			s.mu.queues[Key{topic, int32(id)}] = q
		}
	}
	return s, nil
}

// Queue returns the queue for (topic, queueID), creating its directory when it does
// not exist yet. It returns ErrClosed after Close.
func (s *Set) Queue(topic string, queueID int32) (*Queue, error) {
	k := Key{topic, queueID}
	s.mu.RLock()
	q, ok := s.mu.queues[k]
	closed := s.mu.closed
	s.mu.RUnlock()
	if closed {
		return nil, ErrClosed
	}
	if ok {
		return q, nil
	}
	if topic == "" || topic == "." || topic == ".." || containsSep(topic) || queueID < 0 {
		return nil, fmt.Errorf("consumequeue: invalid queue %q/%d", topic, queueID)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.closed {
		return nil, ErrClosed
	}
	if q, ok := s.mu.queues[k]; ok {
		return q, nil
	}
	// Opening a new queue makes and syncs its directories: rare, and it must be
	// done once, so it happens under the lock.
	q, err := Open(s.fs, s.fs.PathJoin(s.root, topic, strconv.Itoa(int(queueID))), s.cfg)
	if err != nil {
		return nil, err
	}
	s.mu.queues[k] = q
	return q, nil
}

func containsSep(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '/' || s[i] == '\\' || s[i] == 0 {
			return true
		}
	}
	return false
}

// Lookup returns the queue for (topic, queueID) if it exists, without creating it.
func (s *Set) Lookup(topic string, queueID int32) (*Queue, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	q, ok := s.mu.queues[Key{topic, queueID}]
	return q, ok && !s.mu.closed
}

// Keys returns the keys of all queues, sorted by topic then queue id.
func (s *Set) Keys() []Key {
	s.mu.RLock()
	keys := make([]Key, 0, len(s.mu.queues))
	for k := range s.mu.queues {
		keys = append(keys, k)
	}
	s.mu.RUnlock()
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].Topic != keys[j].Topic {
			return keys[i].Topic < keys[j].Topic
		}
		return keys[i].QueueID < keys[j].QueueID
	})
	return keys
}

func (s *Set) snapshot() []*Queue {
	s.mu.RLock()
	defer s.mu.RUnlock()
	qs := make([]*Queue, 0, len(s.mu.queues))
	for _, q := range s.mu.queues {
		qs = append(qs, q)
	}
	return qs
}

// Flush flushes every queue and returns the errors joined.
func (s *Set) Flush() error {
	var errs []error
	for _, q := range s.snapshot() {
		if err := q.Flush(); err != nil && !errors.Is(err, ErrClosed) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// TruncateTo calls TruncateTo(phys) on every queue (recovery) and returns the errors
// joined.
func (s *Set) TruncateTo(phys message.PhysOffset) error {
	var errs []error
	for _, q := range s.snapshot() {
		if err := q.TruncateTo(phys); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// DeleteBelow calls DeleteBelow(phys) on every queue (retention) and returns the
// number of files removed and the errors joined.
func (s *Set) DeleteBelow(phys message.PhysOffset) (int, error) {
	var errs []error
	total := 0
	for _, q := range s.snapshot() {
		n, err := q.DeleteBelow(phys)
		total += n
		if err != nil {
			errs = append(errs, err)
		}
	}
	return total, errors.Join(errs...)
}

// MaxPhysOffset returns the largest MaxPhysOffset over all queues: how far in the
// commit log the queues have been built (0 if none has an entry).
func (s *Set) MaxPhysOffset() message.PhysOffset {
	var m message.PhysOffset
	for _, q := range s.snapshot() {
		m = max(m, q.MaxPhysOffset())
	}
	return m
}

// Close closes every queue (flushing it) and returns the errors joined. Idempotent;
// afterwards Queue returns ErrClosed.
func (s *Set) Close() error {
	s.mu.Lock()
	if s.mu.closed {
		s.mu.Unlock()
		return nil
	}
	s.mu.closed = true
	qs := make([]*Queue, 0, len(s.mu.queues))
	for _, q := range s.mu.queues {
		qs = append(qs, q)
	}
	s.mu.Unlock()
	var errs []error
	for _, q := range qs {
		if err := q.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
