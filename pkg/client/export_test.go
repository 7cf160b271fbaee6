package client

import "github.com/petrelmq/petrel/pkg/clock"

// WithRandIntN replaces the random pick of the first name server (tests).
func WithRandIntN(f func(n int) int) SharedOption {
	return opt(func(c *config) { c.randIntN = f })
}

// WithClock replaces the client's clock (tests).
func WithClock(clk clock.Clock) SharedOption {
	return opt(func(c *config) { c.clk = clk })
}
