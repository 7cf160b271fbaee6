// Package poll is the one helper Petrel's tests use to wait for a condition
// instead of sleeping to synchronise: it polls with a deadline and fails the
// test, naming the caller's line, when the condition does not hold in time.
// Where time itself is the subject, tests use clock.Manual or
// testing/synctest instead.
//
// It imports only the standard library, so any test (internal or pkg/) can
// use it.
package poll
