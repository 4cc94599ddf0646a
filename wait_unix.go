//go:build unix

package lcsock

import (
	"io"
	"os"
	"syscall"
)

// canRawRead reports whether rawRead is available.
const canRawRead = true

// rawRead reads once from a plain TCP connection into the socket's
// buffer, as net.Conn.Read would, but takes the buffer only when the
// read finds input: while it waits, the buffer goes back to the pool.
// It returns the space read into and the count. Read deadlines and Close
// interrupt it, as they interrupt Read.
//
// The callback never blocks on s.mu: Close of the connection, which
// finish calls with s.mu held, waits for it to return. When it cannot
// take the lock it gives up, and the reader loops.
func (s *socket) rawRead(rc syscall.RawConn) ([]byte, int, error) {
	s.mu.Lock()
	b := s.readSpace()
	s.mu.Unlock()
	var n int
	var rerr error
	err := rc.Read(func(fd uintptr) bool {
		if b == nil {
			if !s.mu.TryLock() {
				return true // n == 0, no error: the reader loops
			}
			b = s.readSpace()
			s.mu.Unlock()
		}
		for {
			n, rerr = syscall.Read(int(fd), b)
			if rerr != syscall.EINTR {
				break
			}
		}
		if rerr == syscall.EAGAIN {
			n, rerr = 0, nil
			if s.mu.TryLock() {
				if len(s.buf) == s.rpos {
					s.releaseBuf() // nothing buffered: wait without a buffer
					b = nil
				}
				s.mu.Unlock()
			}
			return false
		}
		return true
	})
	switch {
	case err != nil:
		return b, 0, err
	case rerr != nil:
		return b, 0, os.NewSyscallError("read", rerr)
	case n == 0 && len(b) > 0:
		return b, 0, io.EOF
	}
	return b, max(n, 0), nil
}

// rawWrite writes what the kernel takes now, without waiting: it returns
// 0 and no error when the send buffer is full.
func rawWrite(rc syscall.RawConn, data []byte) (int, error) {
	var n int
	var werr error
	err := rc.Write(func(fd uintptr) bool {
		for {
			n, werr = syscall.Write(int(fd), data)
			if werr != syscall.EINTR {
				break
			}
		}
		if werr == syscall.EAGAIN {
			n, werr = 0, nil
		}
		return true
	})
	if err != nil {
		return 0, err
	}
	if werr != nil {
		return 0, os.NewSyscallError("write", werr)
	}
	return max(n, 0), nil
}
