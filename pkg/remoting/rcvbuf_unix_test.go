//go:build unix

package remoting

import "syscall"

// setRcvBuf sets a socket's receive buffer. It must be set before connecting:
// shrinking the buffer of an established connection can leave the sender probing
// a window it considers too small to use, stalling the stream for minutes.
func setRcvBuf(fd uintptr, n int) error {
	return syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, n)
}
