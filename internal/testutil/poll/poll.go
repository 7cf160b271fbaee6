package poll

import (
	"testing"
	"time"
)

// interval is how often a condition is polled.
const interval = 2 * time.Millisecond

// WaitFor calls cond every few milliseconds until it returns true, and fails
// the test if that does not happen within timeout. cond runs on the test's
// goroutine, so it may use require.
func WaitFor(t testing.TB, timeout time.Duration, cond func() bool) {
	t.Helper()
	Until(t, timeout, "condition", cond)
}

// Until is WaitFor with a description of what is awaited for the failure
// message.
func Until(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s not met within %v", what, timeout)
		}
		time.Sleep(interval) // polling with a deadline, not synchronising
	}
}
