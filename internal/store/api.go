package store

import (
	"context"
	"errors"
	"net/netip"
	"time"

	"github.com/petrelmq/petrel/pkg/message"
)

// MessageStore is what the broker needs from storage. *Store implements it; the
// storetest conformance suite runs against any implementation.
//
// All methods are safe for concurrent use. Methods other than Start and Close
// return ErrClosed after Close.
type MessageStore interface {
	// Start recovers nothing (Open did) and launches the writer, flusher,
	// dispatcher and cleaner goroutines.
	Start(ctx context.Context) error
	// Close stops accepting puts, flushes and fsyncs the commit log, finishes
	// dispatching, flushes consume queues and index, writes the checkpoint, removes
	// the abort file and releases the directory lock. Idempotent.
	Close() error

	// Put stores msgs: one message, or a batch of one topic and queue
	// (SEND_BATCH_MESSAGE) appended as one contiguous run with consecutive
	// queue offsets. It encodes each message (the caller fills topic, queue id,
	// flag, sysflag, properties, body, born timestamp and host, reconsume
	// times; the store fills the physical offset, queue offset, store
	// timestamp, store host and body CRC) and appends them.
	//
	// Put does not wait: exactly one Completion carrying tag is pushed to q,
	// from whichever goroutine finishes the put, once the records are as
	// durable as FlushDiskType (and a Replicator, if set) requires: written to
	// the OS for ASYNC_FLUSH; after the group commit covering them for
	// SYNC_FLUSH, with Status PutFlushDiskTimeout if that takes longer than
	// SyncFlushTimeout. Or with the error that kept them from being stored
	// (ErrMessageTooLarge, ErrBadMessage, ErrBadBatch, ErrDiskFull,
	// ErrNotWritable, ErrClosed). The result describes the first message;
	// MsgIDs and Count describe a batch. The caller must not touch msgs after
	// Put returns.
	Put(msgs []*message.MessageExt, q *Completions, tag any)

	// GetMessages reads up to maxMsgs messages of group's consumption from a
	// queue, starting at offset, keeping those filter accepts (nil accepts all),
	// and appends their stored records to dst (the pull response body); like
	// append, it may write anywhere in dst's spare capacity (it reads records
	// ahead there). It never blocks on new data; the broker's long polling
	// waits via dispatch listeners.
	GetMessages(ctx context.Context, group, topic string, queueID int32, offset message.QueueOffset,
		maxMsgs int, filter MessageFilter, dst []byte) (GetResult, error)

	// MaxOffsetInQueue is the next queue offset to be written (0 for an unknown
	// queue). MinOffsetInQueue is the smallest readable one.
	MaxOffsetInQueue(topic string, queueID int32) message.QueueOffset
	MinOffsetInQueue(topic string, queueID int32) message.QueueOffset
	// OffsetByTime is the queue offset of the first message stored at or after
	// millis (Unix ms), as SEARCH_OFFSET_BY_TIMESTAMP answers.
	OffsetByTime(topic string, queueID int32, millis int64) message.QueueOffset
	// EarliestMessageTime is the store time (Unix ms) of the queue's first
	// readable message.
	EarliestMessageTime(topic string, queueID int32) (int64, error)
	// MessageStoreTime is the store time (Unix ms) of the message at offset.
	MessageStoreTime(topic string, queueID int32, offset message.QueueOffset) (int64, error)
	// LookMessageByOffset returns the stored record at a commit-log offset
	// (VIEW_MESSAGE_BY_ID), appended to dst.
	LookMessageByOffset(phys message.PhysOffset, dst []byte) ([]byte, error)
	// QueryMessage finds up to maxNum records whose key or unique key is key,
	// stored in [beginMillis, endMillis], via the index (QUERY_MESSAGE).
	QueryMessage(topic, key string, maxNum int, beginMillis, endMillis int64) (QueryResult, error)

	// AddDispatchQueue registers q: the dispatcher pushes a DispatchEvent to it
	// after each message's consume-queue entry is readable (not for
	// transaction half or rollback records). Register before Start to see
	// every event (long polling, the delay scheduler and the timer use it).
	AddDispatchQueue(q *DispatchQueue)
	// DeleteTopic removes a topic's consume queues (DELETE_TOPIC_IN_BROKER). The
	// commit-log bytes go with normal retention.
	DeleteTopic(topic string) error
	// QueueIDs lists the queue ids that have a consume queue for topic.
	QueueIDs(topic string) []int32

	// Stats reports runtime figures for GET_BROKER_RUNTIME_INFO and metrics.
	Stats() Stats

	// LoadConfig reads <ConfigDir>/<name> (topics.json, subscriptionGroup.json,
	// consumerOffset.json, delayOffset.json). A missing file gives (nil, nil);
	// if the file is damaged the .bak copy is tried.
	LoadConfig(name string) ([]byte, error)
	// SaveConfig atomically replaces <ConfigDir>/<name> with data (temp file,
	// fsync, rename, directory fsync), keeping the previous version as name.bak.
	SaveConfig(name string, data []byte) error
}

// FlushDiskType is flushDiskType.
type FlushDiskType int

const (
	// AsyncFlush answers once the commit log's writer has handed the message to
	// the OS (page cache), as RocketMQ does (default): a crash of the broker
	// process loses no acknowledged message; power loss can lose anything not
	// yet fsynced by the periodic flush.
	AsyncFlush FlushDiskType = iota
	// SyncFlush answers once the message is on disk, by group commit.
	SyncFlush
)

func (f FlushDiskType) String() string {
	if f == SyncFlush {
		return "SYNC_FLUSH"
	}
	return "ASYNC_FLUSH"
}

// Config configures a Store. Field comments give the broker.conf key, unit and
// default.
type Config struct {
	RootDir         string // storePathRootDir; default $HOME/store
	CommitLogDir    string // storePathCommitLog; default <RootDir>/commitlog
	ConsumeQueueDir string // storePathConsumeQueue; default <RootDir>/consumequeue
	IndexDir        string // storePathIndex; default <RootDir>/index
	CheckpointPath  string // storeCheckpoint; default <RootDir>/checkpoint
	AbortPath       string // abortFile; default <RootDir>/abort
	ConfigDir       string // default <RootDir>/config

	CommitLogSegmentSize       int64 // mapedFileSizeCommitLog, bytes; default 1 GiB
	ConsumeQueueEntriesPerFile int   // mapedFileSizeConsumeQueue/20; default 300,000

	FlushDiskType         FlushDiskType // flushDiskType; default ASYNC_FLUSH
	FlushInterval         time.Duration // flushIntervalCommitLog, ms; default 500 ms
	FlushLeastPages       int           // flushCommitLogLeastPages; default 4
	FlushThoroughInterval time.Duration // flushCommitLogThoroughInterval, ms; default 10 s
	SyncFlushTimeout      time.Duration // syncFlushTimeout, ms; default 5 s
	MaxMessageSize        int           // maxMessageSize, bytes; default 4 MiB

	MessageIndexEnable bool // messageIndexEnable; default true
	MaxHashSlotNum     int  // maxHashSlotNum; default 5,000,000
	MaxIndexNum        int  // maxIndexNum; default 20,000,000

	// OnFlush, if set, hears of every commit-log fsync: how long it took and
	// how many sync-flush puts it completed. It runs on the flusher goroutine
	// and must be quick (the broker's metrics count it). Default nil.
	OnFlush func(took time.Duration, waiters int)

	FileReservedTime      time.Duration // fileReservedTime, hours; default 72 h
	DeleteWhen            []int         // deleteWhen, hours of day "04" or "01;02"; default [4]
	CleanResourceInterval time.Duration // cleanResourceInterval, ms; default 10 s
	DiskMaxUsedSpaceRatio int           // diskMaxUsedSpaceRatio, percent; default 75: above it, delete expired segments at any hour
	DiskFullRatio         int           // diskSpaceWarningLevelRatio, percent; default 90: refuse puts above it

	// StoreHost is written as STOREHOST into every record and is the address in
	// offset message ids: the broker's advertised ip:port.
	StoreHost netip.AddrPort
	// Repair lets Open truncate at a corrupt record in the middle of the commit
	// log instead of refusing to start. Default false.
	Repair bool

	// The fields below were added with the Store; a zero value means the default.

	// MessageDelayLevel is messageDelayLevel: the delay of each level (1-based)
	// of SCHEDULE_TOPIC_XXXX, used for its consume-queue tags code (delivery
	// time). Default "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h".
	MessageDelayLevel string
	// MaxTransferBytesInMemory and MaxTransferCountInMemory cap one GetMessages
	// answer while its data counts as in memory
	// (maxTransferBytesOnMessageInMemory, maxTransferCountOnMessageInMemory):
	// defaults 256 KiB and 32. The first message is always returned.
	MaxTransferBytesInMemory int
	MaxTransferCountInMemory int
	// MaxTransferBytesOnDisk and MaxTransferCountOnDisk are the caps once the
	// data counts as on disk (...InDisk): defaults 64 KiB and 8.
	MaxTransferBytesOnDisk int
	MaxTransferCountOnDisk int
	// AccessMessageInMemoryMaxRatio is accessMessageInMemoryMaxRatio, percent of
	// PhysicalMemorySize: data further behind the commit log's end than this
	// counts as on disk, and GetMessages sets SuggestPullFromSlave. Default 40.
	AccessMessageInMemoryMaxRatio int
	// PhysicalMemorySize is the machine's memory in bytes, for the ratio above.
	// Default: MemTotal from /proc/meminfo, else 8 GiB.
	PhysicalMemorySize int64
	// FlushConsumeQueueInterval is flushIntervalConsumeQueue: how often consume
	// queues and the index are flushed and the checkpoint written. Default 1 s.
	FlushConsumeQueueInterval time.Duration
	// TimerDir holds the timer log (timer messages' delivery index). Petrel
	// only; default <RootDir>/timerlog.
	TimerDir string
	// TimerPrecision is timerPrecisionMs: the timer log's bucket width.
	// Default 1 s.
	TimerPrecision time.Duration
	// DiskSpaceCleanForciblyRatio is diskSpaceCleanForciblyRatio, percent of
	// a store disk (commit log or consume queues) used, as df counts it: above
	// it retention deletes the oldest segments even before FileReservedTime,
	// logging each at ERROR. Default 85.
	DiskSpaceCleanForciblyRatio int
}

// PutStatus says how durable a stored message is.
type PutStatus int

const (
	PutOK                PutStatus = iota // stored as durably as configured
	PutFlushDiskTimeout                   // stored; the sync flush did not finish in time (FLUSH_DISK_TIMEOUT)
	PutFlushSlaveTimeout                  // stored; a sync slave did not confirm in time (FLUSH_SLAVE_TIMEOUT)
	PutSlaveNotAvailable                  // stored; no sync slave (SLAVE_NOT_AVAILABLE)
	// PutFenced: stored here, but this broker stopped being a master (its
	// lease ended) before the put was confirmed: the message may be lost and
	// must be sent again (SERVICE_NOT_AVAILABLE; controller mode only).
	PutFenced
)

// PutResult describes a stored message (or the first of a batch).
type PutResult struct {
	Status         PutStatus
	PhysOffset     message.PhysOffset
	QueueOffset    message.QueueOffset
	Size           int   // bytes of the record (of all records for a batch)
	StoreTimestamp int64 // Unix ms
	MsgID          string
	// MsgIDs has the offset message id of every message of a batch, in order.
	MsgIDs []string
	Count  int
}

// Put errors. Each maps to a response code in the broker.
var (
	ErrClosed          = errors.New("store: closed")
	ErrMessageTooLarge = errors.New("store: message larger than maxMessageSize")      // MESSAGE_ILLEGAL
	ErrDiskFull        = errors.New("store: disk full; new messages refused")         // SERVICE_NOT_AVAILABLE
	ErrNotWritable     = errors.New("store: not writable after an I/O error")         // SERVICE_NOT_AVAILABLE
	ErrNotFound        = errors.New("store: no such message")                         // lookups
	ErrBadBatch        = errors.New("store: batch messages differ in topic or queue") // MESSAGE_ILLEGAL
	// ErrBadMessage: the message cannot be encoded as a record (topic longer than
	// 127 bytes, a property with a separator byte, properties over 32767 bytes).
	ErrBadMessage = errors.New("store: message cannot be stored") // MESSAGE_ILLEGAL
	// ErrFenced: puts are refused because the broker is not (or no longer)
	// a master allowed to acknowledge (SetWriteFence; SERVICE_NOT_AVAILABLE).
	ErrFenced = errors.New("store: not accepting writes: not the master (fenced)")
	// ErrInSyncReplicas: puts are refused because fewer replicas are in sync
	// than minInSyncReplicas asks (SetWriteFence; SYSTEM_ERROR).
	ErrInSyncReplicas = errors.New("store: in-sync replicas not enough")
)

// GetStatus is the outcome of GetMessages (RocketMQ's GetMessageStatus); the
// broker maps it to PULL_* codes.
type GetStatus int

const (
	GetFound               GetStatus = iota
	GetNoMatchedMessage              // messages present, none matched the filter
	GetMessageWasRemoving            // the commit-log bytes were deleted by retention
	GetOffsetFoundNull               // consume-queue entry missing
	GetOffsetOverflowBadly           // offset > max
	GetOffsetOverflowOne             // offset == max: caught up
	GetOffsetTooSmall                // offset < min
	GetNoMatchedLogicQueue           // no such topic/queue
	GetNoMessageInQueue              // queue exists but is empty
)

// GetResult is a pull's answer.
type GetResult struct {
	Status          GetStatus
	NextBeginOffset message.QueueOffset
	MinOffset       message.QueueOffset
	MaxOffset       message.QueueOffset
	Body            []byte // dst with the stored records appended, back to back
	Count           int    // records in Body
	// SuggestPullFromSlave is set when the consumer is so far behind that the
	// data is probably no longer in memory (RocketMQ's accessMessageInMemoryMaxRatio).
	SuggestPullFromSlave bool
}

// MessageFilter decides which messages a pull returns.
type MessageFilter interface {
	// MatchTagsCode filters on the consume-queue entry's tag hash code.
	MatchTagsCode(tagsCode int64) bool
	// MatchRecord filters on the stored record (SQL92 on properties). Called only
	// for messages MatchTagsCode accepted.
	MatchRecord(record []byte) bool
}

// QueryResult lists records found by key.
type QueryResult struct {
	Records             [][]byte
	IndexLastUpdateTime int64 // Unix ms
	IndexLastUpdatePhys message.PhysOffset
}

// DispatchEvent says a message became readable in a consume queue.
type DispatchEvent struct {
	Topic          string
	QueueID        int32
	QueueOffset    message.QueueOffset
	TagsCode       int64
	StoreTimestamp int64
	// PhysOffset is the record's commit-log offset.
	PhysOffset message.PhysOffset
}

// Stats are runtime figures.
type Stats struct {
	CommitLogMinOffset        message.PhysOffset
	CommitLogMaxOffset        message.PhysOffset
	DispatchBehindBytes       int64
	DiskUsedRatio             float64 // 0..1 of the commit-log filesystem, used ÷ (used + available) as df
	ConsumeQueueDiskUsedRatio float64 // 0..1 of the consume-queue filesystem, likewise
	PutCount                  int64
	GetCount                  int64
	PutLatencyMaxMicros       int64
	CommitLogSegments         int
	EarliestMessageMillis     int64
	// SegmentsDeletedUnexpired and MessagesDeletedUnexpired count commit-log
	// segments deleted before FileReservedTime because a disk was above
	// DiskSpaceCleanForciblyRatio, and the consume-queue entries they held.
	SegmentsDeletedUnexpired int64
	MessagesDeletedUnexpired int64
	// SegmentsDeletedExpired counts commit-log segments deleted because they
	// were older than FileReservedTime.
	SegmentsDeletedExpired int64
	// Problems lists what is degraded now (see Problem), sorted by What;
	// empty when the store is healthy.
	Problems []Problem
}

// Degraded reports whether the store has a problem (Problems is not empty).
func (st Stats) Degraded() bool { return len(st.Problems) > 0 }
