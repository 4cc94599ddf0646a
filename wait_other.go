//go:build !unix

package lcsock

import "syscall"

// canRawRead reports whether rawRead is available: not here, so the
// reader reads with net.Conn.Read, holding its buffer while it waits.
const canRawRead = false

func (s *socket) rawRead(rc syscall.RawConn) ([]byte, int, error) {
	panic("lcsock: rawRead is not available on this system")
}

func rawWrite(rc syscall.RawConn, data []byte) (int, error) {
	panic("lcsock: rawWrite is not available on this system")
}
