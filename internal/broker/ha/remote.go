package ha

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/petrelmq/petrel/pkg/message"
	"github.com/petrelmq/petrel/pkg/protocol"
)

// Invoker sends one request and waits for its response; *remoting.Client
// implements it.
type Invoker interface {
	Invoke(ctx context.Context, addr string, req *protocol.Command) (*protocol.Command, error)
}

// ErrNoMaster is returned by RemoteMaster when the master's address is not
// known (yet).
var ErrNoMaster = errors.New("ha: master broker address unknown")

// RemoteMaster is a Master reached over the remoting protocol at the master's
// broker address (masterAddr from the REGISTER_BROKER answer). It works
// against Petrel and RocketMQ masters alike, except Digests (Petrel only).
type RemoteMaster struct {
	Invoker Invoker
	// Addr returns the master's broker address, "" when unknown.
	Addr func() string
	// Timeout bounds each request; default 3 s.
	Timeout time.Duration
}

func (m RemoteMaster) invoke(ctx context.Context, req *protocol.Command) (*protocol.Command, error) {
	addr := ""
	if m.Addr != nil {
		addr = m.Addr()
	}
	if addr == "" {
		return nil, ErrNoMaster
	}
	d := m.Timeout
	if d <= 0 {
		d = 3 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	resp, err := m.Invoker.Invoke(ctx, addr, req)
	if err != nil {
		return nil, fmt.Errorf("ha: master %s: %w", addr, err)
	}
	return resp, nil
}

// Bounds asks GET_BROKER_RUNTIME_INFO.
func (m RemoteMaster) Bounds(ctx context.Context) (Bounds, error) {
	resp, err := m.invoke(ctx, protocol.NewRequest(protocol.GetBrokerRuntimeInfo, nil))
	if err != nil {
		return Bounds{}, err
	}
	if err := protocol.ResponseError(resp); err != nil {
		return Bounds{}, fmt.Errorf("ha: master runtime info: %w", err)
	}
	return parseRuntimeBounds(resp.Body)
}

// parseRuntimeBounds reads commitLogMinOffset and commitLogMaxOffset from a
// KVTable body ({"table":{...}}, values as strings).
func parseRuntimeBounds(body []byte) (Bounds, error) {
	var kv struct {
		Table map[string]string `json:"table"`
	}
	if err := json.Unmarshal(body, &kv); err != nil {
		return Bounds{}, fmt.Errorf("ha: master runtime info: %w", err)
	}
	get := func(k string) (message.PhysOffset, error) {
		v, err := strconv.ParseInt(kv.Table[k], 10, 64)
		if err != nil || v < 0 {
			return 0, fmt.Errorf("ha: master runtime info: %s = %q", k, kv.Table[k])
		}
		return message.PhysOffset(v), nil
	}
	lo, err := get("commitLogMinOffset")
	if err != nil {
		return Bounds{}, err
	}
	hi, err := get("commitLogMaxOffset")
	if err != nil {
		return Bounds{}, err
	}
	return Bounds{Min: lo, Max: hi}, nil
}

// Digests asks COMMITLOG_DIGEST.
func (m RemoteMaster) Digests(ctx context.Context, ranges []Range) ([]Digest, error) {
	req := protocol.NewRequest(RequestCodeCommitLogDigest, map[string]string{"version": digestVersion})
	req.Body = EncodeDigestRanges(ranges)
	resp, err := m.invoke(ctx, req)
	if err != nil {
		return nil, err
	}
	if resp.ResponseCode() == protocol.RequestCodeNotSupported {
		return nil, ErrDigestUnsupported
	}
	if err := protocol.ResponseError(resp); err != nil {
		return nil, fmt.Errorf("ha: master digest: %w", err)
	}
	return DecodeDigests(resp.Body, len(ranges))
}

// LocalMaster is a Master in the same process (tests, or a broker that holds
// both stores): it reads src directly.
type LocalMaster struct {
	Src DigestSource
}

// Bounds returns src's bounds.
func (m LocalMaster) Bounds(context.Context) (Bounds, error) {
	return Bounds{Min: m.Src.CommitLogMinOffset(), Max: m.Src.CommitLogMaxOffset()}, nil
}

// Digests hashes src's ranges.
func (m LocalMaster) Digests(_ context.Context, ranges []Range) ([]Digest, error) {
	ds := make([]Digest, len(ranges))
	var buf []byte
	var err error
	for i, r := range ranges {
		if ds[i], buf, err = digestRange(m.Src, r, buf); err != nil {
			return nil, err
		}
	}
	return ds, nil
}
