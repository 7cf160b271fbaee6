package ha

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"

	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol"
	"github.com/petrelmq/petrel/pkg/remoting"
)

// COMMITLOG_DIGEST: a Petrel-only request on the broker port, with which a
// slave compares its commit log with its master's to find where they diverged
// (RocketMQ 4.9 has no such check). RocketMQ uses request codes up to 3010
// (5.x) plus codes above 200000 that do not fit an int16; Petrel's own codes
// are 7000-7099. A RocketMQ broker answers REQUEST_CODE_NOT_SUPPORTED.
//
// Request: ext field "version" = "1"; body = N ranges, N in [1, MaxDigestRanges]:
//
//	+-----------------+---------------+
//	| int64 offset    | int32 length  |  x N, big-endian
//	+-----------------+---------------+
//
// each range of 1..MaxDigestRangeSize bytes within one commit-log segment.
//
// Response SUCCESS: ext fields "minOffset" and "maxOffset" (the master's
// commit log); body = N results in request order:
//
//	+-------------+------------------------------------------+
//	| int8 status | 16 bytes: SHA-256(range bytes)[0:16]     |  x N
//	+-------------+------------------------------------------+
//
// status 0: the digest follows; 1: the range is not (entirely) in the log
// (below min, past max), digest zero. A malformed request answers
// SYSTEM_ERROR with a remark.
const (
	RequestCodeCommitLogDigest protocol.RequestCode = 7001
	// MaxDigestRanges bounds the ranges of one request.
	MaxDigestRanges = 64
	// MaxDigestRangeSize bounds one range, bytes.
	MaxDigestRangeSize = 1 << 20
	digestRangeSize    = 12
	digestResultSize   = 17
	digestVersion      = "1"
)

// Range is a byte range of a commit log.
type Range struct {
	Offset message.PhysOffset
	Length int32
}

// Digest is the answer for one Range.
type Digest struct {
	// OK is false when the master's log does not hold the whole range.
	OK  bool
	Sum [16]byte
}

// ErrDigestUnsupported is returned by Master.Digests when the master does not
// know COMMITLOG_DIGEST (a RocketMQ broker).
var ErrDigestUnsupported = errors.New("ha: master does not support COMMITLOG_DIGEST")

// EncodeDigestRanges is a COMMITLOG_DIGEST request body.
func EncodeDigestRanges(rs []Range) []byte {
	b := make([]byte, 0, len(rs)*digestRangeSize)
	for _, r := range rs {
		b = binary.BigEndian.AppendUint64(b, uint64(r.Offset))
		b = binary.BigEndian.AppendUint32(b, uint32(r.Length))
	}
	return b
}

// DecodeDigestRanges parses and checks a COMMITLOG_DIGEST request body.
func DecodeDigestRanges(b []byte, segSize int64) ([]Range, error) {
	if len(b) == 0 || len(b)%digestRangeSize != 0 || len(b)/digestRangeSize > MaxDigestRanges {
		return nil, fmt.Errorf("ha: digest request body of %d bytes: want 1..%d ranges of %d bytes", len(b), MaxDigestRanges, digestRangeSize)
	}
	rs := make([]Range, len(b)/digestRangeSize)
	for i := range rs {
		p := b[i*digestRangeSize:]
		r := Range{Offset: message.PhysOffset(binary.BigEndian.Uint64(p)), Length: int32(binary.BigEndian.Uint32(p[8:]))}
		if r.Offset < 0 || r.Length <= 0 || r.Length > MaxDigestRangeSize ||
			int64(r.Offset)%segSize+int64(r.Length) > segSize {
			return nil, fmt.Errorf("ha: digest range %d: offset %d length %d (at most %d bytes within one segment)", i, r.Offset, r.Length, MaxDigestRangeSize)
		}
		rs[i] = r
	}
	return rs, nil
}

// EncodeDigests is a COMMITLOG_DIGEST response body.
func EncodeDigests(ds []Digest) []byte {
	b := make([]byte, 0, len(ds)*digestResultSize)
	for _, d := range ds {
		st := byte(1)
		if d.OK {
			st = 0
		}
		b = append(b, st)
		b = append(b, d.Sum[:]...)
	}
	return b
}

// DecodeDigests parses a COMMITLOG_DIGEST response body of n results.
func DecodeDigests(b []byte, n int) ([]Digest, error) {
	if len(b) != n*digestResultSize {
		return nil, fmt.Errorf("ha: digest response body of %d bytes for %d ranges", len(b), n)
	}
	ds := make([]Digest, n)
	for i := range ds {
		p := b[i*digestResultSize:]
		switch p[0] {
		case 0:
			ds[i].OK = true
			copy(ds[i].Sum[:], p[1:digestResultSize])
		case 1:
			if [16]byte(p[1:digestResultSize]) != ([16]byte{}) {
				return nil, fmt.Errorf("ha: digest response: a digest for a missing range")
			}
		default:
			return nil, fmt.Errorf("ha: digest response: status %d", p[0])
		}
	}
	return ds, nil
}

// rawReader reads a commit log's bytes (a Store's ReadCommitLog).
type rawReader interface {
	ReadCommitLog(off message.PhysOffset, max int, dst []byte) ([]byte, error)
	CommitLogMinOffset() message.PhysOffset
	CommitLogMaxOffset() message.PhysOffset
}

// digestRange hashes one range of l. ok is false when l does not hold all of
// it. buf is scratch space, returned for reuse.
func digestRange(l rawReader, r Range, buf []byte) (d Digest, _ []byte, err error) {
	if r.Offset < l.CommitLogMinOffset() || r.Offset+message.PhysOffset(r.Length) > l.CommitLogMaxOffset() {
		return Digest{}, buf, nil
	}
	buf, err = l.ReadCommitLog(r.Offset, int(r.Length), buf[:0])
	if err != nil {
		if errors.Is(err, errOutOfLog) {
			return Digest{}, buf, nil
		}
		return Digest{}, buf, err
	}
	if len(buf) != int(r.Length) {
		return Digest{}, buf, nil
	}
	sum := sha256.Sum256(buf)
	copy(d.Sum[:], sum[:16])
	d.OK = true
	return d, buf, nil
}

// DigestSource is what the COMMITLOG_DIGEST processor reads: a master's store.
type DigestSource interface {
	rawReader
	CommitLogSegmentSize() int64
}

// DigestProcessor answers COMMITLOG_DIGEST from src. The broker registers it
// for RequestCodeCommitLogDigest on any pool that may read the disk (admin).
// Each request reads at most MaxDigestRanges × MaxDigestRangeSize bytes.
func DigestProcessor(src DigestSource) remoting.ProcessorFunc {
	return func(_ context.Context, _ *remoting.Conn, req *protocol.Command) (*protocol.Command, error) {
		return digestResponse(src, req), nil
	}
}

func digestResponse(src DigestSource, req *protocol.Command) *protocol.Command {
	if v := req.Ext("version"); v != digestVersion {
		return protocol.NewResponse(req, protocol.SystemError, "COMMITLOG_DIGEST: unsupported version "+strconv.Quote(v))
	}
	rs, err := DecodeDigestRanges(req.Body, src.CommitLogSegmentSize())
	if err != nil {
		return protocol.NewResponse(req, protocol.SystemError, err.Error())
	}
	b := Bounds{Min: src.CommitLogMinOffset(), Max: src.CommitLogMaxOffset()}
	ds := make([]Digest, len(rs))
	var buf []byte
	for i, r := range rs {
		ds[i], buf, err = digestRange(src, r, buf)
		if err != nil {
			return protocol.NewResponse(req, protocol.SystemError, "COMMITLOG_DIGEST: "+err.Error())
		}
	}
	resp := protocol.NewResponse(req, protocol.Success, "")
	resp.SetExt("minOffset", strconv.FormatInt(int64(b.Min), 10))
	resp.SetExt("maxOffset", strconv.FormatInt(int64(b.Max), 10))
	resp.Body = EncodeDigests(ds)
	return resp
}
