//go:build !race

package testutil

// RaceEnabled reports a -race build.
const RaceEnabled = false
