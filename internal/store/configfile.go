package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/petrelmq/petrel/internal/vfs"
)

// configPath checks name (a plain file name) and returns its path.
func (s *Store) configPath(name string) (string, error) {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\\\x00") {
		return "", fmt.Errorf("store: invalid config file name %q", name)
	}
	return s.fs.PathJoin(s.cfg.ConfigDir, name), nil
}

// LoadConfig implements MessageStore. A file that is missing, empty or not valid
// JSON (all the broker's config files are JSON) falls back to name.bak; with
// neither, (nil, nil).
func (s *Store) LoadConfig(name string) ([]byte, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	path, err := s.configPath(name)
	if err != nil {
		return nil, err
	}
	s.cfgMu.Lock()
	defer s.cfgMu.Unlock()
	data, err := s.readConfig(path)
	if err != nil {
		return nil, err
	}
	if data != nil {
		return data, nil
	}
	bak, err := s.readConfig(path + ".bak")
	if err != nil {
		return nil, err
	}
	if bak != nil {
		s.log.Warn("config file missing or damaged; using its backup", "path", path)
	}
	return bak, nil
}

// readConfig returns the file's content, or nil if it is missing, empty or not
// JSON.
func (s *Store) readConfig(path string) ([]byte, error) {
	data, err := vfs.ReadFile(s.fs, path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("store: read %s: %w", path, err)
	case len(strings.TrimSpace(string(data))) == 0 || !json.Valid(data):
		return nil, nil
	}
	return data, nil
}

// SaveConfig implements MessageStore: the current file (if any) is first copied
// to name.bak, then replaced atomically (temp file, fsync, rename, directory
// fsync), so a crash leaves either version intact.
func (s *Store) SaveConfig(name string, data []byte) error {
	if s.closed.Load() {
		return ErrClosed
	}
	path, err := s.configPath(name)
	if err != nil {
		return err
	}
	s.cfgMu.Lock()
	defer s.cfgMu.Unlock()
	if err := s.fs.MkdirAll(s.cfg.ConfigDir, 0o755); err != nil {
		return fmt.Errorf("store: create %s: %w", s.cfg.ConfigDir, err)
	}
	old, err := vfs.ReadFile(s.fs, path)
	switch {
	case err == nil && json.Valid(old):
		if err := vfs.WriteFileAtomic(s.fs, path+".bak", old); err != nil {
			return fmt.Errorf("store: back up %s: %w", path, err)
		}
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("store: read %s: %w", path, err)
	}
	if err := vfs.WriteFileAtomic(s.fs, path, data); err != nil {
		return fmt.Errorf("store: save %s: %w", path, err)
	}
	return nil
}
