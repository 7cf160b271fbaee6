package client

// WithRandIntN replaces the random pick of the first name server (tests).
func WithRandIntN(f func(n int) int) SharedOption {
	return opt(func(c *config) { c.randIntN = f })
}
