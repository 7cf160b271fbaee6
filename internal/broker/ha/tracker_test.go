package ha

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/internal/store"
	"github.com/petrelmq/petrel/pkg/message"
)

// TestTracker runs the scripts in testdata/tracker against a Tracker with
// FallbehindMax 1000 and Timeout 3s (override with "config fallbehind= timeout=").
// Times are offsets from a fixed start ("t=1.5s"). Commands:
//
//	config fallbehind= timeout=
//	connect id= [addr=] [t=]
//	disconnect id=
//	first id= report= min= max= [seg=1024] [t=]  -> start or error
//	sent id= end=
//	report id= off= max= [t=]                    -> released waiters, or error
//	wait name= upto= [t=]                        -> ok / not-available / queued
//	expire t=                                    -> released waiters
//	status max= t=                               -> one line per slave
//	drain                                        -> released waiters
func TestTracker(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	datadriven.Walk(t, "testdata/tracker", func(t *testing.T, path string) {
		tr := NewTracker(TrackerConfig{FallbehindMax: 1000, Timeout: 3 * time.Second})
		var out strings.Builder // completions land here, whichever command releases them
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			at := func() time.Time { return t0.Add(durArg(t, d, "t", "0s")) }
			id := SlaveID(intArg(t, d, "id", "0"))
			var rel []Release
			out.Reset()
			switch d.Cmd {
			case "config":
				tr = NewTracker(TrackerConfig{FallbehindMax: intArg(t, d, "fallbehind", "1000"), Timeout: durArg(t, d, "timeout", "3s")})
				return "ok"
			case "connect":
				tr.Connect(id, argOr(t, d, "addr", "slave"+strconv.Itoa(int(id))), at())
				return "ok"
			case "disconnect":
				tr.Disconnect(id)
				return "ok"
			case "first":
				start, err := tr.First(id, off(t, d, "report"), Bounds{Min: off(t, d, "min"), Max: off(t, d, "max")}, intArg(t, d, "seg", "1024"), at())
				if err != nil {
					return "error: " + err.Error()
				}
				return fmt.Sprintf("start=%d", start)
			case "sent":
				tr.Sent(id, off(t, d, "end"))
				return "ok"
			case "report":
				var err error
				rel, err = tr.Report(id, off(t, d, "off"), off(t, d, "max"), at(), nil)
				if err != nil {
					return "error: " + err.Error()
				}
			case "wait":
				name := argOr(t, d, "name", "")
				st, queued := tr.Wait(off(t, d, "upto"), at(), func(st store.PutStatus) {
					fmt.Fprintf(&out, "%s: %s\n", name, statusName(st))
				})
				if queued {
					return "queued"
				}
				return statusName(st)
			case "expire":
				rel = tr.Expire(at(), nil)
			case "drain":
				rel = tr.Drain(store.PutFlushSlaveTimeout, nil)
			case "status":
				for _, s := range tr.Status(off(t, d, "max"), at()) {
					fmt.Fprintf(&out, "%d %s reported=%t start=%d sent=%d ack=%d lag=%d lagtime=%s insync=%t\n",
						s.ID, s.Addr, s.Reported, s.StartOffset, s.SentOffset, s.AckOffset, s.LagBytes, s.LagTime, s.InSync)
				}
				fmt.Fprintf(&out, "waiting=%d", tr.Waiting())
				return out.String()
			default:
				t.Fatalf("unknown command %q", d.Cmd)
			}
			for _, r := range rel {
				r.Done(r.Status)
			}
			if out.Len() == 0 {
				return "none"
			}
			return strings.TrimSuffix(out.String(), "\n")
		})
	})
}

func statusName(st store.PutStatus) string {
	switch st {
	case store.PutOK:
		return "ok"
	case store.PutFlushSlaveTimeout:
		return "flush-slave-timeout"
	case store.PutSlaveNotAvailable:
		return "not-available"
	}
	return fmt.Sprint(int(st))
}

func argOr(t *testing.T, d *datadriven.TestData, key, def string) string {
	t.Helper()
	if !d.HasArg(key) {
		return def
	}
	var s string
	d.ScanArgs(t, key, &s)
	return s
}

func durArg(t *testing.T, d *datadriven.TestData, key, def string) time.Duration {
	t.Helper()
	v, err := time.ParseDuration(argOr(t, d, key, def))
	require.NoError(t, err)
	return v
}

func intArg(t *testing.T, d *datadriven.TestData, key, def string) int64 {
	t.Helper()
	v, err := strconv.ParseInt(argOr(t, d, key, def), 10, 64)
	require.NoError(t, err)
	return v
}

func off(t *testing.T, d *datadriven.TestData, key string) message.PhysOffset {
	t.Helper()
	return message.PhysOffset(intArg(t, d, key, "0"))
}
