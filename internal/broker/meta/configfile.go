package meta

import (
	"encoding/json"
	"fmt"
)

// ConfigStore is the part of the store that keeps config files.
type ConfigStore interface {
	LoadConfig(name string) ([]byte, error)
	SaveConfig(name string, data []byte) error
}

// LoadJSON reads config file name through cs into v. A missing or empty file
// leaves v alone and reports false.
func LoadJSON(cs ConfigStore, name string, v any) (bool, error) {
	data, err := cs.LoadConfig(name)
	if err != nil {
		return false, fmt.Errorf("meta: load %s: %w", name, err)
	}
	if len(data) == 0 {
		return false, nil
	}
	if err := json.Unmarshal(data, v); err != nil {
		return false, fmt.Errorf("meta: parse %s: %w", name, err)
	}
	return true, nil
}

// SaveJSON writes v as config file name through cs (atomically, keeping .bak).
func SaveJSON(cs ConfigStore, name string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if err := cs.SaveConfig(name, data); err != nil {
		return fmt.Errorf("meta: save %s: %w", name, err)
	}
	return nil
}
