package poll

import (
	"sync/atomic"
	"testing"
	"time"
)

func TestWaitFor(t *testing.T) {
	var n atomic.Int32
	go func() {
		for range 3 {
			n.Add(1)
		}
	}()
	WaitFor(t, 10*time.Second, func() bool { return n.Load() == 3 })
}

// fakeT records a Fatalf instead of stopping the test.
type fakeT struct {
	testing.TB
	failed bool
}

func (f *fakeT) Helper() {}
func (f *fakeT) Fatalf(string, ...any) {
	f.failed = true
	panic(f)
}

func TestUntilFails(t *testing.T) {
	ft := &fakeT{TB: t}
	func() {
		defer func() { _ = recover() }()
		Until(ft, 10*time.Millisecond, "never", func() bool { return false })
	}()
	if !ft.failed {
		t.Fatal("a condition that never holds did not fail the test")
	}
}
