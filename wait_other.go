//go:build !unix

package lcsock

import "syscall"

// canRawRead reports whether rawRead is available: not here, so the
// reader reads with net.Conn.Read, holding its buffer while it waits.
const canRawRead = false

type rawIO struct{}

func (s *socket) newRawIO(rc syscall.RawConn) *rawIO {
	panic("lcsock: raw I/O is not available on this system")
}

func (s *socket) rawRead(r *rawIO, space []byte) ([]byte, int, error) {
	panic("lcsock: rawRead is not available on this system")
}

func (r *rawIO) writeSome(data []byte) (int, error) {
	panic("lcsock: raw I/O is not available on this system")
}

func (r *rawIO) write(data []byte) (int, error) {
	panic("lcsock: rawWrite is not available on this system")
}

func (s *socket) tryRead() {}

func (r *rawIO) wakeReader() bool { return false }
