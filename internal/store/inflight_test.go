package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/internal/store"
	"github.com/petrelmq/petrel/internal/store/storetest"
	"github.com/petrelmq/petrel/internal/vfs"
	"github.com/petrelmq/petrel/internal/vfs/errorfs"
	"github.com/petrelmq/petrel/pkg/clock"
	"github.com/petrelmq/petrel/pkg/message"
)

// checkBody checks that a pulled message is exactly storetest.Msg's message i.
func checkBody(t testing.TB, m *message.MessageExt) {
	want := storetest.Msg(m.Topic, m.QueueID, int(m.Flag), len(m.Body))
	if !bytes.Equal(want.Body, m.Body) {
		t.Errorf("message %d at %d: body differs", m.Flag, m.PhysOffset)
	}
}

// TestRetentionRacesReaders runs GetMessages, LookMessageByOffset and puts while
// segments are deleted and queues trimmed, and DeleteTopic races the dispatcher
// and pulls: readers get whole records or a clean status, never garbage.
func TestRetentionRacesReaders(t *testing.T) {
	for _, fsName := range []string{"mem", "os"} {
		t.Run(fsName, func(t *testing.T) {
			t.Parallel()
			var fsys vfs.FS = vfs.NewMem()
			root := "/store"
			if fsName == "os" {
				fsys, root = vfs.OS, filepath.Join(t.TempDir(), "store")
			}
			const seg = 8 << 10
			cfg := testConfig(root, store.SyncFlush, seg)
			s := openStarted(t, fsys, cfg, nil)
			defer func() { require.NoError(t, s.Close()) }()
			var phys []message.PhysOffset
			for i := range 300 {
				phys = append(phys, storetest.Put(t, s, storetest.Msg("R", 0, i, 200)).PhysOffset)
			}
			storetest.WaitDispatched(t, s, "R", 0, 300)

			ctx := context.Background()
			var stop atomic.Bool
			var wg sync.WaitGroup
			run := func(fn func()) {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for !stop.Load() {
						fn()
					}
				}()
			}
			// Pullers.
			for range 2 {
				run(func() {
					off := message.QueueOffset(0)
					for range 50 {
						r, err := s.GetMessages(ctx, "g", "R", 0, off, 32, nil, nil)
						if err != nil {
							t.Errorf("get: %v", err)
							return
						}
						if r.Status == store.GetFound {
							msgs, err := message.DecodeMessages(r.Body)
							if err != nil || len(msgs) != r.Count {
								t.Errorf("garbage body at %d: %v", off, err)
								return
							}
							for _, m := range msgs {
								checkBody(t, m)
							}
						} else if len(r.Body) != 0 {
							t.Errorf("status %v with %d bytes", r.Status, len(r.Body))
						}
						if r.NextBeginOffset <= off && r.Status != store.GetOffsetOverflowOne {
							off = s.MinOffsetInQueue("R", 0)
						} else {
							off = r.NextBeginOffset
						}
					}
				})
			}
			// Lookups by physical offset.
			run(func() {
				for _, p := range phys {
					b, err := s.LookMessageByOffset(p, nil)
					if err != nil {
						if !errors.Is(err, store.ErrNotFound) {
							t.Errorf("look %d: %v", p, err)
						}
						continue
					}
					m, _, err := message.DecodeMessage(b)
					if err != nil || m.PhysOffset != p {
						t.Errorf("look %d: garbage: %v", p, err)
						continue
					}
					checkBody(t, m)
				}
			})
			// DeleteTopic racing puts, the dispatcher and pulls of that topic.
			run(func() {
				for i := range 5 {
					_, _ = storetest.PutErr(s, storetest.Msg("D", 0, i, 50))
				}
				_, _ = s.GetMessages(ctx, "g", "D", 0, 0, 32, nil, nil)
				require.NoError(t, s.DeleteTopic("D"))
			})
			run(func() {
				r, err := s.GetMessages(ctx, "g", "D", 0, 0, 32, nil, nil)
				if err != nil {
					t.Errorf("get D: %v", err)
				} else if r.Status == store.GetFound {
					msgs, err := message.DecodeMessages(r.Body)
					if err != nil {
						t.Errorf("get D: garbage: %v", err)
					}
					for _, m := range msgs {
						checkBody(t, m)
					}
				}
			})
			// Retention: delete one segment at a time, then trim.
			for i := 300; ; i++ {
				storetest.Put(t, s, storetest.Msg("R", 0, i, 200))
				lo, _ := s.CommitLogForTest()
				n, err := s.DeleteSegmentsForTest(lo + seg)
				require.NoError(t, err)
				if i%2 == 0 {
					s.TrimDerivedForTest()
				}
				if n == 0 && i > 400 {
					break
				}
				if i > 2000 {
					break
				}
			}
			s.TrimDerivedForTest()
			stop.Store(true)
			wg.Wait()
		})
	}
}

// TestCloseWithWorkInFlight closes the store while puts, pulls and dispatch
// run: every put callback runs exactly once, with a result or ErrClosed.
func TestCloseWithWorkInFlight(t *testing.T) {
	for _, mode := range []store.FlushDiskType{store.AsyncFlush, store.SyncFlush} {
		for _, fsName := range []string{"mem", "os"} {
			t.Run(fmt.Sprintf("%s/%s", mode, fsName), func(t *testing.T) {
				t.Parallel()
				var fsys vfs.FS = vfs.NewMem()
				root := "/store"
				if fsName == "os" {
					fsys, root = vfs.OS, filepath.Join(t.TempDir(), "store")
				}
				cfg := testConfig(root, mode, 16<<10)
				s := openStarted(t, fsys, cfg, nil)
				var issued, called, bad atomic.Int64
				var wg sync.WaitGroup
				ctx := context.Background()
				for w := range 4 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						q := store.NewCompletions()
						defer func() {
							// Exactly one completion per put: nothing may
							// arrive after the one Next took.
							bad.Add(int64(len(q.Drain(nil))))
						}()
						for i := 0; ; i++ {
							issued.Add(1)
							msgs := []*message.MessageExt{storetest.Msg("C", int32(w), i, 100)}
							if i%3 == 0 {
								msgs = append(msgs, storetest.Msg("C", int32(w), i, 10))
							}
							s.Put(msgs, q, i)
							c, _ := q.Next(ctx)
							called.Add(1)
							if c.Tag != i {
								bad.Add(1)
							}
							if c.Err != nil && !errors.Is(c.Err, store.ErrClosed) {
								t.Errorf("put: unexpected error %v", c.Err)
							}
							if c.Err != nil {
								return
							}
						}
					}()
					wg.Add(1)
					go func() {
						defer wg.Done()
						for {
							_, err := s.GetMessages(ctx, "g", "C", int32(w), 0, 32, nil, nil)
							if errors.Is(err, store.ErrClosed) {
								return
							}
							require.NoError(t, err)
						}
					}()
				}
				storetest.WaitFor(t, 10e9, func() bool { return s.MaxOffsetInQueue("C", 0) >= 50 })
				require.NoError(t, s.Close())
				wg.Wait()
				require.Equal(t, issued.Load(), called.Load())
				require.Zero(t, bad.Load())
				// Reopen: the store is consistent.
				s = openStarted(t, fsys, cfg, nil)
				for w := range 4 {
					storetest.GetAll(t, s, "C", int32(w), 0)
				}
				require.NoError(t, s.Close())
			})
		}
	}
}

// TestDerivedWriteFailures injects failures into consume-queue, index and
// checkpoint writes: the store reports them, readers see only whole data, and a
// reopen recovers every message from the commit log.
func TestDerivedWriteFailures(t *testing.T) {
	for _, tc := range []struct {
		name string
		dir  string
		op   errorfs.Op
	}{
		{"cq-write", "/consumequeue/", errorfs.OpWrite},
		{"cq-sync", "/consumequeue/", errorfs.OpSync},
		{"cq-create", "/consumequeue/", errorfs.OpCreate},
		{"index-write", "/index/", errorfs.OpWrite},
		{"index-sync", "/index/", errorfs.OpSync},
		{"index-create", "/index/", errorfs.OpCreate},
		{"checkpoint-write", "/checkpoint", errorfs.OpWrite},
		{"checkpoint-rename", "/checkpoint", errorfs.OpRename},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			mem := vfs.NewMem()
			var sw errorfs.Switch
			fsys := errorfs.Wrap(mem, &sw)
			cfg := testConfig("/store", store.SyncFlush, 16<<10)
			clk := clock.NewManual(time.Date(2024, 3, 5, 12, 0, 0, 0, time.UTC))
			s := openStarted(t, fsys, cfg, clk)
			for i := range 20 {
				storetest.Put(t, s, storetest.Msg("F", 0, i, 100))
			}
			storetest.WaitDispatched(t, s, "F", 0, 20)
			require.NoError(t, s.FlushDerivedForTest())
			sw.Set(errorfs.If(func(op errorfs.Op, path string) bool {
				return op == tc.op && strings.Contains(path, tc.dir)
			}, syscall.ENOSPC))
			clk.Advance(time.Second) // later store times: the checkpoint must move
			for i := 20; i < 200; i++ {
				storetest.Put(t, s, storetest.Msg("F", 0, i, 100))
			}
			_, hi := s.CommitLogForTest()
			storetest.WaitFor(t, 10e9, func() bool { return s.DispatchedForTest() >= int64(hi) })
			// The failure shows: as a flush error, or the store reports the
			// derived data it is repairing.
			ferr := s.FlushDerivedForTest()
			require.True(t, ferr != nil || s.Stats().Degraded(), "failure not reported")
			// Whatever readers see is whole.
			for _, m := range storetest.GetAll(t, s, "F", 0, 0) {
				checkBody(t, m)
			}
			require.Error(t, s.Close())
			sw.Set(nil)
			s = openStarted(t, mem, cfg, clk)
			got := storetest.GetAll(t, s, "F", 0, 0)
			require.Len(t, got, 200)
			for i, m := range got {
				require.EqualValues(t, i, m.Flag)
				checkBody(t, m)
			}
			r, err := s.QueryMessage("F", "key-150", 4, 0, 1<<62)
			require.NoError(t, err)
			require.NotEmpty(t, r.Records)
			require.NoError(t, s.Close())
		})
	}
}

// TestSaveConfigFailure: a failed SaveConfig reports the error and leaves the
// previous version readable.
func TestSaveConfigFailure(t *testing.T) {
	t.Parallel()
	for _, op := range []errorfs.Op{errorfs.OpWrite, errorfs.OpSync, errorfs.OpRename, errorfs.OpCreate} {
		mem := vfs.NewMem()
		var sw errorfs.Switch
		fsys := errorfs.Wrap(mem, &sw)
		s := openStarted(t, fsys, testConfig("/store", store.AsyncFlush, 16<<10), nil)
		require.NoError(t, s.SaveConfig("t.json", []byte(`{"v":1}`)))
		sw.Set(errorfs.If(func(o errorfs.Op, path string) bool {
			return o == op && strings.Contains(path, "/config/")
		}, syscall.ENOSPC))
		err := s.SaveConfig("t.json", []byte(`{"v":2}`))
		require.ErrorIs(t, err, syscall.ENOSPC, op.String())
		sw.Set(nil)
		data, err := s.LoadConfig("t.json")
		require.NoError(t, err)
		require.JSONEq(t, `{"v":1}`, string(data), op.String())
		require.NoError(t, s.Close())
	}
}
