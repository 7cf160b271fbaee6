package clock

import (
	"testing"
	"time"
)

func TestManualTimerAndTicker(t *testing.T) {
	t0 := time.Unix(1000, 0)
	m := NewManual(t0)
	tm := m.NewTimer(5 * time.Second)
	tk := m.NewTicker(2 * time.Second)
	fired := make(chan struct{}, 1)
	m.AfterFunc(3*time.Second, func() { fired <- struct{}{} })

	m.Advance(1 * time.Second)
	select {
	case <-tm.C():
		t.Fatal("timer fired early")
	case <-tk.C():
		t.Fatal("ticker fired early")
	default:
	}
	m.Advance(1 * time.Second) // t=2: ticker
	if got := <-tk.C(); !got.Equal(t0.Add(2 * time.Second)) {
		t.Fatalf("tick at %v", got)
	}
	m.Advance(1 * time.Second) // t=3: afterfunc
	select {
	case <-fired:
	case <-time.After(5 * time.Second):
		t.Fatal("AfterFunc did not run")
	}
	m.Advance(2 * time.Second) // t=5: timer, ticker at 4 (dropped if unread? buffer 1)
	if got := <-tm.C(); !got.Equal(t0.Add(5 * time.Second)) {
		t.Fatalf("timer at %v", got)
	}
	if tm.Stop() {
		t.Fatal("Stop of a fired timer reported active")
	}
	tk.Stop()
	if n := m.Waiters(); n != 0 {
		t.Fatalf("waiters = %d after stop", n)
	}
	if !m.Now().Equal(t0.Add(5 * time.Second)) {
		t.Fatalf("now = %v", m.Now())
	}
}

func TestManualResetAndSetBackwards(t *testing.T) {
	m := NewManual(time.Unix(0, 0))
	tm := m.NewTimer(time.Second)
	if !tm.Reset(10 * time.Second) {
		t.Fatal("Reset of armed timer reported inactive")
	}
	m.Advance(5 * time.Second)
	select {
	case <-tm.C():
		t.Fatal("reset timer fired early")
	default:
	}
	m.Set(time.Unix(1, 0)) // backwards: ignored
	if m.Now().Unix() != 5 {
		t.Fatalf("clock moved backwards to %v", m.Now())
	}
	m.Advance(5 * time.Second)
	<-tm.C()
}
