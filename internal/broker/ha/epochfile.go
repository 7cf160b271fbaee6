package ha

import (
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/petrelmq/petrel/internal/vfs"
	"github.com/petrelmq/petrel/pkg/message"
)

// EpochFile is a broker's epoch file (storePathEpochFile): which master epoch
// wrote its commit log from which offset. Format (part of the on-disk
// format; never change): text, one "epoch startOffset" line per entry in
// increasing order, then "crc <decimal CRC-32C of the bytes before this
// line>". It is replaced atomically (temporary file, fsync, rename, directory
// fsync) on every change. Safe for concurrent use.
type EpochFile struct {
	fs   vfs.FS
	path string

	mu      sync.Mutex
	entries []EpochEntry
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// OpenEpochFile reads the epoch file at path; a missing file is an empty
// one. A file that does not parse or whose CRC does not match is an error
// naming the path: the broker does not start on it.
func OpenEpochFile(fsys vfs.FS, path string) (*EpochFile, error) {
	f := &EpochFile{fs: fsys, path: path}
	data, err := vfs.ReadFile(fsys, path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return f, nil
	case err != nil:
		return nil, fmt.Errorf("ha: read epoch file %s: %w", path, err)
	}
	es, err := parseEpochFile(data)
	if err != nil {
		return nil, fmt.Errorf("ha: epoch file %s: %w (move it away to start with none: the broker then reports epoch 0)", path, err)
	}
	f.entries = es
	return f, nil
}

func parseEpochFile(data []byte) ([]EpochEntry, error) {
	i := bytes.LastIndex(bytes.TrimRight(data, "\n"), []byte("\n"))
	body, last := data[:i+1], strings.TrimSpace(string(data[i+1:]))
	want, ok := strings.CutPrefix(last, "crc ")
	if !ok {
		return nil, fmt.Errorf("no crc line at the end")
	}
	crc, err := strconv.ParseUint(want, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("bad crc line %q", last)
	}
	if got := crc32.Checksum(body, castagnoli); got != uint32(crc) {
		return nil, fmt.Errorf("crc mismatch: file says %d, contents give %d", crc, got)
	}
	var es []EpochEntry
	for n, line := range strings.Split(strings.TrimRight(string(body), "\n"), "\n") {
		if line == "" {
			continue
		}
		ep, off, ok := strings.Cut(line, " ")
		e, err1 := strconv.ParseInt(ep, 10, 32)
		o, err2 := strconv.ParseInt(off, 10, 64)
		if !ok || err1 != nil || err2 != nil {
			return nil, fmt.Errorf("line %d: %q is not \"epoch startOffset\"", n+1, line)
		}
		es = append(es, EpochEntry{Epoch: int32(e), Start: message.PhysOffset(o)})
	}
	if err := CheckEpochEntries(es); err != nil {
		return nil, err
	}
	return es, nil
}

func encodeEpochFile(es []EpochEntry) []byte {
	var b []byte
	for _, e := range es {
		b = strconv.AppendInt(b, int64(e.Epoch), 10)
		b = append(b, ' ')
		b = strconv.AppendInt(b, int64(e.Start), 10)
		b = append(b, '\n')
	}
	crc := crc32.Checksum(b, castagnoli)
	b = append(b, "crc "...)
	b = strconv.AppendUint(b, uint64(crc), 10)
	return append(b, '\n')
}

// Path is the file's path.
func (f *EpochFile) Path() string { return f.path }

// Entries returns a copy of the entries.
func (f *EpochFile) Entries() []EpochEntry {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.entries)
}

// Last returns the newest entry, if any.
func (f *EpochFile) Last() (EpochEntry, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.entries) == 0 {
		return EpochEntry{}, false
	}
	return f.entries[len(f.entries)-1], true
}

// EpochAt is EpochAt of the file's entries.
func (f *EpochFile) EpochAt(end message.PhysOffset) int32 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return EpochAt(f.entries, end)
}

// Begin records that this broker, as master of epoch e, writes from start
// on: entries that start after start are dropped (bytes this broker no
// longer has), and (e, start) is appended unless the newest entry already is
// epoch e. e must exceed every remaining entry's epoch.
func (f *EpochFile) Begin(e int32, start message.PhysOffset) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	es := slices.Clone(f.entries)
	for len(es) > 0 && es[len(es)-1].Start > start {
		es = es[:len(es)-1]
	}
	if n := len(es); n > 0 && es[n-1].Epoch == e {
		return f.saveLocked(es)
	}
	es = append(es, EpochEntry{Epoch: e, Start: start})
	if err := CheckEpochEntries(es); err != nil {
		return fmt.Errorf("ha: epoch file %s: %w", f.path, err)
	}
	return f.saveLocked(es)
}

// Replace sets the entries to es (a slave adopting its master's).
func (f *EpochFile) Replace(es []EpochEntry) error {
	if err := CheckEpochEntries(es); err != nil {
		return fmt.Errorf("ha: epoch file %s: %w", f.path, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if slices.Equal(es, f.entries) {
		return nil
	}
	return f.saveLocked(slices.Clone(es))
}

func (f *EpochFile) saveLocked(es []EpochEntry) error {
	if slices.Equal(es, f.entries) && f.entries != nil {
		return nil
	}
	if err := vfs.WriteFileAtomic(f.fs, f.path, encodeEpochFile(es)); err != nil {
		return fmt.Errorf("ha: write epoch file %s: %w", f.path, err)
	}
	f.entries = es
	return nil
}
