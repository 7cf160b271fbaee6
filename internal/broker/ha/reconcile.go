package ha

import (
	"context"
	"errors"
	"fmt"

	"github.com/petrelmq/petrel/internal/store"
	"github.com/petrelmq/petrel/pkg/message"
)

// Before each session a slave checks its log against its master's (RocketMQ
// 4.9 does not; see docs/design/replication.md, "What a slave checks"):
//
//  1. A new log reports 0: the master starts at its last segment, as
//     RocketMQ does. A log emptied at an offset (step 2 or 4) reports that
//     offset if the master still holds it, else it is emptied again.
//  2. Ending below the master's minimum offset (retention deleted what the
//     slave needs next): empty the log; it continues at the master's minimum.
//  3. Otherwise find the last record the slave shares with the master, among
//     records at or after the master's minimum and ending at or before
//     min(slave max, master max), and cut the log after it. That drops a
//     tail the master does not have (slave ahead), a record cut by a frame,
//     and a diverged history. A Petrel master answers COMMITLOG_DIGEST, so
//     records are compared by digest: the last one first (the usual answer),
//     else by search. A RocketMQ master cannot be asked, so the last complete
//     record below its max counts as shared.
//  4. No shared record: empty the log at the master's minimum.
//
// The search assumes the logs agree up to one point and differ after it (a
// master that restarted from an older copy or lost its tail): two different
// histories never hold the same record at the same offset, since records
// carry their store time, offsets and unique keys. It first compares the
// first record of every segment, then the records of the last matching
// segment, narrowing through evenly spaced samples, comparing digestBatch
// records per request.

const (
	// wholeRecordDigest: records up to this size are compared whole; larger
	// ones by their first and last digestEdge bytes (header with store time
	// and offsets; properties with the unique key).
	wholeRecordDigest = 64 << 10
	digestEdge        = 4096
	// digestBatch records are compared per request.
	digestBatch = 8
	// maxSamples bounds the records a search keeps in memory per round.
	maxSamples = 4096
)

// ErrTruncateRefused: following the master would drop more than
// ClientConfig.MaxTruncateBytes of the slave's log.
var ErrTruncateRefused = errors.New("ha: refusing to drop that much of the slave's commit log")

// allowCut checks a cut of n bytes against MaxTruncateBytes.
func (c *Client) allowCut(n int64, what string) error {
	if c.cfg.MaxTruncateBytes > 0 && n > c.cfg.MaxTruncateBytes {
		return fmt.Errorf("%w: %s would drop %d bytes, MaxTruncateBytes is %d", ErrTruncateRefused, what, n, c.cfg.MaxTruncateBytes)
	}
	return nil
}

// span is one record [start, end).
type span struct{ start, end message.PhysOffset }

// reconcile checks the local log against the master and cuts it; it returns
// the offset to report first.
func (c *Client) reconcile(ctx context.Context) (message.PhysOffset, error) {
	sink := c.sink
	lo, hi := sink.CommitLogMinOffset(), sink.CommitLogMaxOffset()
	empty := sink.CommitLogEmpty()
	if empty && hi == 0 {
		return 0, nil
	}
	b := Bounds{Min: lo, Max: hi}
	if c.master != nil {
		var err error
		if b, err = c.master.Bounds(ctx); err != nil {
			return 0, err
		}
	}
	if empty {
		// Emptied earlier (at the master's min then): still in the master's
		// range?
		if hi < b.Min || hi > b.Max {
			return b.Min, c.reset(ctx, b.Min)
		}
		return hi, nil
	}
	if hi < b.Min {
		if err := c.allowCut(int64(hi-lo), "emptying the log (behind the master's min)"); err != nil {
			return 0, err
		}
		c.log.Warn("slave's commit log ends below the master's min offset (retention deleted what it needs): emptying it to continue at the master's min",
			"slave_max", hi, "master_min", b.Min)
		return b.Min, c.reset(ctx, b.Min)
	}
	from := max(lo, b.Min)
	c.searched = false
	common, found, err := c.commonEnd(ctx, from, min(hi, b.Max))
	if err != nil {
		return 0, err
	}
	switch {
	case !found:
		if err := c.allowCut(int64(hi-lo), "emptying the log (nothing shared with the master)"); err != nil {
			return 0, err
		}
		c.log.Warn("slave's commit log shares no record with the master's: emptying it to continue at the master's min",
			"slave_min", lo, "slave_max", hi, "master_min", b.Min, "master_max", b.Max)
		return b.Min, c.reset(ctx, b.Min)
	case common < hi:
		if err := c.allowCut(int64(hi-common), "truncating to the last shared record"); err != nil {
			return 0, err
		}
		lvl := c.log.Warn
		if hi <= b.Max && !c.searched {
			lvl = c.log.Info // only a record cut by the last frame of a session
		}
		lvl("truncating the slave's commit log to the last record shared with the master",
			"to", common, "slave_max", hi, "master_max", b.Max, "dropped_bytes", int64(hi-common))
		if err := c.sink.TruncateCommitLog(ctx, common); err != nil {
			return 0, fmt.Errorf("ha: truncate to %d: %w", common, err)
		}
	}
	return c.sink.CommitLogMaxOffset(), nil
}

func (c *Client) reset(ctx context.Context, base message.PhysOffset) error {
	if seg := message.PhysOffset(c.sink.CommitLogSegmentSize()); base%seg != 0 {
		return fmt.Errorf("ha: master's min offset %d is not a multiple of the slave's segment size %d: mapedFileSizeCommitLog must match", base, seg)
	}
	if err := c.sink.ResetCommitLog(ctx, base); err != nil {
		return fmt.Errorf("ha: reset commit log to %d: %w", base, err)
	}
	return nil
}

// commonEnd returns the end of the last record at or after from, ending at or
// before limit, that the slave shares with the master.
func (c *Client) commonEnd(ctx context.Context, from, limit message.PhysOffset) (message.PhysOffset, bool, error) {
	if limit <= from {
		return 0, false, nil
	}
	s, e, err := c.sink.LastCommitLogRecord(limit)
	if errors.Is(err, store.ErrNotFound) || err == nil && s < from {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	last := span{s, e}
	if c.master == nil || c.noDigest.Load() {
		return e, true, nil
	}
	ok, err := c.probe(ctx, []span{last})
	if errors.Is(err, ErrDigestUnsupported) {
		c.noDigest.Store(true)
		c.log.Info("master does not answer COMMITLOG_DIGEST (RocketMQ): the slave checks offsets only, not contents")
		return e, true, nil
	}
	if err != nil {
		return 0, false, err
	}
	if ok[0] {
		return e, true, nil
	}
	c.log.Warn("the slave's last record differs from the master's: searching for the last shared record", "record", s, "end", e)
	c.searched = true
	return c.search(ctx, from, last)
}

// search finds the last shared record at or after from, before bad (a record
// known to differ).
func (c *Client) search(ctx context.Context, from message.PhysOffset, bad span) (message.PhysOffset, bool, error) {
	seg := message.PhysOffset(c.sink.CommitLogSegmentSize())
	// The first record of each segment from from on (segment bases are
	// record starts on both sides).
	var firsts []span
	var hdr []byte
	for base := from - from%seg; base <= bad.start; base += seg {
		if base < from {
			continue
		}
		var err error
		hdr, err = c.sink.ReadCommitLog(base, message.BlankHeaderSize, hdr[:0])
		if err != nil || len(hdr) < message.BlankHeaderSize {
			break
		}
		total, magic, _ := message.PeekHeader(hdr)
		if magic != message.MagicV1 || total < message.RecordFixedSize {
			break
		}
		firsts = append(firsts, span{base, base + message.PhysOffset(total)})
	}
	i, err := c.lastMatch(ctx, firsts)
	if err != nil || i < 0 {
		return 0, false, err
	}
	good := firsts[i]
	upper := bad.start
	if i+1 < len(firsts) {
		upper = firsts[i+1].start
	}
	for {
		cands, stride, err := c.sample(good.end, upper)
		if err != nil {
			return 0, false, err
		}
		if len(cands) == 0 {
			return good.end, true, nil
		}
		j, err := c.lastMatch(ctx, cands)
		if err != nil {
			return 0, false, err
		}
		if j >= 0 {
			good = cands[j]
		}
		if stride == 1 {
			return good.end, true, nil
		}
		if j+1 < len(cands) {
			upper = cands[j+1].start
		}
	}
}

// sample returns evenly spaced records (every stride-th) among those starting
// in [from, upper), at most maxSamples of them. from is a record start.
func (c *Client) sample(from, upper message.PhysOffset) ([]span, int, error) {
	var out []span
	stride, n := 1, 0
	var buf []store.RecordSpan
	for off := from; off < upper; {
		var next message.PhysOffset
		var err error
		buf, next, err = c.sink.CommitLogRecords(off, upper, 1<<16, buf[:0])
		if err != nil {
			return nil, 0, fmt.Errorf("ha: read the slave's commit log from %d: %w", off, err)
		}
		for _, r := range buf {
			if n%stride == 0 && len(out) == maxSamples {
				k := 0
				for i := 0; i < len(out); i += 2 {
					out[k] = out[i]
					k++
				}
				out = out[:k]
				stride *= 2
			}
			if n%stride == 0 {
				out = append(out, span{r.Offset, r.End()})
			}
			n++
		}
		if len(buf) == 0 || next <= off {
			break
		}
		off = next
	}
	return out, stride, nil
}

// lastMatch returns the index of the last record of cands (ascending) that the
// master shares, or -1, assuming shared records all come before differing
// ones. It asks digestBatch records per request: each round cuts the range
// into digestBatch+1 parts.
func (c *Client) lastMatch(ctx context.Context, cands []span) (int, error) {
	lo, hi := -1, len(cands) // cands[lo] shared (or none), cands[hi] differs (or none)
	for hi-lo > 1 {
		var idx []int
		for k := 1; k <= digestBatch; k++ {
			m := lo + (hi-lo)*k/(digestBatch+1)
			if m > lo && m < hi && (len(idx) == 0 || idx[len(idx)-1] != m) {
				idx = append(idx, m)
			}
		}
		if len(idx) == 0 {
			idx = append(idx, lo+1)
		}
		probe := make([]span, len(idx))
		for k, m := range idx {
			probe[k] = cands[m]
		}
		ok, err := c.probe(ctx, probe)
		if err != nil {
			return -1, err
		}
		nlo, nhi := lo, hi
		for k, m := range idx {
			if !ok[k] {
				nhi = m
				break
			}
			nlo = m
		}
		lo, hi = nlo, nhi
	}
	return lo, nil
}

// probe reports, for each record, whether the master holds the same bytes at
// the same offset.
func (c *Client) probe(ctx context.Context, recs []span) ([]bool, error) {
	var ranges []Range
	var owner []int
	for i, r := range recs {
		size := r.end - r.start
		if size <= wholeRecordDigest {
			ranges = append(ranges, Range{Offset: r.start, Length: int32(size)})
			owner = append(owner, i)
			continue
		}
		ranges = append(ranges, Range{Offset: r.start, Length: digestEdge}, Range{Offset: r.end - digestEdge, Length: digestEdge})
		owner = append(owner, i, i)
	}
	remote, err := c.master.Digests(ctx, ranges)
	if err != nil {
		return nil, err
	}
	if len(remote) != len(ranges) {
		return nil, fmt.Errorf("ha: master answered %d digests for %d ranges", len(remote), len(ranges))
	}
	ok := make([]bool, len(recs))
	for i := range ok {
		ok[i] = true
	}
	var buf []byte
	for k, r := range ranges {
		var local Digest
		local, buf, err = digestRange(c.sink, r, buf)
		if err != nil {
			return nil, err
		}
		if !local.OK || !remote[k].OK || local.Sum != remote[k].Sum {
			ok[owner[k]] = false
		}
	}
	return ok, nil
}
