package ha

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/petrelmq/petrel/pkg/message"
)

// Controller mode (docs/design/failover.md, "The identified HA session"):
// before the classic stream, a slave says who it is and which master epoch it
// expects, and the master answers with its epoch and epoch entries. Part of
// the wire format; never change. Big-endian:
//
//	slave -> master, hello, 24 bytes
//	  int64 HelloMagic, int64 broker id, int32 expected epoch, int32 0
//	master -> slave, welcome, 16 + 16*n bytes
//	  int64 HelloMagic, int32 epoch, int32 n (<= MaxEpochEntries),
//	  n x (int32 epoch, int32 0, int64 start offset)
//
// In the stream that follows, a frame whose size is ConfirmFrameSize carries
// no bytes: its offset is the master's confirm offset (what every replica it
// needs has), which the slave uses as its dispatch limit.
const (
	// HelloMagic is "PETRELHA". As an offset report it would claim about
	// 5.8 EB, which a classic master refuses; a controller-mode master
	// refuses a first report that is not it.
	HelloMagic int64 = 0x5045_5452_454C_4841
	// HelloSize is the size of a hello.
	HelloSize = 24
	// MaxEpochEntries bounds a welcome's entries.
	MaxEpochEntries = 4096
	// ConfirmFrameSize marks a confirm frame (controller mode only).
	ConfirmFrameSize int32 = -1
)

// errBadHandshake marks a hello or welcome that breaks the protocol.
var errBadHandshake = errors.New("ha: bad handshake")

// EpochEntry is one line of an epoch file: the master epoch that wrote the
// log from Start on (until the next entry's Start).
type EpochEntry struct {
	Epoch int32
	Start message.PhysOffset
}

// Hello is what a controller-mode slave sends first.
type Hello struct {
	BrokerID int64
	Epoch    int32
}

// AppendHello encodes h.
func AppendHello(dst []byte, h Hello) []byte {
	dst = binary.BigEndian.AppendUint64(dst, uint64(HelloMagic))
	dst = binary.BigEndian.AppendUint64(dst, uint64(h.BrokerID))
	dst = binary.BigEndian.AppendUint32(dst, uint32(h.Epoch))
	return binary.BigEndian.AppendUint32(dst, 0)
}

// ParseHello decodes a hello (b has HelloSize bytes).
func ParseHello(b []byte) (Hello, error) {
	if len(b) < HelloSize {
		return Hello{}, fmt.Errorf("%w: hello of %d bytes", errBadHandshake, len(b))
	}
	if m := int64(binary.BigEndian.Uint64(b)); m != HelloMagic {
		return Hello{}, fmt.Errorf("%w: no hello (first 8 bytes %#x): a slave not in controller mode?", errBadHandshake, m)
	}
	h := Hello{BrokerID: int64(binary.BigEndian.Uint64(b[8:])), Epoch: int32(binary.BigEndian.Uint32(b[16:]))}
	if h.BrokerID < 0 || h.Epoch <= 0 {
		return Hello{}, fmt.Errorf("%w: broker id %d, epoch %d", errBadHandshake, h.BrokerID, h.Epoch)
	}
	return h, nil
}

// Welcome is a controller-mode master's answer to a hello.
type Welcome struct {
	Epoch   int32
	Entries []EpochEntry
}

// AppendWelcome encodes w (at most MaxEpochEntries of the newest entries).
func AppendWelcome(dst []byte, w Welcome) []byte {
	es := w.Entries
	if len(es) > MaxEpochEntries {
		es = es[len(es)-MaxEpochEntries:]
	}
	dst = binary.BigEndian.AppendUint64(dst, uint64(HelloMagic))
	dst = binary.BigEndian.AppendUint32(dst, uint32(w.Epoch))
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(es)))
	for _, e := range es {
		dst = binary.BigEndian.AppendUint32(dst, uint32(e.Epoch))
		dst = binary.BigEndian.AppendUint32(dst, 0)
		dst = binary.BigEndian.AppendUint64(dst, uint64(e.Start))
	}
	return dst
}

// ReadWelcome reads and checks a welcome: the magic, at most
// MaxEpochEntries entries, increasing epochs and non-decreasing offsets.
func ReadWelcome(r io.Reader) (Welcome, error) {
	var hdr [16]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return Welcome{}, err
	}
	if m := int64(binary.BigEndian.Uint64(hdr[:])); m != HelloMagic {
		return Welcome{}, fmt.Errorf("%w: no welcome (first 8 bytes %#x): a master not in controller mode?", errBadHandshake, m)
	}
	w := Welcome{Epoch: int32(binary.BigEndian.Uint32(hdr[8:]))}
	n := int32(binary.BigEndian.Uint32(hdr[12:]))
	if n < 0 || n > MaxEpochEntries {
		return Welcome{}, fmt.Errorf("%w: %d epoch entries", errBadHandshake, n)
	}
	buf := make([]byte, 16*int(n))
	if _, err := io.ReadFull(r, buf); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return Welcome{}, err
	}
	w.Entries = make([]EpochEntry, n)
	for i := range w.Entries {
		b := buf[16*i:]
		w.Entries[i] = EpochEntry{Epoch: int32(binary.BigEndian.Uint32(b)), Start: message.PhysOffset(binary.BigEndian.Uint64(b[8:]))}
	}
	if err := CheckEpochEntries(w.Entries); err != nil {
		return Welcome{}, fmt.Errorf("%w: %w", errBadHandshake, err)
	}
	if len(w.Entries) > 0 && w.Entries[len(w.Entries)-1].Epoch > w.Epoch {
		return Welcome{}, fmt.Errorf("%w: entry of epoch %d past the master's epoch %d", errBadHandshake,
			w.Entries[len(w.Entries)-1].Epoch, w.Epoch)
	}
	return w, nil
}

// CheckEpochEntries reports the first entry that breaks the order: epochs
// positive and increasing, offsets not negative and not decreasing.
func CheckEpochEntries(es []EpochEntry) error {
	for i, e := range es {
		if e.Epoch <= 0 || e.Start < 0 {
			return fmt.Errorf("epoch entry %d: epoch %d at %d", i, e.Epoch, e.Start)
		}
		if i > 0 && (e.Epoch <= es[i-1].Epoch || e.Start < es[i-1].Start) {
			return fmt.Errorf("epoch entry %d (%d at %d) does not follow (%d at %d)", i, e.Epoch, e.Start,
				es[i-1].Epoch, es[i-1].Start)
		}
	}
	return nil
}

// EpochAt returns the epoch of the entry that holds the byte before end (the
// epoch that wrote a log's last byte), or 0 when no entry does.
func EpochAt(es []EpochEntry, end message.PhysOffset) int32 {
	var ep int32
	for _, e := range es {
		if e.Start >= end {
			break
		}
		ep = e.Epoch
	}
	return ep
}
