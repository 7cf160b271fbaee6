//go:build !unix

package remoting

// setRcvBuf leaves the default receive buffer on this platform.
func setRcvBuf(uintptr, int) error { return nil }
