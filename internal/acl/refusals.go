package acl

import (
	"log/slog"
	"net/netip"
	"sync"
	"time"
)

// refusalEvery is how often refusals of one account from one address are
// logged at most; the next line counts the ones in between.
const refusalEvery = 10 * time.Second

// maxRefusalKeys bounds the table of (account, address) pairs: past it the
// table starts over, so a flood of made-up keys cannot grow memory.
const maxRefusalKeys = 4096

// refusalLog logs refused requests, at most one line per account and
// address per refusalEvery, so that a client retrying with a wrong key (or
// an attacker) cannot flood the log.
type refusalLog struct {
	log *slog.Logger
	mu  sync.Mutex
	by  map[refusalKey]*refusalEntry
}

type refusalKey struct {
	accessKey string
	ip        netip.Addr
}

type refusalEntry struct {
	last       time.Time
	suppressed int
}

func (r *refusalLog) refused(d *DeniedError, now time.Time) {
	k := refusalKey{d.AccessKey, remoteIP(d.Remote)}
	r.mu.Lock()
	if r.by == nil || len(r.by) >= maxRefusalKeys {
		r.by = map[refusalKey]*refusalEntry{}
	}
	e := r.by[k]
	if e != nil && now.Sub(e.last) < refusalEvery {
		e.suppressed++
		r.mu.Unlock()
		return
	}
	n := 0
	if e != nil {
		n = e.suppressed
	}
	r.by[k] = &refusalEntry{last: now}
	r.mu.Unlock()
	r.log.Warn("acl: request refused", "access_key", d.AccessKey, "peer", d.Remote, "code", d.Code,
		"reason", d.Reason, "suppressed", n)
}
