package store

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/petrelmq/petrel/internal/store/consumequeue"
	"github.com/petrelmq/petrel/internal/store/index"
)

// Defaults of the fields added to Config after the first contract; a zero value
// of these fields means the default, so Config literals written before they
// existed keep working.
const (
	// DefaultMessageDelayLevel is RocketMQ's messageDelayLevel.
	DefaultMessageDelayLevel = "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h"
	// DefaultMaxTransferBytesInMemory is maxTransferBytesOnMessageInMemory.
	DefaultMaxTransferBytesInMemory = 256 << 10
	// DefaultMaxTransferCountInMemory is maxTransferCountOnMessageInMemory.
	DefaultMaxTransferCountInMemory = 32
	// DefaultMaxTransferBytesOnDisk is maxTransferBytesOnMessageInDisk.
	DefaultMaxTransferBytesOnDisk = 64 << 10
	// DefaultMaxTransferCountOnDisk is maxTransferCountOnMessageInDisk.
	DefaultMaxTransferCountOnDisk = 8
	// DefaultAccessMessageInMemoryMaxRatio is accessMessageInMemoryMaxRatio, percent.
	DefaultAccessMessageInMemoryMaxRatio = 40
	// DefaultFlushConsumeQueueInterval is flushIntervalConsumeQueue.
	DefaultFlushConsumeQueueInterval = time.Second
	// DefaultDiskSpaceCleanForciblyRatio is diskSpaceCleanForciblyRatio, percent.
	DefaultDiskSpaceCleanForciblyRatio = 85
	// fallbackMemorySize is PhysicalMemorySize when /proc/meminfo is unreadable.
	fallbackMemorySize = 8 << 30
)

// DefaultConfig returns RocketMQ 4.9's defaults with RootDir $HOME/store (or
// ./store when the home directory is unknown). The per-directory paths are left
// empty: Open derives them from RootDir, so changing RootDir moves them all.
// PhysicalMemorySize is read from /proc/meminfo (8 GiB if unreadable).
func DefaultConfig() Config {
	root := "store"
	if home, err := os.UserHomeDir(); err == nil {
		root = filepath.Join(home, "store")
	}
	return Config{
		RootDir:                    root,
		CommitLogSegmentSize:       1 << 30,
		ConsumeQueueEntriesPerFile: consumequeue.DefaultEntriesPerFile,
		FlushDiskType:              AsyncFlush,
		FlushInterval:              500 * time.Millisecond,
		FlushLeastPages:            4,
		FlushThoroughInterval:      10 * time.Second,
		SyncFlushTimeout:           5 * time.Second,
		MaxMessageSize:             4 << 20,
		MessageIndexEnable:         true,
		MaxHashSlotNum:             index.DefaultHashSlots,
		MaxIndexNum:                index.DefaultMaxEntries,
		FileReservedTime:           72 * time.Hour,
		DeleteWhen:                 []int{4},
		CleanResourceInterval:      10 * time.Second,
		DiskMaxUsedSpaceRatio:      75,
		DiskFullRatio:              90,

		MessageDelayLevel:             DefaultMessageDelayLevel,
		MaxTransferBytesInMemory:      DefaultMaxTransferBytesInMemory,
		MaxTransferCountInMemory:      DefaultMaxTransferCountInMemory,
		MaxTransferBytesOnDisk:        DefaultMaxTransferBytesOnDisk,
		MaxTransferCountOnDisk:        DefaultMaxTransferCountOnDisk,
		AccessMessageInMemoryMaxRatio: DefaultAccessMessageInMemoryMaxRatio,
		PhysicalMemorySize:            physicalMemory(),
		FlushConsumeQueueInterval:     DefaultFlushConsumeQueueInterval,
		DiskSpaceCleanForciblyRatio:   DefaultDiskSpaceCleanForciblyRatio,
	}
}

// physicalMemory reads MemTotal from /proc/meminfo, or returns 8 GiB.
func physicalMemory() int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return fallbackMemorySize
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == "MemTotal:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err == nil && kb > 0 {
				return kb << 10
			}
		}
	}
	return fallbackMemorySize
}

// withDefaults returns c with empty paths derived from RootDir and zero values of
// the later-added fields replaced by their defaults.
func (c Config) withDefaults() Config {
	join := func(p *string, name string) {
		if *p == "" {
			*p = filepath.Join(c.RootDir, name)
		}
	}
	join(&c.CommitLogDir, "commitlog")
	join(&c.ConsumeQueueDir, "consumequeue")
	join(&c.IndexDir, "index")
	join(&c.CheckpointPath, "checkpoint")
	join(&c.AbortPath, "abort")
	join(&c.ConfigDir, "config")
	join(&c.TimerDir, "timerlog")
	if c.TimerPrecision == 0 {
		c.TimerPrecision = time.Second
	}
	if c.MessageDelayLevel == "" {
		c.MessageDelayLevel = DefaultMessageDelayLevel
	}
	if c.MaxTransferBytesInMemory == 0 {
		c.MaxTransferBytesInMemory = DefaultMaxTransferBytesInMemory
	}
	if c.MaxTransferCountInMemory == 0 {
		c.MaxTransferCountInMemory = DefaultMaxTransferCountInMemory
	}
	if c.MaxTransferBytesOnDisk == 0 {
		c.MaxTransferBytesOnDisk = DefaultMaxTransferBytesOnDisk
	}
	if c.MaxTransferCountOnDisk == 0 {
		c.MaxTransferCountOnDisk = DefaultMaxTransferCountOnDisk
	}
	if c.AccessMessageInMemoryMaxRatio == 0 {
		c.AccessMessageInMemoryMaxRatio = DefaultAccessMessageInMemoryMaxRatio
	}
	if c.PhysicalMemorySize == 0 {
		c.PhysicalMemorySize = physicalMemory()
	}
	if c.FlushConsumeQueueInterval == 0 {
		c.FlushConsumeQueueInterval = DefaultFlushConsumeQueueInterval
	}
	if c.DiskSpaceCleanForciblyRatio == 0 {
		c.DiskSpaceCleanForciblyRatio = DefaultDiskSpaceCleanForciblyRatio
	}
	return c
}

// ConfigError is the error Validate returns: Field is the Go field of Config that
// is bad (for example "DiskMaxUsedSpaceRatio"), so that a caller that filled the
// Config from configuration keys can name the key instead.
type ConfigError struct {
	Field  string
	Reason string
}

func (e *ConfigError) Error() string { return "store: Config." + e.Field + ": " + e.Reason }

// Validate reports the first bad field of c as a *ConfigError, naming it (after
// empty paths and zero later-added fields take their defaults). Open calls it.
func (c Config) Validate() error {
	c = c.withDefaults()
	bad := func(field string, format string, args ...any) error {
		return &ConfigError{Field: field, Reason: fmt.Sprintf(format, args...)}
	}
	switch {
	case c.RootDir == "":
		return bad("RootDir", "empty")
	case c.CommitLogSegmentSize < 4096:
		return bad("CommitLogSegmentSize", "%d bytes is below 4096", c.CommitLogSegmentSize)
	case c.ConsumeQueueEntriesPerFile <= 0 || int64(c.ConsumeQueueEntriesPerFile)*consumequeue.EntrySize > 1<<31-1:
		return bad("ConsumeQueueEntriesPerFile", "%d out of range", c.ConsumeQueueEntriesPerFile)
	case c.FlushDiskType != AsyncFlush && c.FlushDiskType != SyncFlush:
		return bad("FlushDiskType", "unknown value %d", int(c.FlushDiskType))
	case c.FlushInterval <= 0:
		return bad("FlushInterval", "%v must be positive", c.FlushInterval)
	case c.FlushLeastPages < 0:
		return bad("FlushLeastPages", "%d is negative", c.FlushLeastPages)
	case c.FlushThoroughInterval <= 0:
		return bad("FlushThoroughInterval", "%v must be positive", c.FlushThoroughInterval)
	case c.SyncFlushTimeout <= 0:
		return bad("SyncFlushTimeout", "%v must be positive", c.SyncFlushTimeout)
	case c.MaxMessageSize < 128:
		return bad("MaxMessageSize", "%d bytes is too small", c.MaxMessageSize)
	case int64(c.MaxMessageSize) > c.CommitLogSegmentSize-8:
		return bad("MaxMessageSize", "%d bytes does not fit a segment of %d bytes", c.MaxMessageSize, c.CommitLogSegmentSize)
	case c.MessageIndexEnable && c.MaxHashSlotNum <= 0:
		return bad("MaxHashSlotNum", "%d must be positive", c.MaxHashSlotNum)
	case c.MessageIndexEnable && c.MaxIndexNum < 2:
		return bad("MaxIndexNum", "%d must be at least 2", c.MaxIndexNum)
	case c.MessageIndexEnable && index.Config{HashSlots: c.MaxHashSlotNum, MaxEntries: c.MaxIndexNum, WriteBufferEntries: 1}.Validate() != nil:
		return bad("MaxIndexNum", "index file of %d slots and %d entries is too large", c.MaxHashSlotNum, c.MaxIndexNum)
	case c.FileReservedTime <= 0:
		return bad("FileReservedTime", "%v must be positive", c.FileReservedTime)
	case c.CleanResourceInterval <= 0:
		return bad("CleanResourceInterval", "%v must be positive", c.CleanResourceInterval)
	case c.DiskMaxUsedSpaceRatio < 10 || c.DiskMaxUsedSpaceRatio > 95:
		return bad("DiskMaxUsedSpaceRatio", "%d%% outside [10, 95]", c.DiskMaxUsedSpaceRatio)
	case c.DiskFullRatio < 10 || c.DiskFullRatio > 99:
		return bad("DiskFullRatio", "%d%% outside [10, 99]", c.DiskFullRatio)
	case c.DiskSpaceCleanForciblyRatio < 10 || c.DiskSpaceCleanForciblyRatio > 99:
		return bad("DiskSpaceCleanForciblyRatio", "%d%% outside [10, 99]", c.DiskSpaceCleanForciblyRatio)
	case c.MaxTransferBytesInMemory < 0 || c.MaxTransferCountInMemory < 0 || c.MaxTransferBytesOnDisk < 0 || c.MaxTransferCountOnDisk < 0:
		return bad("MaxTransferBytesInMemory", "transfer limits must not be negative")
	case c.AccessMessageInMemoryMaxRatio < 0 || c.AccessMessageInMemoryMaxRatio > 100:
		return bad("AccessMessageInMemoryMaxRatio", "%d%% outside [0, 100]", c.AccessMessageInMemoryMaxRatio)
	case c.PhysicalMemorySize < 0:
		return bad("PhysicalMemorySize", "%d is negative", c.PhysicalMemorySize)
	case c.FlushConsumeQueueInterval < 0:
		return bad("FlushConsumeQueueInterval", "%v is negative", c.FlushConsumeQueueInterval)
	}
	for _, h := range c.DeleteWhen {
		if h < 0 || h > 23 {
			return bad("DeleteWhen", "hour %d outside [0, 23]", h)
		}
	}
	if _, err := ParseDelayLevels(c.MessageDelayLevel); err != nil {
		return bad("MessageDelayLevel", "%v", err)
	}
	return nil
}

// ParseDelayLevels parses a messageDelayLevel string: durations separated by
// spaces, each a positive integer followed by s, m, h or d ("1s 5s 1m 2h").
// Level n (1-based) is the n-th duration.
func ParseDelayLevels(s string) ([]time.Duration, error) {
	units := map[byte]time.Duration{'s': time.Second, 'm': time.Minute, 'h': time.Hour, 'd': 24 * time.Hour}
	var out []time.Duration
	for _, f := range strings.Fields(s) {
		u, ok := units[f[len(f)-1]]
		if !ok || len(f) < 2 {
			return nil, fmt.Errorf("delay level %q: want a number and one of s, m, h, d", f)
		}
		n, err := strconv.ParseInt(f[:len(f)-1], 10, 32)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("delay level %q: bad number", f)
		}
		out = append(out, time.Duration(n)*u)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no delay levels in %q", s)
	}
	return out, nil
}

// ParseDeleteWhen parses deleteWhen: hours of the day separated by ';' ("04",
// "01;02").
func ParseDeleteWhen(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ";") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		h, err := strconv.Atoi(f)
		if err != nil || h < 0 || h > 23 {
			return nil, fmt.Errorf("store: deleteWhen %q: bad hour %q", s, f)
		}
		out = append(out, h)
	}
	return out, nil
}
