// Package clock is the time seam. Production code takes a Clock and uses Real;
// tests use Manual and move time with Advance, so timers (flush, heartbeat, liveness
// scans, long-poll holds) are driven deterministically.
//
// Both implementations are safe for concurrent use.
//
// Imports: the standard library only (internal/lint).
package clock
