//go:build unix

package lcsock

import (
	"io"
	"os"
	"runtime"
	"syscall"
)

// canRawRead reports whether rawRead is available.
const canRawRead = true

// rawIO reads and writes a plain TCP connection's descriptor directly.
// Its callbacks are made once per socket, so that a read or a write
// allocates nothing. The read fields belong to the reader goroutine, the
// write fields to whoever holds s.mu.
type rawIO struct {
	rc syscall.RawConn

	rb     []byte
	rn     int
	rerr   error
	noWait bool // tryRead: readFn does not wait for input
	readFn func(fd uintptr) bool

	wb      []byte
	wn      int
	werr    error
	writeFn func(fd uintptr) bool

	// The writer goroutine's (writeSome); someFn is made at its first
	// call.
	sb     []byte
	sn     int
	serr   error
	someFn func(fd uintptr) bool
}

func (s *socket) newRawIO(rc syscall.RawConn) *rawIO {
	r := &s.rawIO
	*r = rawIO{rc: rc}
	r.readFn = func(fd uintptr) bool {
		for {
			if r.rb == nil {
				if !s.mu.TryLock() {
					return true // r.rn == 0, no error: the reader loops
				}
				r.rb = s.readSpace()
				s.mu.Unlock()
			}
			r.rn, r.rerr = readFD(fd, r.rb)
			if r.rerr == syscall.EAGAIN {
				r.rn, r.rerr = 0, nil
				if r.noWait {
					return true
				}
				if s.mu.TryLock() {
					if len(s.buf) == s.rpos {
						s.releaseBuf() // nothing buffered: wait without a buffer
						r.rb = nil
					}
					s.mu.Unlock()
				}
				return false
			}
			// Input is added here, and the reader reads on, without a
			// round through readLoop — unlocking, locking again, a new
			// RawRead — when nothing stops it. It must read again
			// before it may wait: the end of the stream may have come
			// with the input, and no more wake-ups would come for it.
			if r.rerr != nil || r.rn <= 0 || r.noWait || s.eolIn != nil || !s.mu.TryLock() {
				return true
			}
			s.addInput(r.rn, r.rn)
			r.rn = 0
			if !s.readsOn(r) {
				r.rb = nil // no end of stream: the reader goes round
				s.mu.Unlock()
				return true
			}
			r.rb = s.readSpace()
			s.mu.Unlock()
		}
	}
	r.writeFn = func(fd uintptr) bool {
		r.wn, r.werr = writeFD(fd, r.wb)
		if r.werr == syscall.EAGAIN {
			r.wn, r.werr = 0, nil
		}
		return true
	}
	return r
}

// readFD is read(2) on fd, retried when a signal interrupts it.
func readFD(fd uintptr, b []byte) (int, error) {
	for {
		n, err := syscall.Read(int(fd), b)
		if err != syscall.EINTR {
			return n, err
		}
	}
}

// writeFD is write(2) on fd, retried when a signal interrupts it.
func writeFD(fd uintptr, b []byte) (int, error) {
	for {
		n, err := syscall.Write(int(fd), b)
		if err != syscall.EINTR {
			return n, err
		}
	}
}

// writeAvailable is someFn: it writes what the kernel takes of r.sb now.
func (r *rawIO) writeAvailable(fd uintptr) bool {
	for r.sn < len(r.sb) { // as much as the kernel takes now
		n, err := writeFD(fd, r.sb[r.sn:])
		switch {
		case err == syscall.EAGAIN:
			return r.sn > 0 // or wait until it takes some
		case err != nil:
			r.serr = err
			return true
		default:
			r.sn += n
		}
	}
	return true
}

// writeSome writes what the kernel takes of data now, waiting as
// net.Conn.Write does only while it takes nothing, so that the writer
// sees progress as it happens. It returns how much was written, also
// with an error. Write deadlines and Close interrupt it. Called by the
// writer goroutine only.
func (r *rawIO) writeSome(data []byte) (int, error) {
	if r.someFn == nil {
		r.someFn = r.writeAvailable // made once, when first needed
	}
	r.sb, r.sn, r.serr = data, 0, nil
	err := r.rc.Write(r.someFn)
	n, serr := r.sn, r.serr
	r.sb = nil
	switch {
	case err != nil:
		return n, err
	case serr != nil:
		return n, os.NewSyscallError("write", serr)
	}
	return n, nil
}

// rawRead reads once from a plain TCP connection into space, free space
// of the socket's buffer that the reader took with s.mu held, as
// net.Conn.Read would; but if the read has to wait for input, the buffer
// goes back to the pool meanwhile and is taken again when input is
// there. It returns the space read into and the count. Read deadlines
// and Close interrupt it, as they interrupt Read. Called without s.mu.
//
// Input the callback can add to the socket itself (addInput) is not
// returned: the callback reads on. After such input, a return with
// nothing read and no error is not the end of the stream: the reader
// goes round.
//
// The callback never blocks on s.mu: Close of the connection, which
// finish calls with s.mu held, waits for it to return. When it cannot
// take the lock it gives up, and the reader loops.
func (s *socket) rawRead(r *rawIO, space []byte) ([]byte, int, error) {
	r.rb, r.rn, r.rerr = space, 0, nil
	err := r.rc.Read(r.readFn)
	b, n, rerr := r.rb, r.rn, r.rerr
	r.rb = nil
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

// tryRead reads the input already there, without waiting, into the
// buffer of a socket whose reader has not started: an accepted
// connection whose client spoke first then has its request buffered when
// the accept handler asks for it, one goroutine hand-off sooner. Called
// with s.mu held; end of stream is left for the reader to find, but an
// error is recorded here, since the kernel reports it only once.
func (s *socket) tryRead() {
	r := s.raw
	if r == nil || s.eolIn != nil {
		return
	}
	r.rb, r.rn, r.rerr, r.noWait = s.readSpace(), 0, nil, true
	err := r.rc.Read(r.readFn)
	n := r.rn
	r.rb, r.noWait = nil, false
	if err != nil || r.rerr != nil || n <= 0 {
		s.releaseBuf()
		if err == nil && r.rerr != nil {
			// The kernel reports a reset (or other socket error) to one
			// read only: the reader would find a clean end of stream.
			s.endInput(os.NewSyscallError("read", r.rerr))
		}
		return
	}
	s.addInput(n, n) // no read is pending yet: it only keeps the bytes
}

// rawWrite writes what the kernel takes now, without waiting: it returns
// 0 and no error when the send buffer is full. Called with s.mu held.
func (r *rawIO) write(data []byte) (int, error) {
	r.wb, r.wn, r.werr = data, 0, nil
	err := r.rc.Write(r.writeFn)
	r.wb = nil
	if err != nil {
		return 0, err
	}
	if r.werr != nil {
		return 0, os.NewSyscallError("write", r.werr)
	}
	return max(r.wn, 0), nil
}

// wakeReader wakes the reader, blocked waiting for input, so that it
// closes the connection (closeConn), by shutting down the connection's
// receiving side. It reports false if it could not; the caller then wakes
// the reader with a past read deadline. On Linux the poller then wakes
// the reader, as for input, so that another thread may run it — closing
// a TCP connection is the dearest system call of its life — while the
// caller goes on; a deadline makes it ready on the caller's own P, where
// it waits for the caller (a handler, often opening the next connection)
// and then runs the close in turn: BenchmarkConnect is about 8% faster.
// Elsewhere the deadline is kept: what a shut-down receiving side
// reports to kqueue is not tested here. Adopted connections are not
// shut down (see socket.adopted). Nothing is sent to the peer; the
// close that follows is what it sees.
func (r *rawIO) wakeReader() bool {
	if runtime.GOOS != "linux" && runtime.GOOS != "android" { // Android: Linux's kernel
		return false
	}
	var err error
	if cerr := r.rc.Control(func(fd uintptr) { err = syscall.Shutdown(int(fd), syscall.SHUT_RD) }); cerr != nil {
		return false
	}
	return err == nil
}
