package namesrv

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"path/filepath"
	"sync"

	"github.com/petrelmq/petrel/internal/vfs"
)

// kvFileJSON is the kvConfig.json shape, the one the Java name server writes, so
// a file can move between the two: {"configTable":{"<namespace>":{"k":"v"}}}.
type kvFileJSON struct {
	ConfigTable map[string]map[string]string `json:"configTable"`
}

// kvStore is the name server's KV configuration, kept in memory and persisted to
// one JSON file after every change.
//
// mu guards table and seq. Writes to the file are serialised by fileMu, which is
// never taken while mu is held, so readers are never blocked behind an fsync. Each
// change snapshots the table under mu with a sequence number; the writer skips a
// snapshot older than the one already on disk, so the file always ends up with the
// latest table even when two changes race.
type kvStore struct {
	fs   vfs.FS
	path string

	mu struct {
		sync.Mutex
		table map[string]map[string]string
		seq   uint64
	}
	fileMu struct {
		sync.Mutex
		written uint64 // seq of the snapshot on disk
	}
}

func newKVStore(fsys vfs.FS, path string) *kvStore {
	k := &kvStore{fs: fsys, path: path}
	k.mu.table = map[string]map[string]string{}
	return k
}

// load replaces the table with the file's content. A missing file is an empty
// table; a file that does not parse is an error (it is never overwritten silently).
func (k *kvStore) load() error {
	data, err := vfs.ReadFile(k.fs, k.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("namesrv: read kv config %s: %w", k.path, err)
	}
	table := map[string]map[string]string{}
	if len(data) > 0 {
		var f kvFileJSON
		if err := json.Unmarshal(data, &f); err != nil {
			return fmt.Errorf("namesrv: parse kv config %s: %w", k.path, err)
		}
		for ns, m := range f.ConfigTable {
			if m == nil {
				m = map[string]string{}
			}
			table[ns] = m
		}
	}
	k.mu.Lock()
	k.mu.table = table
	k.mu.Unlock()
	return nil
}

// put sets namespace/key to value and persists the table.
func (k *kvStore) put(namespace, key, value string) error {
	k.mu.Lock()
	m := k.mu.table[namespace]
	if m == nil {
		m = map[string]string{}
		k.mu.table[namespace] = m
	}
	m[key] = value
	seq, data := k.snapshotLocked()
	k.mu.Unlock()
	return k.persist(seq, data)
}

// delete removes namespace/key and persists the table. Like Java, an emptied
// namespace stays (its list is then {}).
func (k *kvStore) delete(namespace, key string) error {
	k.mu.Lock()
	if m := k.mu.table[namespace]; m != nil {
		delete(m, key)
	}
	seq, data := k.snapshotLocked()
	k.mu.Unlock()
	return k.persist(seq, data)
}

// get returns the value of namespace/key.
func (k *kvStore) get(namespace, key string) (string, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	v, ok := k.mu.table[namespace][key]
	return v, ok
}

// list returns a copy of namespace's table, or false when the namespace is absent.
func (k *kvStore) list(namespace string) (map[string]string, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	m, ok := k.mu.table[namespace]
	if !ok {
		return nil, false
	}
	return maps.Clone(m), true
}

// snapshotLocked bumps seq and encodes the table. k.mu must be held.
func (k *kvStore) snapshotLocked() (uint64, []byte) {
	k.mu.seq++
	data, err := json.Marshal(kvFileJSON{ConfigTable: k.mu.table})
	if err != nil {
		panic("namesrv: marshal kv config: " + err.Error()) // strings always marshal
	}
	return k.mu.seq, data
}

// persist writes snapshot seq unless a newer one is already on disk.
func (k *kvStore) persist(seq uint64, data []byte) error {
	k.fileMu.Lock()
	defer k.fileMu.Unlock()
	if seq <= k.fileMu.written {
		return nil
	}
	if err := k.fs.MkdirAll(filepath.Dir(k.path), 0o755); err != nil {
		return fmt.Errorf("namesrv: persist kv config: %w", err)
	}
	if err := vfs.WriteFileAtomic(k.fs, k.path, data); err != nil {
		return fmt.Errorf("namesrv: persist kv config: %w", err)
	}
	k.fileMu.written = seq
	return nil
}
