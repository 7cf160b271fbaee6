package ha

import (
	"context"

	"github.com/petrelmq/petrel/internal/store"
	"github.com/petrelmq/petrel/pkg/message"
)

// LogSource is a master's commit log as the Server reads it. *store.Store
// implements it.
type LogSource interface {
	// ReadCommitLog appends the raw bytes from off (at most max, within one
	// segment, up to the readable end) to dst; store.ErrBeforeMinOffset below
	// the minimum.
	ReadCommitLog(off message.PhysOffset, max int, dst []byte) ([]byte, error)
	CommitLogMinOffset() message.PhysOffset
	CommitLogMaxOffset() message.PhysOffset
	CommitLogSegmentSize() int64
	// CommitLogWritten returns a channel closed at the next publish of data.
	CommitLogWritten() <-chan struct{}
}

// LogSink is a slave's commit log as the Client writes it. *store.Store
// implements it.
type LogSink interface {
	ReadCommitLog(off message.PhysOffset, max int, dst []byte) ([]byte, error)
	CommitLogMinOffset() message.PhysOffset
	CommitLogMaxOffset() message.PhysOffset
	CommitLogSegmentSize() int64
	// CommitLogEmpty: no segment at all; the next append may start at any
	// segment boundary.
	CommitLogEmpty() bool
	// CommitLogRecords appends the spans of the complete records from off
	// (a record start), before limit, at most max of them, to dst; it
	// returns where to continue.
	CommitLogRecords(off, limit message.PhysOffset, max int, dst []store.RecordSpan) ([]store.RecordSpan, message.PhysOffset, error)
	// LastCommitLogRecord is the last complete record ending at or before
	// limit, or store.ErrNotFound.
	LastCommitLogRecord(limit message.PhysOffset) (start, end message.PhysOffset, err error)
	// AppendReplicated appends a master's bytes at their offset and waits
	// until they are as durable as the slave's flush mode requires.
	AppendReplicated(ctx context.Context, off message.PhysOffset, data []byte) (message.PhysOffset, error)
	// TruncateCommitLog drops everything at and after to (a record end).
	TruncateCommitLog(ctx context.Context, to message.PhysOffset) error
	// ResetCommitLog empties the log; it continues at base.
	ResetCommitLog(ctx context.Context, base message.PhysOffset) error
	// SetDispatchLimit makes only records below off readable (controller
	// mode: the master's confirm offset); negative: no limit.
	SetDispatchLimit(off message.PhysOffset)
}

// Master is a slave's view of its master's broker port (not the HA port),
// used before streaming to check the slave's log against the master's.
// RemoteMaster implements it over the remoting protocol.
type Master interface {
	// Bounds returns the master's commit-log minimum and maximum offsets
	// (GET_BROKER_RUNTIME_INFO's commitLogMinOffset and commitLogMaxOffset,
	// which RocketMQ masters answer too).
	Bounds(ctx context.Context) (Bounds, error)
	// Digests returns the digest of each range of the master's log
	// (COMMITLOG_DIGEST), or ErrDigestUnsupported for a RocketMQ master.
	Digests(ctx context.Context, ranges []Range) ([]Digest, error)
}

var (
	_ LogSource    = (*store.Store)(nil)
	_ LogSink      = (*store.Store)(nil)
	_ DigestSource = (*store.Store)(nil)
	_ Master       = RemoteMaster{}
	_ Master       = LocalMaster{}
)

// errOutOfLog: a read outside the commit log (also matches
// store.ErrBeforeMinOffset).
var errOutOfLog = store.ErrCommitLogRange
