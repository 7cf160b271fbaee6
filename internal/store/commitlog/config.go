package commitlog

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/petrelmq/petrel/pkg/clock"
	"github.com/petrelmq/petrel/pkg/message"
)

// FlushMode says when appended data is made durable.
type FlushMode int

const (
	// FlushAsync fsyncs in the background (FlushInterval, FlushLeastPages,
	// ThoroughFlushInterval); Sync and SyncAsync still work and are served by the
	// same flusher.
	FlushAsync FlushMode = iota
	// FlushSync is for callers that wait for durability of every append with
	// SyncAsync; the flusher fsyncs as soon as a waiter is queued, so one fsync
	// covers every waiter queued before it (group commit).
	FlushSync
)

// String returns the RocketMQ name of the mode.
func (m FlushMode) String() string {
	switch m {
	case FlushAsync:
		return "ASYNC_FLUSH"
	case FlushSync:
		return "SYNC_FLUSH"
	}
	return fmt.Sprintf("FlushMode(%d)", int(m))
}

// Config configures a Log. The zero value of each field means its default.
type Config struct {
	// Dir is the directory holding the segment files. Required.
	Dir string
	// SegmentSize is the size of every segment file in bytes. Default 1 GiB.
	// Must not change for an existing log (Open fails when a segment's name is
	// not a multiple of it).
	SegmentSize int64
	// MaxMessageSize is the largest Append (one record or a batch) in bytes.
	// Default 4 MiB. Must be at most SegmentSize - 8.
	MaxMessageSize int
	// WriteBufferSize bounds the appended bytes not yet handed to the OS; an
	// Append that does not fit waits for the writer (or its ctx). Default 4 *
	// MaxMessageSize; at least MaxMessageSize + 8.
	WriteBufferSize int
	// FlushMode selects background or per-append durability. Default FlushAsync.
	FlushMode FlushMode
	// FlushInterval is how often the async flusher looks for dirty data.
	// Default 500 ms.
	FlushInterval time.Duration
	// FlushLeastPages is the number of dirty 4 KiB pages that makes an async
	// flush worthwhile. Default 4.
	FlushLeastPages int
	// ThoroughFlushInterval is the longest time dirty data waits for an async
	// flush regardless of FlushLeastPages. Default 10 s.
	ThoroughFlushInterval time.Duration
	// FlushTimeout bounds how long a Sync/SyncAsync waiter waits before it gets
	// ErrFlushTimeout. Default 5 s.
	FlushTimeout time.Duration
	// Clock drives timers and store timestamps. Default clock.Real{}.
	Clock clock.Clock
	// Logger receives lifecycle and recovery messages. Default: discard.
	Logger *slog.Logger
	// OnWritten, if set, is called by the writer goroutine each time it has
	// published new readable data, with the new MaxOffset. It must be quick and
	// must not block or call the Log's append path (the store uses it to wake its
	// dispatcher with a non-blocking channel send). Default nil.
	OnWritten func(maxOffset message.PhysOffset)
	// OnAllocated, if set, is called by the writer goroutine after each
	// attempt to allocate a segment (create and preallocate it), with its base
	// and the error (nil on success; a failure that leaves the log writable is
	// also reported, see ErrNoSegment). Same rules as OnWritten: quick, never
	// blocking (the store uses it to measure the disk at once). Default nil.
	OnAllocated func(base message.PhysOffset, err error)
	// OnFlush, if set, is called by the flusher goroutine after each fsync
	// that synced data, with how long it took and how many sync waiters it
	// completed (the group-commit size; 0 for a timed flush). Same rules as
	// OnWritten: quick, never blocking (metrics count it). Default nil.
	OnFlush func(took time.Duration, waiters int)
}

// Defaults.
const (
	DefaultSegmentSize           = 1 << 30
	DefaultMaxMessageSize        = 4 << 20
	DefaultFlushInterval         = 500 * time.Millisecond
	DefaultFlushLeastPages       = 4
	DefaultThoroughFlushInterval = 10 * time.Second
	DefaultFlushTimeout          = 5 * time.Second
	pageSize                     = 4096
)

// DefaultConfig returns the defaults for dir.
func DefaultConfig(dir string) Config {
	c := Config{Dir: dir}
	c.setDefaults()
	return c
}

func (c *Config) setDefaults() {
	if c.SegmentSize == 0 {
		c.SegmentSize = DefaultSegmentSize
	}
	if c.MaxMessageSize == 0 {
		c.MaxMessageSize = DefaultMaxMessageSize
		if int64(c.MaxMessageSize) > c.SegmentSize-message.BlankHeaderSize {
			c.MaxMessageSize = int(c.SegmentSize - message.BlankHeaderSize)
		}
	}
	if c.WriteBufferSize == 0 {
		c.WriteBufferSize = 4 * c.MaxMessageSize
	}
	if c.FlushInterval == 0 {
		c.FlushInterval = DefaultFlushInterval
	}
	if c.FlushLeastPages == 0 {
		c.FlushLeastPages = DefaultFlushLeastPages
	}
	if c.ThoroughFlushInterval == 0 {
		c.ThoroughFlushInterval = DefaultThoroughFlushInterval
	}
	if c.FlushTimeout == 0 {
		c.FlushTimeout = DefaultFlushTimeout
	}
	if c.Clock == nil {
		c.Clock = clock.Real{}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate reports the first bad field of c (after defaults are applied).
func (c Config) Validate() error {
	c.setDefaults()
	switch {
	case c.Dir == "":
		return fmt.Errorf("commitlog: Config.Dir is empty")
	case c.SegmentSize < 2*message.RecordFixedSize:
		return fmt.Errorf("commitlog: Config.SegmentSize %d is too small", c.SegmentSize)
	case c.MaxMessageSize < message.RecordFixedSize:
		return fmt.Errorf("commitlog: Config.MaxMessageSize %d < %d", c.MaxMessageSize, message.RecordFixedSize)
	case int64(c.MaxMessageSize) > c.SegmentSize-message.BlankHeaderSize:
		return fmt.Errorf("commitlog: Config.MaxMessageSize %d > SegmentSize-8 (%d)", c.MaxMessageSize, c.SegmentSize-message.BlankHeaderSize)
	case c.WriteBufferSize < c.MaxMessageSize+message.BlankHeaderSize:
		return fmt.Errorf("commitlog: Config.WriteBufferSize %d < MaxMessageSize+8", c.WriteBufferSize)
	case c.FlushMode != FlushAsync && c.FlushMode != FlushSync:
		return fmt.Errorf("commitlog: Config.FlushMode %d unknown", c.FlushMode)
	case c.FlushInterval < 0 || c.ThoroughFlushInterval < 0 || c.FlushTimeout < 0 || c.FlushLeastPages < 0:
		return fmt.Errorf("commitlog: negative flush setting")
	}
	return nil
}
