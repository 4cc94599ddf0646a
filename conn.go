package lcsock

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"reflect"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Conn is a net.Conn view of a TCP socket of a Registry, so that a socket
// opened, accepted or adopted the LiveCode way can be handed to code that
// speaks net.Conn: bufio, net/http, crypto/tls, io.Copy. Registry.Conn
// makes one.
//
// Its methods follow net.Conn, not LiveCode: Read returns as soon as any
// byte is there (at most len(p)), and io.EOF once the peer has closed and
// the buffered input is read; reads and writes have no timeout but the
// deadlines set on the Conn (errors then match os.ErrDeadlineExceeded and
// report Timeout() true), not the registry's timeout interval. Read and
// Write queue behind the socket's other reads and writes, in order, so a
// socket may be used through both its ID and the Conn — but a Conn read
// takes whatever bytes are buffered, so mixing reads is rarely what is
// wanted.
//
// The socket's events still go to its owner: the handler hears
// socketClosed or socketError when the connection ends, as usual.
// Closing the Conn closes the socket (CloseSocket: writes queued with
// WriteWithMessage are still flushed). When the peer ends the stream,
// the ID leaves OpenSockets once socketClosed has been handled, as
// usual, but the connection stays open for the Conn's writes — an answer
// to a peer that half-closed — until the Conn is closed: close it, as
// any net.Conn (Registry.Close and Shutdown close it too).
type Conn struct {
	s      *socket
	rd, wd deadline
	closed atomic.Bool
}

var _ net.Conn = (*Conn)(nil)

// Conn returns a net.Conn view of the TCP socket id, which may still be
// connecting (Read and Write then wait for the connection). A listener or
// datagram socket gives an error, as does an unknown ID
// (ErrSocketNotOpen). Every call returns a new view with its own
// deadlines. Once a view is made, the socket is closed by a view's
// Close (or CloseSocket, Shutdown, Close), not after the peer's end of
// stream: see Conn.
func (r *Registry) Conn(id string) (*Conn, error) {
	s, err := r.lookup("conn", id)
	switch {
	case err != nil:
		return nil, err
	case s.listener != nil:
		return nil, &OpError{Op: "conn", Socket: id, Err: &causeError{ErrNotReadable, errors.New("a listener has no net.Conn view")}}
	case s.dg != nil:
		return nil, &OpError{Op: "conn", Socket: id, Err: errors.New("a datagram socket has no net.Conn view")}
	}
	s.mu.Lock()
	s.viewed = true
	s.mu.Unlock()
	return &Conn{s: s}, nil
}

// ID returns the socket's ID.
func (c *Conn) ID() string { return c.s.id }

// Read reads up to len(p) bytes: those already received, or, when there
// are none, the first to arrive.
func (c *Conn) Read(p []byte) (int, error) {
	done, err := c.start("read", &c.rd)
	if err != nil {
		return 0, err
	}
	if len(p) == 0 {
		return 0, c.checkOpen("read")
	}
	req := readReqs.Get().(*readReq)
	req.spec, req.blocking, req.dst = upTo(len(p)), true, p
	data, err := c.s.read(doneContext(done), req)
	putReadReq(req)
	return len(data), c.mapError("read", err)
}

// start begins a Read or Write: it fails if the Conn is closed or the
// operation's deadline has passed, and otherwise returns the channel
// closed when the deadline passes.
func (c *Conn) start(op string, d *deadline) (<-chan struct{}, error) {
	if c.closed.Load() {
		return nil, c.opError(op, net.ErrClosed)
	}
	done := d.wait()
	if isDone(done) {
		return nil, c.opError(op, os.ErrDeadlineExceeded)
	}
	return done, nil
}

// Write writes p, returning once every byte is in the kernel, the write
// deadline passes (n then says how much went) or the socket fails.
func (c *Conn) Write(p []byte) (int, error) {
	done, err := c.start("write", &c.wd)
	if err != nil {
		return 0, err
	}
	if len(p) == 0 {
		return 0, c.checkOpen("write")
	}
	n, err := c.s.write(doneContext(done), p, 0)
	return n, c.mapError("write", err)
}

// Close closes the socket, as CloseSocket does. Blocked Read and Write
// calls return errors matching net.ErrClosed. Closing a socket the peer
// has already closed is not an error; closing the Conn twice is.
func (c *Conn) Close() error {
	if !c.closed.CompareAndSwap(false, true) {
		return c.opError("close", net.ErrClosed)
	}
	c.s.reg.remove(c.s)
	c.s.mu.Lock()
	c.s.cutWrites = true // net.Conn: a Write in progress ends now, even on TLS
	if c.s.state == stateClosing {
		c.s.cutHeadWrite(nil) // closed already, with that write kept for the flush
	}
	c.s.mu.Unlock()
	c.s.closeLocal()
	return nil
}

// CloseWrite half-closes the connection once the writes already queued
// are sent, as Registry.CloseWrite.
func (c *Conn) CloseWrite() error {
	if c.closed.Load() {
		return c.opError("closewrite", net.ErrClosed)
	}
	return c.mapError("closewrite", c.s.closeWrite())
}

// LocalAddr returns the local address, or an unspecified TCP address
// while the socket is connecting.
func (c *Conn) LocalAddr() net.Addr { return c.addr(true) }

// RemoteAddr returns the peer's address, or, while the socket is
// connecting, the host and port of its ID.
func (c *Conn) RemoteAddr() net.Addr { return c.addr(false) }

func (c *Conn) addr(local bool) net.Addr {
	c.s.mu.Lock()
	conn := c.s.conn
	c.s.mu.Unlock()
	switch {
	case conn != nil && local:
		return conn.LocalAddr()
	case conn != nil:
		return conn.RemoteAddr()
	case local:
		return &net.TCPAddr{}
	}
	return idAddr(net.JoinHostPort(c.s.addr.Host, strconv.Itoa(c.s.addr.Port)))
}

// idAddr is the address of a socket not yet connected: its ID's host and
// port, as text.
type idAddr string

func (idAddr) Network() string  { return "tcp" }
func (a idAddr) String() string { return string(a) }

// SetDeadline sets the read and write deadlines.
func (c *Conn) SetDeadline(t time.Time) error {
	if err := c.checkOpen("set"); err != nil {
		return err
	}
	c.rd.set(t)
	c.wd.set(t)
	return nil
}

// SetReadDeadline sets the deadline for Read calls, including one that
// is blocked now. The zero time means none.
func (c *Conn) SetReadDeadline(t time.Time) error {
	if err := c.checkOpen("set"); err != nil {
		return err
	}
	c.rd.set(t)
	return nil
}

// SetWriteDeadline sets the deadline for Write calls, including one that
// is blocked now. The zero time means none.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	if err := c.checkOpen("set"); err != nil {
		return err
	}
	c.wd.set(t)
	return nil
}

// checkOpen returns an error matching net.ErrClosed when the socket was
// closed locally — through this Conn, another view, CloseSocket,
// Shutdown or Registry.Close — as a closed TCPConn's descriptor is gone:
// for the calls that do not reach the socket (deadlines, zero-length
// reads and writes), which otherwise succeed as on an open TCPConn, even
// one the peer closed or reset.
func (c *Conn) checkOpen(op string) error {
	if c.closed.Load() {
		return c.opError(op, net.ErrClosed)
	}
	s := c.s
	s.mu.Lock()
	closed := s.closedLocally || s.state == stateDone && s.rerr == nil && !s.peerEOF
	s.mu.Unlock()
	if closed {
		return c.opError(op, net.ErrClosed)
	}
	return nil
}

func (c *Conn) opError(op string, err error) error {
	return &OpError{Op: op, Socket: c.s.id, Err: err}
}

// mapError turns the socket's errors into net.Conn's: a deadline matches
// os.ErrDeadlineExceeded, the end of a stream the peer closed is io.EOF,
// and a socket closed locally — through this Conn, another view,
// CloseSocket, Shutdown or Registry.Close — matches net.ErrClosed.
func (c *Conn) mapError(op string, err error) error {
	var oe *OpError
	switch {
	case err == nil || err == io.EOF:
		return err
	case errors.As(err, &oe) && oe.Err == context.DeadlineExceeded:
		// The Conn's own deadline, given up on by read or write (a
		// handshake or connect timeout of the socket wraps
		// context.DeadlineExceeded too, but deeper: it is the socket's
		// failure, not the deadline).
		return c.opError(op, os.ErrDeadlineExceeded)
	case c.closed.Load():
		return c.opError(op, net.ErrClosed)
	case errors.Is(err, ErrClosed), errors.Is(err, ErrSocketNotOpen):
		// ErrClosed: closed locally, or refused because the socket
		// failed (its buffered input still to be read). ErrSocketNotOpen:
		// closing or finished — it failed, the peer closed and its input
		// was read (for a reader, the end of the stream), or it was
		// closed locally. A failure says why it failed.
		c.s.mu.Lock()
		peerEOF, rerr := c.s.peerEOF, c.s.rerr
		c.s.mu.Unlock()
		switch {
		case rerr != nil:
			return rerr
		case errors.Is(err, ErrClosed):
			return err
		case peerEOF && op == "read":
			return io.EOF
		}
		return c.opError(op, ErrClosed)
	}
	return err
}

// deadline is a settable deadline whose channel closes when it passes;
// a blocked call waits on the channel it got when it started, which
// setting a later deadline leaves open and an earlier one closes.
type deadline struct {
	mu    sync.Mutex
	timer *time.Timer
	done  chan struct{}
}

// set sets the deadline to t; the zero time means none.
func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil && !d.timer.Stop() {
		<-d.done // the timer fired (or is firing): wait until it closed done
	}
	d.timer = nil
	if d.done == nil || isDone(d.done) {
		d.done = make(chan struct{})
	}
	if t.IsZero() {
		return
	}
	if dur := time.Until(t); dur > 0 {
		done := d.done
		d.timer = time.AfterFunc(dur, func() { close(done) })
		return
	}
	close(d.done)
}

// wait returns the channel that closes when the deadline passes.
func (d *deadline) wait() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.done == nil {
		d.done = make(chan struct{})
	}
	return d.done
}

func isDone(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// doneContext is a context that ends when its channel closes, with
// context.DeadlineExceeded: the deadline of one Conn call.
type doneContext <-chan struct{}

func (doneContext) Deadline() (time.Time, bool) { return time.Time{}, false }
func (c doneContext) Done() <-chan struct{}     { return c }
func (c doneContext) Value(any) any             { return nil }
func (c doneContext) Err() error {
	if isDone(c) {
		return context.DeadlineExceeded
	}
	return nil
}

// Adopt registers conn, a connection made elsewhere — hijacked from
// net/http, dialled by the program's own dialer, one end of net.Pipe —
// as a socket of the registry, so that it takes every verb (reads,
// writes, Secure, CloseSocket, Conn) and its events go to h (nil means
// Config.Handler). The registry owns conn from then on: closing the
// socket closes it, and deadlines left on it are cleared. A *tls.Conn is
// adopted as a secure socket (TLSState works, Secure does nothing).
//
// id names the socket and must parse as a socket ID (ErrBadID); an empty
// id names it after conn's remote TCP address as Accept names the
// sockets it accepts, with "|N" added if that ID is taken. Adopt returns
// the ID. An ID already open gives ErrAlreadyOpen, and then, as on every
// error, conn is left open for the caller. Options: WithMessage (an
// EventConnected is sent at once), InputEOL, KeepAlive, NoDelay, and
// Buffered for bytes already read from conn.
func (r *Registry) Adopt(id string, conn net.Conn, h Handler, opts ...Option) (string, error) {
	if isNil(conn) {
		// A typed nil (a nil *net.TCPConn) too: its methods would panic,
		// once adopted even in Close.
		return "", &OpError{Op: "adopt", Socket: id, Err: errors.New("nil connection")}
	}
	var addr ID
	named := id != ""
	if named {
		var err error
		if addr, err = ParseID(id); err != nil {
			return "", err
		}
	} else {
		ap, ok := remoteAddrPort(conn)
		if !ok {
			return "", &OpError{Op: "adopt", Err: &causeError{ErrBadID,
				fmt.Errorf("no ID given and the remote address %v is not TCP", conn.RemoteAddr())}} // %v: it may be nil
		}
		addr = MakeID(ap.Addr().Unmap().String(), int(ap.Port()), "")
		id = addr.String()
	}
	o, err := buildOptions("adopt", id, opts)
	if err != nil {
		return "", err
	}
	tcpConn := conn
	if tc, ok := conn.(*tls.Conn); ok {
		tcpConn = tc.NetConn()
	}
	if tc, ok := tcpConn.(*net.TCPConn); ok {
		if err := applyTCPOptions(tc, o); err != nil {
			return "", &OpError{Op: "adopt", Socket: id, Err: err}
		}
	}
	s := newSocket(r, id, addr, r.handler(h), o)
	s.adopted = true
	_, s.secured = conn.(*tls.Conn)
	s.tlsUserIO = s.secured // its configuration is unknown: it may renegotiate, or not have run its handshake
	if len(o.buffered) > 0 {
		s.buf = append([]byte(nil), o.buffered...)
		if s.eolIn != nil {
			s.buf = s.eolIn.Append(s.buf[:0], s.buf)
		}
		b := s.buf[:cap(s.buf)]
		s.bufp = &b
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for n := 1; ; n++ {
		err := r.add(s, true)
		if err == nil {
			break
		}
		if named || !errors.Is(err, ErrAlreadyOpen) {
			return "", err
		}
		s.id = addr.String() + "|" + strconv.Itoa(n)
		s.key = idKey(s.id)
	}
	if r.debugging() {
		r.debug("lcsock: adopted", "socket", s.id, "remote", conn.RemoteAddr())
	}
	// A deadline left on conn would end the socket with an i/o timeout
	// when it passed: the socket's only timeouts are its own, which
	// report and end nothing. (A connection without deadlines says so
	// with an error: nothing to clear.)
	conn.SetDeadline(time.Time{})
	s.connected(conn)
	r.spawn(s.readLoop)
	return s.id, nil
}

// isNil reports whether conn is nil or a nil pointer (or other nil
// value) in a net.Conn.
func isNil(conn net.Conn) bool {
	if conn == nil {
		return true
	}
	switch v := reflect.ValueOf(conn); v.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Func, reflect.Chan, reflect.Interface:
		return v.IsNil()
	}
	return false
}

func remoteAddrPort(conn net.Conn) (netip.AddrPort, bool) {
	if ta, ok := conn.RemoteAddr().(*net.TCPAddr); ok {
		return ta.AddrPort(), true
	}
	if tc, ok := conn.(*tls.Conn); ok {
		if ta, ok := tc.NetConn().RemoteAddr().(*net.TCPAddr); ok {
			return ta.AddrPort(), true
		}
	}
	return netip.AddrPort{}, false
}

// Buffered gives Adopt bytes already read from the connection — what a
// bufio.Reader holds after an HTTP hijack — to be read before anything
// that arrives on it. For Adopt.
func Buffered(data []byte) Option {
	return Option{name: "Buffered", verbs: verbAdopt, apply: func(o *options) error {
		o.buffered = data
		return nil
	}}
}

// ErrCannotHalfClose: CloseWrite on an adopted connection that has no
// CloseWrite method of its own (net.Pipe, say).
var ErrCannotHalfClose = errors.New("the connection cannot close its write side alone")

// applyTCPOptions applies KeepAlive and NoDelay to an adopted connection.
func applyTCPOptions(tc *net.TCPConn, o options) error {
	var errs []error
	switch {
	case o.keepAlive < 0:
		errs = append(errs, tc.SetKeepAlive(false))
	case o.keepAlive > 0:
		errs = append(errs, tc.SetKeepAlive(true), tc.SetKeepAlivePeriod(o.keepAlive))
	}
	if o.noDelaySet {
		errs = append(errs, tc.SetNoDelay(o.noDelay))
	}
	return errors.Join(errs...)
}
