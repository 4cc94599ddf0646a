package lcsock

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Buffer sizes of the data path.
const (
	readChunkMin = 4 << 10   // least free space worth reading into
	readChunkMax = 64 << 10  // largest single read from the kernel
	writeChunk   = 256 << 10 // largest single write, so progress is seen
	// connWriteChunk is writeChunk for connections written through
	// net.Conn.Write (TLS, not TCP, not unix), which returns only when all
	// is sent: progress is seen once per chunk, so it is smaller.
	connWriteChunk = 32 << 10
)

type sockState uint8

const (
	stateConnecting sockState = iota // resolving and dialing
	stateOpen                        // connected
	stateClosing                     // closed locally, flushing writes
	stateDone                        // finished; conn closed
)

var stateNames = [...]string{"connecting", "open", "closing", "closed"}

func (s sockState) String() string { return stateNames[s] }

// readReq is one pending read, blocking or with message.
type readReq struct {
	m        matcher
	spec     ReadSpec
	h        Handler // async: the handler given to the read
	name     string
	iv       time.Duration // timeout interval when issued
	issued   time.Time
	blocking bool
	done     chan readResult // blocking only; capacity 1
	dst      []byte          // blocking only: when set, the data is copied here
}

type readResult struct {
	data []byte
	err  error
	eof  bool    // the read completed because the stream ended
	loan *[]byte // data lies in this read buffer, lent (LendReadData)
}

// writeReq is one pending write, blocking or with message.
type writeReq struct {
	data       []byte
	off        int // bytes sent
	h          Handler
	name       string
	iv         time.Duration
	blocking   bool
	closeWrite bool       // half-close marker queued by CloseWrite
	upgrade    *upgrade   // TLS upgrade marker queued by Secure
	cancelErr  error      // set when a blocking caller gave up while the write was in progress
	done       chan error // blocking only; capacity 1
}

// socket is one TCP connection and its queues.
//
// Lock order: Registry.mu is never held while taking socket.mu, and
// socket.mu is never held while calling user code or blocking on I/O.
// dispatcher.mu may be taken with socket.mu held (posting events).
type socket struct {
	reg   *Registry
	id    string // as written
	key   string
	addr  ID
	owner Handler
	seq   uint64
	opts  options

	finished      chan struct{} // closed when the socket reaches stateDone
	finalPosted   bool          // socketClosed or socketError was sent (guarded by mu)
	listener      *listener     // non-nil for a listening socket
	eolIn         *EOLConverter // InputEOL; used by the reader goroutine only
	tlsCfg        *tls.Config   // OpenSecure: the client handshake after the dial
	dg            *dgram        // non-nil for datagram sockets
	iface         string        // opens: the default interface when Open or OpenDatagram was called
	release       func()        // called once when an accepted socket finishes
	timeoutQueued atomic.Bool

	mu         sync.Mutex
	space      sync.Cond // the reader waits on it while the buffer is full
	state      sockState
	conn       net.Conn
	cancelDial context.CancelFunc

	// Input. Only the reader goroutine changes buf's length or backing
	// array; consumers advance rpos.
	buf  []byte
	bufp *[]byte // buf's whole array: its pool entry, and its identity for loans
	raw  *rawIO  // the plain TCP connection's descriptor, to wait for input without a buffer
	rpos int
	eof  bool  // no more input will come
	rerr error // why input ended, if not a clean EOF
	// peerEOF: input ended with the peer's clean end of stream while the
	// socket was open, not after a local close (a Conn reader then gets
	// io.EOF, not net.ErrClosed).
	peerEOF bool
	// inRead: the reader is in (or about to enter) a read on conn, so
	// closing conn is left to it (see closeConn); readerCloses: it has
	// been asked to.
	inRead       bool
	readerCloses bool
	tlsClosing   bool // a worker closes the TLS connection (closeConn)
	// adopted: the connection came from Registry.Adopt. Its socket may
	// be shared (net.TCPConn.File makes a copy of the descriptor), so
	// closeConn never shuts it down.
	adopted bool
	// closedLocally: closeLocal ran (CloseSocket, Shutdown, Conn.Close,
	// or the end of a socketClosed handler).
	closedLocally bool
	cutWrites     bool // closed by Conn.Close: a TLS write in progress is cut too
	// viewed: Registry.Conn made a view of the socket, which closes it:
	// after the peer's end of stream it is not closed for the owner.
	viewed bool
	// LendReadData: loans of buf's array to events being handled, and of
	// arrays the reader has moved on from, which go back to the pool when
	// their last loan ends.
	lent     int
	oldLoans map[*[]byte]int
	reads    []*readReq
	reads0   [2]*readReq // reads' first array: most sockets queue one or two
	// spareRead is the request of the last asynchronous read completed,
	// kept for the socket's next ReadWithMessage: taken from a sync.Pool
	// and put back, it would usually move between the reader's P and the
	// handler's. It goes back to the pool when the socket finishes.
	spareRead *readReq
	rawIO     rawIO // raw's storage

	// Output.
	writes      []*writeReq
	queued      int  // bytes of async writes queued
	writing     bool // the writer goroutine runs
	aborting    bool // a write deadline was set to abort the head write
	wroteClosed bool // CloseWrite was queued

	// tlsUserIO: TLS callbacks (user code) may run inside Read or Write
	// on conn — a client whose TLSConfig allows renegotiation, or an
	// adopted *tls.Conn, which may also have its handshake still to
	// run — so the reader and writer list their goroutine (runTLS).
	tlsUserIO bool

	// TLS upgrade (Secure).
	secured      bool // TLS is on or on its way: Secure is a no-op
	holdReads    bool // Secure was called: received bytes wait for the handshake
	upgrading    bool // the writer asks the reader to park
	readerParked bool // the reader is parked for an upgrade

	// Timeouts: the time of the last progress of each kind of pending
	// operation and the interval that applies to it.
	timer     *time.Timer
	timerAt   time.Time
	openMark  time.Time
	openIv    time.Duration
	readMark  time.Time
	readIv    time.Duration
	writeMark time.Time
	writeIv   time.Duration
	lastRecv  time.Time
	lastSent  time.Time // the writer's last progress; blocking writes time out on it
	openedAt  time.Time
	connectAt time.Time
	bytesIn   uint64
	bytesOut  uint64
}

func newSocket(r *Registry, id string, addr ID, owner Handler, o options) *socket {
	s := &socket{
		reg:      r,
		id:       id,
		key:      idKey(id),
		addr:     addr,
		owner:    owner,
		opts:     o,
		finished: make(chan struct{}),
		openedAt: time.Now(),
	}
	s.space.L = &s.mu
	s.reads = s.reads0[:0]
	if o.eolIn {
		s.eolIn = NewEOLConverter(o.eolTo)
	}
	return s
}

// post queues an event for h. Called with s.mu held, which keeps a
// socket's events in the order things happened.
func (s *socket) post(h Handler, ev Event) {
	s.reg.disp.post(h, ev, s)
}

func (s *socket) unread() []byte { return s.buf[s.rpos:] }

// --- opening -------------------------------------------------------------

// Open opens a TCP connection to the socket ID id, as LiveCode's open
// socket. It returns at once: the host is resolved and dialled in the
// background, and the ID is listed by OpenSockets from the moment Open
// returns. With WithMessage, an EventConnected is sent to h when the
// connection is up; if it cannot be made, exactly one EventError
// (socketError, text "can't resolve hostname" or "can't connect to host"
// and the reason) is sent to h and the ID leaves OpenSockets. Writes made
// meanwhile are queued and sent in order once connected.
//
// Open itself fails, with no event, when id is malformed (ErrBadID,
// ErrInvalidPort), already open (ErrAlreadyOpen, compared
// case-insensitively), when an option is invalid, or when the registry is
// closed or shutting down (ErrClosed). A nil h means Config.Handler.
func (r *Registry) Open(id string, h Handler, opts ...Option) error {
	return r.open("open", id, h, opts)
}

// open is Open and OpenSecure.
func (r *Registry) open(verb, id string, h Handler, opts []Option) error {
	addr, err := ParseID(id)
	if err != nil {
		return err
	}
	o, err := buildOptions(verb, id, opts)
	if err != nil {
		return err
	}
	if err := o.dial.proxy.checkTarget(addr); err != nil {
		return &OpError{Op: verb, Socket: id, Err: err}
	}
	s := newSocket(r, id, addr, r.handler(h), o)
	s.iface = r.DefaultInterface()
	if verb == "opensecure" {
		if s.tlsCfg, err = r.clientTLS(&o.tls, addr.ASCIIHost()); err != nil {
			return &OpError{Op: verb, Socket: id, Err: err}
		}
		s.secured = true
	}
	ctx, cancel := context.WithCancel(r.ctx)
	s.cancelDial = cancel
	if err := r.add(s, true); err != nil {
		cancel()
		return err
	}
	if r.debugging() {
		r.debug("lcsock: opening", "socket", id)
	}
	s.startOpenClock()
	r.spawn(func() { s.run(ctx) })
	return nil
}

// startOpenClock starts the timeout clock of an open: socketTimeout
// repeats every interval until the socket is connected.
func (s *socket) startOpenClock() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.openMark, s.openIv = time.Now(), s.reg.TimeoutInterval()
	s.armTimer(s.openMark.Add(s.openIv))
}

// run dials, then becomes the socket's reader.
func (s *socket) run(ctx context.Context) {
	conn, err := s.dial(ctx)
	if err == nil && s.tlsCfg != nil {
		tc := tls.Client(conn, s.tlsCfg)
		if herr := s.reg.handshake(ctx, s, tc, s.opts.tls.handshake); herr != nil {
			conn.Close()
			conn, err = nil, &OpError{Op: "open", Socket: s.id, Addr: conn.RemoteAddr(), Err: herr}
		} else {
			conn = tc
		}
	}
	s.cancelDial()
	s.mu.Lock()
	if s.state != stateConnecting { // closed while dialing
		s.mu.Unlock()
		if conn != nil {
			conn.Close()
		}
		return
	}
	if err != nil {
		s.rerr = err
		s.eof = true
		s.finish()
		s.mu.Unlock()
		return
	}
	s.tlsUserIO = s.tlsCfg != nil && renegotiates(s.tlsCfg)
	s.connected(conn)
	s.mu.Unlock()
	s.readLoop()
}

func (s *socket) dial(ctx context.Context) (net.Conn, error) {
	r := s.reg
	d := net.Dialer{Resolver: r.cfg.Resolver, KeepAlive: s.opts.keepAlive}
	reuseLater := false
	bind := func(ctx context.Context) error { // within ConnectTimeout
		ip, port, bind, err := s.localAddr(ctx)
		if bind {
			d.LocalAddr = &net.TCPAddr{IP: ip.IP, Zone: ip.Zone, Port: port}
			// From without a port: reuse after the bind, as for
			// datagrams (reuseAfterPick; Linux picks a free TCP port
			// either way, macOS may not).
			reuseLater = s.opts.from && port == 0 && reuseAfterPick
			if s.opts.from && !reuseLater {
				d.Control = reuseControl
			}
		}
		return err
	}
	conn, err := r.dialTCP(ctx, &d, &s.opts, s.addr, bind)
	if err != nil {
		return nil, &OpError{Op: "open", Socket: s.id, Err: err}
	}
	if tc, ok := conn.(*net.TCPConn); ok && reuseLater {
		// So that another socket may still share the port (case 82).
		rc, err := tc.SyscallConn()
		if err == nil {
			err = reuseControl("", "", rc)
		}
		if err != nil {
			conn.Close()
			return nil, &OpError{Op: "open", Socket: s.id, Err: &causeError{ErrBind, err}}
		}
	}
	if tc, ok := conn.(*net.TCPConn); ok && s.opts.noDelaySet {
		tc.SetNoDelay(s.opts.noDelay)
	}
	return conn, nil
}

// localAddr returns the local address to bind for the open: From's, or
// the default interface; bind is false when neither is set. The error is
// not wrapped in an OpError.
func (s *socket) localAddr(ctx context.Context) (ip net.IPAddr, port int, bind bool, err error) {
	host, port := s.opts.fromHost, s.opts.fromPort
	if !s.opts.from {
		host = s.iface // as it was when the open was called
	}
	if host == "" && port == 0 {
		return net.IPAddr{}, 0, false, nil
	}
	ip, err = resolveLocal(ctx, s.reg.cfg.Resolver, host, func() bool { return s.targetIs4(ctx) })
	if err != nil {
		return net.IPAddr{}, 0, false, err
	}
	return ip, port, true, nil
}

// targetIs4 reports whether the open's target is IPv4: its first address
// when it is a name (an extra lookup, made only for a From name with
// addresses of both families), IPv4 if that lookup fails. Through a
// proxy, the target is the proxy.
func (s *socket) targetIs4(ctx context.Context) bool {
	host := s.addr.Host
	if p := s.opts.dial.proxy; p != nil {
		// The connection goes to the proxy, which resolves the target
		// itself: the proxy's family (a named proxy is looked up), and
		// no lookup of the target here.
		host = p.host
	}
	if t, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		return t.Unmap().Is4()
	}
	addrs, err := s.reg.resolve(ctx, host)
	return err != nil || addrs[0].Is4()
}

// resolveLocal turns a From or default-interface host into an IP, with
// its zone when it has one (a link-local "fe80::1%eth0" binds on that
// interface). Of a name's addresses of both families it takes the first
// of the target's family (want4), else the first. An empty host gives
// the zero IPAddr (any address).
func resolveLocal(ctx context.Context, res *net.Resolver, host string, want4 func() bool) (net.IPAddr, error) {
	if host == "" {
		return net.IPAddr{}, nil
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return net.IPAddr{IP: a.AsSlice(), Zone: a.Zone()}, nil
	}
	ascii, err := toASCIIHost(host) // checked by From: an internationalised name converts
	if err != nil {
		return net.IPAddr{}, &causeError{ErrLocalResolve, err}
	}
	ips, err := res.LookupIPAddr(ctx, ascii)
	if err == nil && len(ips) == 0 {
		err = &net.DNSError{Err: "no such host", Name: ascii, IsNotFound: true}
	}
	if err != nil {
		// "sentinel: cause" on one line, as the other open errors.
		return net.IPAddr{}, &causeError{ErrLocalResolve, err}
	}
	is4 := func(a net.IPAddr) bool { return a.IP.To4() != nil }
	if !slices.ContainsFunc(ips, func(a net.IPAddr) bool { return is4(a) != is4(ips[0]) }) {
		return ips[0], nil // one family
	}
	v4 := want4()
	for _, a := range ips {
		if is4(a) == v4 {
			return a, nil
		}
	}
	return ips[0], nil
}

// dialError classifies a dial failure under LiveCode's texts.
func dialError(err error) error {
	var dns *net.DNSError
	switch {
	case errors.As(err, &dns):
		return &causeError{ErrResolve, err}
	case bindFailed(err):
		// Only the bind itself: a connect that fails with the same
		// errors (no local address given) is not the local address's.
		return &causeError{ErrBind, err}
	}
	return &causeError{ErrConnect, err}
}

// causeError is a LiveCode sentinel with the Go error that caused it.
// Its text is "sentinel: cause"; it matches both with errors.Is.
type causeError struct {
	kind  error
	cause error
}

func (e *causeError) Error() string {
	return e.kind.Error() + ": " + e.cause.Error()
}

func (e *causeError) Unwrap() []error { return []error{e.kind, e.cause} }

// connected moves a dialled socket to stateOpen. Called with s.mu held.
func (s *socket) connected(conn net.Conn) {
	s.conn = conn
	if tc, ok := conn.(*net.TCPConn); ok && canRawRead {
		if rc, err := tc.SyscallConn(); err == nil {
			s.raw = s.newRawIO(rc)
		}
	}
	s.state = stateOpen
	now := time.Now()
	s.connectAt = now
	// Not lastRecv: a blocking Read made while connecting counts the wait
	// for the connection, as a blocking Write does.
	if s.opts.message != "" {
		s.post(s.owner, Event{Kind: EventConnected, Name: s.opts.message, Socket: s.id})
	}
	if s.reg.debugging() {
		s.reg.debug("lcsock: connected", "socket", s.id, "remote", conn.RemoteAddr())
	}
	if len(s.reads) > 0 {
		s.readMark = now
		if !s.reads[0].blocking {
			// The timer may be set for the open's next timeout only.
			s.armTimer(now.Add(s.readIv))
		}
	}
	if len(s.writes) > 0 {
		s.writeMark = now // as the reads': the wait for the connection had the open's timeouts
		if !s.writes[0].blocking {
			s.armTimer(now.Add(s.writeIv))
		}
	}
	s.serveReads()
	s.startWriter()
}

// --- reading -------------------------------------------------------------

// readLoop moves bytes from the connection into the socket's buffer and
// serves pending reads. It exits when the connection ends.
func (s *socket) readLoop() {
	var leaveTLS func() // see tlsUserIO
	defer func() {
		if leaveTLS != nil {
			leaveTLS()
		}
	}()
	for {
		s.mu.Lock()
		for (s.state == stateOpen || s.state == stateClosing && s.holdReads) && !s.eof && !s.upgrading && s.bufferFull() {
			s.space.Wait()
		}
		// A socket closed during the upgrade still waits for it: the
		// handshake's bytes are not the reader's, whatever the state.
		for s.upgrading && s.state != stateDone {
			s.readerParked = true
			s.space.Broadcast()
			s.space.Wait()
		}
		s.readerParked = false
		if s.state == stateDone || s.eof {
			s.releaseBuf()
			s.mu.Unlock()
			return
		}
		conn, rio := s.conn, s.raw
		s.inRead = true
		var b []byte
		var n int
		var err error
		if rio != nil {
			// Read straight from the descriptor, keeping a buffer only
			// while input is there: an idle socket costs no more than its
			// goroutine.
			space := s.readSpace()
			s.mu.Unlock()
			b, n, err = s.rawRead(rio, space)
		} else {
			b = s.readSpace()
			enterTLS := s.tlsUserIO && leaveTLS == nil
			s.mu.Unlock()
			if enterTLS {
				leaveTLS = s.reg.runTLS(s)
			}
			n, err = conn.Read(b)
		}
		raw := n
		if s.eolIn != nil && n > 0 {
			// In place: the LF and CR forms are never longer than the input.
			n = len(s.eolIn.Append(b[:0], b[:n]))
		}

		s.mu.Lock()
		s.inRead = false
		closes := s.readerCloses // input ended while we read: close and leave
		if err != nil && s.upgrading && isTimeout(err) && n == 0 && !closes {
			s.mu.Unlock()
			continue // woken up to park for a TLS upgrade
		}
		s.addInput(n, raw)
		if closes {
			s.releaseBuf()
			s.mu.Unlock()
			conn.Close()
			return
		}
		if err != nil {
			if s.upgrading && isTimeout(err) {
				s.mu.Unlock()
				continue // woken up to park for a TLS upgrade
			}
			s.endInput(err)
			s.releaseBuf()
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
	}
}

// monoBase is the time monoNow counts from.
var monoBase = time.Now()

// monoNow is time.Now for the read path's marks, which are only compared
// with other times and subtracted from them (by their monotonic
// readings): it reads one clock where time.Now reads two (the wall
// clock too), which on some virtual machines is a measurable share of a
// round trip. Its wall reading drifts from the wall clock's by whatever
// the latter was adjusted since the package started: never show it.
func monoNow() time.Time { return monoBase.Add(time.Since(monoBase)) }

// addInput adds n bytes, read into the free space after the buffer's
// end, to the input (raw bytes as read, before InputEOL converted them to
// n) and serves the pending reads. Called with s.mu held by the reader.
func (s *socket) addInput(n, raw int) {
	s.bytesIn += uint64(raw)
	if raw > 0 && s.state != stateDone {
		// Progress even when InputEOL converted the bytes to nothing
		// (the LF of a CRLF split across reads).
		s.lastRecv = monoNow()
		if len(s.reads) > 0 {
			s.readMark = s.lastRecv
		}
	}
	if n > 0 && s.state != stateDone {
		// After a failure the bytes that came in join the buffered
		// ones, which fail keeps for later reads (it has ended the
		// pending reads, and a finished socket drops them); after a
		// local close they are dropped.
		if s.state == stateClosing && !s.holdReads {
			// Closed locally: input is discarded (but not the start
			// of the TLS stream an upgrade in the flush needs).
			s.rpos = len(s.buf) + n
		}
		s.buf = s.buf[:len(s.buf)+n]
		s.serveReads()
	}
}

// readsOn reports whether the reader, having added input, would go on to
// read again at once from r: not when it must stop, park for an upgrade
// or wait for reads to take the input (the checks at the top of
// readLoop). Called with s.mu held by the reader.
func (s *socket) readsOn(r *rawIO) bool {
	switch {
	case s.readerCloses, s.state == stateDone, s.eof, s.upgrading, s.raw != r:
		return false
	case (s.state == stateOpen || s.state == stateClosing && s.holdReads) && s.bufferFull():
		return false
	}
	return true
}

// bufferFull reports whether the reader should wait for reads to take
// input: when the unread bytes reach readLimit, or, no read being
// pending, a full chunk of them waits or half a chunk does and the buffer
// has no room for a read — there is no point in growing the buffer for
// nobody, and a read that comes may take all of it. Called with s.mu
// held.
func (s *socket) bufferFull() bool {
	unread := len(s.buf) - s.rpos
	if unread >= s.readLimit() {
		return true
	}
	return len(s.reads) == 0 && (unread >= readChunkMax ||
		unread >= readChunkMax/2 && cap(s.buf)-len(s.buf) < readChunkMin)
}

// readSpace compacts or grows the buffer and returns the free space to
// read into: never more than keeps the unread bytes within readLimit, or
// within one chunk while no read is pending.
// Free space of at least readChunkMin is used as it is; below that the
// unread bytes move to the front of the buffer, or to one twice as large
// but no larger than MaxReadBuffer + 1 + readChunkMax.
// Called with s.mu held by the reader goroutine.
func (s *socket) readSpace() []byte {
	unread := len(s.buf) - s.rpos
	if unread == 0 && s.lent == 0 {
		s.buf, s.rpos = s.buf[:0], 0
	}
	if s.buf == nil {
		s.bufp = readBufs.Get().(*[]byte)
		s.buf = (*s.bufp)[:0]
	}
	want := min(s.readLimit()-unread, readChunkMax)
	if len(s.reads) == 0 {
		// Nobody reads: hold no more than a chunk (bufferFull), whatever
		// room a buffer grown by an earlier read has.
		want = min(want, readChunkMax-unread)
	}
	if free := cap(s.buf) - len(s.buf); free < want && free < readChunkMin {
		switch {
		case s.lent > 0 && unread < readChunkMax/2:
			// Bytes before len are lent to events being handled: move on
			// to another pooled buffer.
			nbp := readBufs.Get().(*[]byte)
			nb := append((*nbp)[:0], s.buf[s.rpos:]...)
			s.retireBuf()
			s.buf, s.bufp, s.rpos = nb, nbp, 0
		case s.lent == 0 && cap(s.buf)-unread >= min(want, readChunkMin) && (s.rpos >= cap(s.buf)/2 || len(s.reads) == 0):
			// With no read pending fewer than half a chunk are unread
			// here (bufferFull): never grow the buffer for nobody.
			copy(s.buf, s.buf[s.rpos:])
			s.buf, s.rpos = s.buf[:unread], 0
		default:
			grow := 2 * cap(s.buf)
			if s.lent > 0 {
				// The lent bytes stay behind: size the new array for the
				// unread ones, or it doubles at every fill, without bound.
				grow = 2 * unread
			}
			// Never past what the socket may hold (readLimit), with a
			// chunk of room to spare so that a buffer kept full by a slow
			// reader moves its bytes to the front at most once per chunk
			// taken; unread+want never exceeds it.
			size := min(max(grow, unread+want), s.reg.cfg.MaxReadBuffer+1+readChunkMax)
			if size <= cap(s.buf) && s.lent == 0 {
				copy(s.buf, s.buf[s.rpos:])
				s.buf, s.rpos = s.buf[:unread], 0
				break
			}
			nb := make([]byte, unread, size)
			copy(nb, s.buf[s.rpos:])
			s.retireBuf()
			s.buf, s.bufp, s.rpos = nb, &nb, 0
		}
	}
	free := s.buf[len(s.buf):cap(s.buf)]
	return free[:min(len(free), want)]
}

// readLimit returns how many unread bytes the socket may hold:
// Config.MaxReadBuffer, or one more while a pending read is not served by
// exactly that many. Only the next byte, or the end of the stream, tells
// whether such a read fails with ErrBufferFull or completes: a stream
// that ends there completes an until-read short, as any shorter rest
// would; a line read with any line end whose line ends in a CR at the
// limit learns whether it is a CR or the first half of a CRLF. Called
// with s.mu held.
func (s *socket) readLimit() int {
	limit := s.reg.cfg.MaxReadBuffer
	if len(s.reads) > 0 && !s.eof && len(s.buf)-s.rpos == limit {
		return limit + 1
	}
	return limit
}

// readBufs holds the read buffers of sockets that are not holding one:
// an idle socket waits for input without a buffer (see readLoop), and a
// busy one reuses a buffer that is warm in the cache.
var readBufs = sync.Pool{New: func() any {
	b := make([]byte, readChunkMax)
	return &b
}}

// releaseBuf gives the read buffer back to the pool if it came from it;
// nothing else refers to it (reads copy their data out). Called with
// s.mu held by the reader goroutine or once the socket is done.
func (s *socket) releaseBuf() {
	if s.bufp != nil && len(s.buf) == s.rpos {
		s.retireBuf()
		s.bufp, s.buf, s.rpos = nil, nil, 0
	}
}

// retireBuf gives up the current read buffer, whose unread bytes are
// copied out or gone: it goes back to the pool now, or when the last
// event it is lent to has been handled. Called with s.mu held by the
// reader goroutine or once the socket is done; the caller replaces
// s.buf.
func (s *socket) retireBuf() {
	switch {
	case s.bufp == nil:
	case s.lent > 0:
		if s.oldLoans == nil {
			s.oldLoans = make(map[*[]byte]int)
		}
		s.oldLoans[s.bufp] = s.lent
		s.lent = 0
	default:
		putReadBuf(s.bufp)
	}
	s.bufp = nil
}

// putReadBuf gives a read buffer back to the pool if it is of the pool's
// size; a grown one is left to the garbage collector.
func putReadBuf(b *[]byte) {
	if cap(*b) == readChunkMax {
		*b = (*b)[:cap(*b)]
		readBufs.Put(b)
	}
}

// endLoan ends a loan of a read buffer to an event (LendReadData), once
// its handler has returned.
func (s *socket) endLoan(b *[]byte) {
	s.mu.Lock()
	s.endLoanLocked(b)
	s.mu.Unlock()
}

func (s *socket) endLoanLocked(b *[]byte) {
	if b == s.bufp {
		s.lent--
		return
	}
	if n := s.oldLoans[b] - 1; n > 0 {
		s.oldLoans[b] = n
		return
	}
	delete(s.oldLoans, b)
	putReadBuf(b)
}

// endInput records that no more input will come. Called with s.mu held.
func (s *socket) endInput(err error) {
	if s.eof {
		return
	}
	s.eof = true
	s.space.Broadcast() // a TLS upgrade may be waiting for the reader to park
	switch {
	case s.state != stateOpen:
	case err == io.EOF:
		s.peerEOF = true
	default:
		s.rerr = &OpError{Op: "read", Socket: s.id, Err: err}
	}
	s.serveReads()
	s.maybeFinish()
}

// addRead queues a read request and serves the queue. Called with s.mu held.
func (s *socket) addRead(req *readReq) error {
	if err := req.spec.validate(s.reg.cfg.MaxReadBuffer); err != nil {
		return &OpError{Op: "read", Socket: s.id, Err: err}
	}
	if s.state == stateClosing || s.state == stateDone {
		return &OpError{Op: "read", Socket: s.id, Err: ErrSocketNotOpen}
	}
	if s.finalPosted && !req.blocking {
		// The stream has ended, every byte was read and socketClosed is
		// on its way: nothing is left to read, and the socket's events
		// end with that socketClosed (the engine: "socket is not open").
		// A blocking read still gets io.EOF (a pumped until-empty loop).
		return &OpError{Op: "read", Socket: s.id, Err: ErrSocketNotOpen}
	}
	req.m = newMatcher(req.spec)
	req.issued = monoNow()
	s.reads = append(s.reads, req)
	if len(s.reads) == 1 {
		s.space.Signal() // the reader may wait for a read (bufferFull)
		s.readMark, s.readIv = req.issued, req.iv
		if !req.blocking {
			s.armTimer(req.issued.Add(req.iv))
		}
	}
	if s.state == stateOpen {
		s.serveReads()
		s.maybeFinish()
	}
	return nil
}

// serveReads completes pending reads, strictly in order, from the buffer.
// Called with s.mu held.
func (s *socket) serveReads() {
	if s.holdReads {
		if !s.eof {
			return // the bytes belong to the TLS stream to come
		}
		// The stream ended before the upgrade ran: the bytes were TLS
		// all the same, and never reach a plaintext read.
		s.discardUnread()
	}
	served := false
	for len(s.reads) > 0 {
		req := s.reads[0]
		unread := s.unread()
		n, done, short := req.m.match(unread, s.eof)
		var res readResult
		switch {
		case done:
			switch {
			case req.dst != nil:
				res.data = req.dst[:copy(req.dst, unread[:n])]
			case n > 0 && !req.blocking && s.reg.cfg.LendReadData && s.bufp != nil:
				res.data, res.loan = unread[:n:n], s.bufp
				s.lent++
			default:
				res.data = append([]byte(nil), unread[:n]...)
			}
			s.rpos += n
			res.eof = short || req.spec.kind == kindEOF
			switch {
			case res.eof && s.rerr != nil:
				res.err = s.rerr // a reset is not a clean end, even for until-EOF
			case short:
				res.err = io.EOF
			}
		case len(unread) >= s.readLimit():
			res.err = &OpError{Op: "read", Socket: s.id, Err: &causeError{ErrBufferFull,
				errors.New("no match in " + strconv.Itoa(len(unread)) + " buffered bytes (Config.MaxReadBuffer)")}}
		default:
			if served {
				s.newReadHead()
				s.space.Signal()
			}
			return
		}
		s.reads = popFront(s.reads)
		served = true
		s.complete(req, res)
	}
	if served {
		s.space.Signal()
	}
}

// discardUnread drops the unread input. Pending reads start matching
// afresh: a matcher's state is about the bytes it has seen, which may
// only grow (see matcher.match). Called with s.mu held.
func (s *socket) discardUnread() {
	if s.rpos == len(s.buf) {
		return
	}
	s.rpos = len(s.buf)
	for _, r := range s.reads {
		r.m = newMatcher(r.spec)
	}
}

// newReadHead starts the timeout clock of a read that reached the head of
// the queue. Called with s.mu held.
func (s *socket) newReadHead() {
	head := s.reads[0]
	s.readMark, s.readIv = monoNow(), head.iv
	if !head.blocking {
		s.armTimer(s.readMark.Add(s.readIv))
	}
}

// complete delivers a read's result. Called with s.mu held.
func (s *socket) complete(req *readReq, res readResult) {
	if req.blocking {
		req.done <- res
		return
	}
	ev := Event{Kind: EventRead, Name: req.name, Socket: s.id, Data: res.data, Err: res.err, EOF: res.eof}
	if u := req.spec.Unit(); req.spec.isBinary() {
		ev.unit, ev.chunk = u, true
	}
	if res.loan != nil {
		// A nil handler drops the event, as post does.
		if req.h == nil || !s.reg.disp.enqueue(pending{h: req.h, ev: ev, s: s, loan: res.loan}) {
			s.endLoanLocked(res.loan)
		}
	} else {
		s.post(req.h, ev)
	}
	if s.spareRead == nil {
		*req = readReq{done: req.done}
		s.spareRead = req
	} else {
		putReadReq(req)
	}
}

// removeRead takes a blocking read out of the queue if it is still
// pending, and reports whether it did. Called with s.mu held.
func (s *socket) removeRead(req *readReq) bool {
	for i, r := range s.reads {
		if r == req {
			s.reads = slices.Delete(s.reads, i, i+1) // clears the slot left behind
			if i == 0 && len(s.reads) > 0 && s.state == stateOpen {
				s.newReadHead()
				s.serveReads()
			}
			return true
		}
	}
	return false
}

// --- writing -------------------------------------------------------------

// addWrite queues a write. Called with s.mu held.
func (s *socket) addWrite(w *writeReq) error {
	switch {
	case s.state == stateClosing || s.state == stateDone:
		return &OpError{Op: "write", Socket: s.id, Err: ErrSocketNotOpen}
	case s.rerr != nil:
		return &OpError{Op: "write", Socket: s.id, Err: ErrClosed}
	case s.wroteClosed:
		return &OpError{Op: "write", Socket: s.id, Err: &causeError{ErrClosed, errors.New("write side closed by CloseWrite")}}
	}
	if !w.blocking {
		if err := s.queueFull(len(w.data)); err != nil {
			return err
		}
		s.queued += len(w.data)
	}
	s.writes = append(s.writes, w)
	if len(s.writes) == 1 {
		now := time.Now()
		s.writeMark, s.writeIv = now, w.iv
		if !w.blocking {
			s.armTimer(now.Add(w.iv))
		}
	}
	s.startWriter()
	return nil
}

// queueFull returns the error of an asynchronous write of n bytes that
// would take the socket's queued bytes past Config.MaxWriteQueue, or nil.
// Called with s.mu held.
func (s *socket) queueFull(n int) error {
	if s.queued+n > s.reg.cfg.MaxWriteQueue {
		return &OpError{Op: "write", Socket: s.id, Err: &causeError{ErrBufferFull,
			errors.New(strconv.Itoa(s.queued) + " bytes already queued (Config.MaxWriteQueue)")}}
	}
	return nil
}

// startWriter starts the writer goroutine if there is work for it.
// Called with s.mu held.
func (s *socket) startWriter() {
	if s.writing || len(s.writes) == 0 || s.conn == nil || s.state == stateDone {
		return
	}
	s.writing = true
	s.reg.wg.Add(1)
	s.reg.spawn(s.writeLoop)
}

// writeLoop sends the queued writes in order, then exits.
func (s *socket) writeLoop() {
	var leaveTLS func() // see tlsUserIO
	defer func() {
		if leaveTLS != nil {
			leaveTLS()
		}
	}()
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		if len(s.writes) == 0 || s.state == stateDone || s.rerr != nil {
			s.writing = false
			for _, w := range s.writes {
				if w.blocking {
					w.done <- cmp.Or(w.cancelErr, s.rerr, error(&OpError{Op: "write", Socket: s.id, Err: ErrClosed}))
				}
			}
			clear(s.writes)
			s.writes = s.writes[:0]
			switch {
			case s.state == stateClosing:
				s.finish()
			case s.eof:
				s.maybeFinish()
			}
			return
		}
		w := s.writes[0]
		if w.upgrade != nil {
			err := s.doUpgrade(w.upgrade)
			if len(s.writes) > 0 && s.writes[0] == w {
				s.popWrite()
			}
			if err != nil {
				s.fail(err)
			}
			continue
		}
		conn, rio := s.conn, s.raw
		var err error
		var n int
		enterTLS := s.tlsUserIO && leaveTLS == nil
		s.mu.Unlock()
		if enterTLS {
			leaveTLS = s.reg.runTLS(s)
		}
		switch {
		case w.closeWrite:
			if cw, ok := conn.(interface{ CloseWrite() error }); ok {
				err = cw.CloseWrite()
			}
		case rio != nil:
			// Whatever the kernel takes is progress, noted as it happens:
			// a slow peer is not a stalled one.
			n, err = rio.writeSome(w.data[w.off:min(len(w.data), w.off+writeChunk)])
		default:
			n, err = conn.Write(w.data[w.off:min(len(w.data), w.off+connWriteChunk)])
		}
		s.mu.Lock()
		aborted := s.aborting
		if aborted {
			s.aborting = false
			conn.SetWriteDeadline(time.Time{})
		}
		if n > 0 {
			s.bytesOut += uint64(n)
			s.writeMark = time.Now()
			s.lastSent = s.writeMark
		}
		if len(s.writes) == 0 || s.writes[0] != w {
			continue // failed or closed while the lock was released
		}
		w.off += n
		if aborted {
			if w.cancelErr != nil && w.off < len(w.data) {
				s.popWrite()
				w.done <- w.cancelErr
				if isTLS(conn) && s.state != stateDone {
					// The deadline broke the TLS stream for good, maybe in
					// the middle of a record: say so, rather than fail the
					// next write with "i/o timeout".
					s.fail(&OpError{Op: "write", Socket: s.id, Err: errTLSWriteCut})
				}
				continue
			}
			if w.cancelErr != nil {
				err = nil // it was all sent before the abort landed: a success
			}
			if isTimeout(err) {
				err = nil // our abort hit a write it was not meant for; retry
			}
		}
		if err != nil {
			if s.state == stateDone {
				continue // closed under us; the loop exits above
			}
			s.fail(&OpError{Op: "write", Socket: s.id, Err: err})
			continue
		}
		if w.off < len(w.data) {
			continue
		}
		s.popWrite()
		switch {
		case w.blocking:
			w.done <- nil
		case w.name != "":
			s.post(w.h, Event{Kind: EventWritten, Name: w.name, Socket: s.id})
		}
	}
}

// postError sends the socket's one socketError, unless its final event
// (socketClosed or socketError) went already. Called with s.mu held.
func (s *socket) postError(err error) {
	if !s.finalPosted {
		s.finalPosted = true
		s.post(s.owner, Event{Kind: EventError, Name: "socketError", Socket: s.id, Err: err})
	}
}

// cutHeadWrite ends the blocking write being sent, if there is one and
// it is not being cut already: it returns err (ErrClosed if nil) once
// the writer is out of its write, which a past deadline interrupts. On
// TLS that ends the socket (errTLSWriteCut). Called with s.mu held.
func (s *socket) cutHeadWrite(err error) {
	if len(s.writes) == 0 || !s.writing {
		return
	}
	if w := s.writes[0]; w.blocking && w.cancelErr == nil {
		w.cancelErr = cmp.Or(err, error(&OpError{Op: "write", Socket: s.id, Err: ErrClosed}))
		s.aborting = true
		s.conn.SetWriteDeadline(time.Unix(1, 0))
	}
}

// errTLSWriteCut ends a TLS socket whose write was interrupted.
var errTLSWriteCut = errors.New("a write cut short by its context or timeout left the TLS stream broken")

func isTLS(c net.Conn) bool {
	_, ok := c.(*tls.Conn)
	return ok
}

// popFront removes q's first element. A short queue keeps its array, so
// that steady traffic on a socket does not reallocate it.
func popFront[T any](q []*T) []*T {
	if len(q) > 8 {
		q[0] = nil
		return q[1:]
	}
	copy(q, q[1:])
	q[len(q)-1] = nil
	return q[:len(q)-1]
}

// popWrite removes the head write. The next one's timeout clock starts;
// in the flush of a closed socket, the flush's interval, set by the
// close, stays. Called with s.mu held.
func (s *socket) popWrite() {
	w := s.writes[0]
	if !w.blocking {
		s.queued -= len(w.data)
	}
	s.writes = popFront(s.writes)
	s.startHeadClock()
}

// startHeadClock starts the timeout clock of a new head write, now; in
// the flush of a closed socket, the flush's interval, set by the close,
// stays. Called with s.mu held.
func (s *socket) startHeadClock() {
	s.writeMark = time.Now()
	if len(s.writes) > 0 && s.state != stateClosing {
		head := s.writes[0]
		s.writeIv = head.iv
		if !head.blocking {
			s.armTimer(s.writeMark.Add(s.writeIv))
		}
	}
}

// cancelWrite withdraws a blocking write whose caller gives up. If the
// write is not in progress it is removed and cancelWrite returns true;
// otherwise the head write is aborted and the writer reports err on
// w.done. Called with s.mu held.
func (s *socket) cancelWrite(w *writeReq, err error) bool {
	for i, q := range s.writes {
		if q != w {
			continue
		}
		if i == 0 && s.writing {
			s.cutHeadWrite(err)
			return false
		}
		s.writes = append(s.writes[:i], s.writes[i+1:]...)
		if i == 0 {
			s.startHeadClock() // the next write's clock, not the withdrawn one's
		}
		return true
	}
	return false // already completed; the result is in w.done
}

// --- closing -------------------------------------------------------------

// maybeFinish ends a socket whose input has ended, once every pending
// read is served and the buffer is drained. After a failure it finishes
// at once with socketError. After a clean end of stream (the peer closed
// or half-closed) it sends socketClosed, but the socket stays open for
// writing until that event has been handled: a handler can still answer
// a peer that half-closed, and the answer is flushed before the
// connection closes, as CloseSocket would. A socket with a Conn view
// leaves the ID table then, but stays open for the view's writes until
// the view (or the registry) closes it: net.Conn code has no handler to
// answer from. Called with s.mu held.
func (s *socket) maybeFinish() {
	if !s.eof || s.state != stateOpen || len(s.reads) > 0 || len(s.unread()) > 0 || s.finalPosted {
		return
	}
	if s.rerr != nil {
		s.finish()
		return
	}
	s.finalPosted = true
	if s.owner == nil {
		s.reg.remove(s)
		if !s.viewed {
			s.closeLocked(true)
		}
		return
	}
	s.reg.disp.postThen(s.owner, Event{Kind: EventClosed, Name: "socketClosed", Socket: s.id}, s, func() {
		s.reg.remove(s)
		s.mu.Lock()
		defer s.mu.Unlock()
		if !s.viewed && s.state != stateDone {
			s.closedLocally = true
			s.closeLocked(true)
		}
	})
}

// finish closes the connection, fails what still waits and sends the
// final event: socketError when input ended with an error, socketClosed
// when the peer closed; nothing after a local close. Called with s.mu held.
func (s *socket) finish() {
	if s.state == stateDone {
		return
	}
	local := s.state == stateClosing
	s.state = stateDone
	s.closeConn()
	if s.cancelDial != nil {
		s.cancelDial()
	}
	if s.timer != nil {
		s.timer.Stop()
	}
	if s.release != nil {
		s.release()
		s.release = nil
	}
	if len(s.reads) > 0 || len(s.writes) > 0 || s.dg != nil {
		rerr, werr := s.rerr, s.rerr
		if s.rerr == nil {
			rerr = &OpError{Op: "read", Socket: s.id, Err: ErrClosed}
			werr = &OpError{Op: "write", Socket: s.id, Err: ErrClosed}
		}
		s.failWaiters(rerr, werr)
		if s.dg != nil {
			s.failPendingDatagrams(werr)
		}
	}
	s.queued = 0 // also of writes closeLocked dropped
	if s.spareRead != nil {
		putReadReq(s.spareRead)
		s.spareRead = nil
	}
	s.space.Broadcast()
	close(s.finished)
	s.reg.retire(s)
	if !local && s.rerr != nil {
		s.postError(s.rerr)
	}
	if s.reg.debugging() {
		s.reg.debug("lcsock: finished", "socket", s.id, "err", s.rerr)
	}
}

// closeConn closes the connection, or has the reader close it when the
// reader is in a read on it: Close waits until no read or write is in
// progress on the descriptor, so closing under a blocked reader would
// keep the caller (often the dispatcher, in CloseSocket) waiting for the
// reader goroutine to be scheduled. The reader is woken instead
// (wakeReader, or a past deadline) and closes on its way out. Only plain
// TCP connections (s.raw) are handed over: an adopted net.Conn need not
// honour deadlines. A TLS connection is closed by a worker (closeTLS):
// tls.Conn.Close sends close_notify first, which waits up to 5 s when
// the peer does not read. Called with s.mu held.
func (s *socket) closeConn() {
	switch c := s.conn.(type) {
	case nil:
	case *tls.Conn:
		if !s.tlsClosing {
			s.tlsClosing = true
			r := s.reg
			closed := make(chan struct{})
			r.mu.Lock()
			r.closers[closed] = struct{}{}
			r.mu.Unlock()
			r.wg.Add(1)
			r.spawn(func() {
				closeTLS(r.ctx, c)
				r.mu.Lock()
				delete(r.closers, closed)
				r.mu.Unlock()
				close(closed)
			})
		}
	case net.Conn:
		switch {
		case s.readerCloses:
		case s.inRead && s.raw != nil:
			s.readerCloses = true
			if s.adopted || !s.raw.wakeReader() {
				c.SetReadDeadline(time.Unix(1, 0))
			}
		default:
			c.Close()
		}
	}
}

// closeTLS closes c, sending its close_notify alert, unless ctx — the
// registry's, which Close cancels — ends first: then the connection
// underneath is closed, which ends a close_notify stuck behind bytes the
// peer does not read (tls.Conn.Close waits up to 5 s for it, when no
// Write is in progress to make it skip the alert), so that Close does
// not wait for it. Shutdown waits for it, within its ctx.
func closeTLS(ctx context.Context, c *tls.Conn) {
	cut := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		c.NetConn().Close()
		close(cut)
	})
	c.Close()
	if !stop() {
		<-cut // the AfterFunc ran: let it finish before the worker moves on
	}
}

// failWaiters ends the blocking calls still waiting, the reads with
// rerr and the writes with err, and drops the rest. Called with s.mu
// held.
func (s *socket) failWaiters(rerr, err error) {
	for _, r := range s.reads {
		if r.blocking {
			r.done <- readResult{err: rerr}
		}
	}
	s.reads = nil
	for i, w := range s.writes {
		if !w.blocking {
			continue
		}
		if i == 0 && s.writing {
			// The writer reports it when it sees stateDone — or the
			// error of the caller who gave up on the write already.
			if w.cancelErr == nil {
				w.cancelErr = err
			}
			continue
		}
		w.done <- err
	}
	if len(s.writes) > 0 && s.writing && s.writes[0].blocking {
		s.writes = s.writes[:1]
	} else {
		s.writes = nil
	}
	s.queued = 0
}

// fail ends the socket with err: one socketError to the owner after the
// data already buffered (bytes, or a datagram socket's queued datagrams)
// has been given to the pending reads and to the reads to come. Called
// with s.mu held.
func (s *socket) fail(err error) {
	if s.state == stateDone {
		return
	}
	if s.state == stateClosing {
		s.finish()
		return
	}
	if s.rerr == nil {
		s.rerr = err
	}
	s.eof = true
	s.closeConn()
	s.space.Broadcast()
	s.serveReads()
	if s.state == stateConnecting || (len(s.reads) == 0 && len(s.unread()) == 0 && !s.dgQueued()) {
		s.finish()
		return
	}
	// Buffered data remains for reads; drop what can no longer be sent.
	s.failWaiters(err, err)
	if s.dg != nil {
		s.failPendingDatagrams(err)
	}
}

// closeLocal is CloseSocket after the ID left the table. It reports
// false if the socket had already finished.
func (s *socket) closeLocal() bool {
	if s.listener != nil {
		return s.closeListener()
	}
	if s.dg != nil {
		return s.closeDatagram()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state == stateDone {
		return false
	}
	s.closedLocally = true
	s.closeLocked(false)
	return true
}

// socketClosedStale reports whether a socketClosed or socketTimeout
// event posted for s has lost its point: s was closed locally after it
// was posted, and a local close has no socketClosed (case 62), nor
// socketTimeout (the timer of a closed socket posts none).
func (s *socket) socketClosedStale() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closedLocally
}

// closeLocked is closeLocal with s.mu held. Blocking Writes fail, or are
// cut when being sent, as the closer asked — unless keepBlocking: the
// close that follows the peer's end of stream, which nobody asked for,
// flushes them with the asynchronous ones.
func (s *socket) closeLocked(keepBlocking bool) {
	switch s.state {
	case stateDone, stateClosing:
		return
	case stateConnecting:
		s.state = stateClosing
		s.finish()
		return
	}
	s.state = stateClosing
	for _, r := range s.reads {
		if r.blocking {
			r.done <- readResult{err: &OpError{Op: "read", Socket: s.id, Err: ErrClosed}}
		}
	}
	s.reads = nil
	if !s.holdReads { // else they are the start of the TLS stream to flush over
		s.rpos = len(s.buf)
	}
	s.space.Broadcast()
	kept := s.writes[:0]
	for i, w := range s.writes {
		switch {
		case !w.blocking, keepBlocking:
			kept = append(kept, w)
		case i == 0 && s.writing && isTLS(s.conn) && !s.cutWrites:
			// Being sent, and TLS cannot stop a record halfway and go on
			// with the flush: it finishes (within the flush's bound).
			kept = append(kept, w)
		case i == 0 && s.writing:
			s.cutHeadWrite(nil)
			kept = append(kept, w)
		default:
			w.done <- &OpError{Op: "write", Socket: s.id, Err: ErrClosed}
		}
	}
	s.writes = kept
	if len(s.writes) == 0 || s.rerr != nil {
		s.finish()
		return
	}
	s.writeMark = time.Now()
	s.writeIv = s.reg.TimeoutInterval()
	s.armTimer(s.writeMark.Add(s.writeIv))
}

// abort closes the socket at once, without flushing and without events.
func (s *socket) abort() {
	if s.listener != nil {
		s.closeListener()
		return
	}
	if s.dg != nil {
		s.closeDatagram()
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != stateDone {
		// finish drops the asynchronous writes. They stay queued until
		// then: failWaiters takes the head write for the one the writer
		// is sending, and a blocking write moved there from behind an
		// asynchronous one (a Secure upgrade, say) would wait for the
		// writer instead of failing now.
		s.state = stateClosing
		s.finish()
	}
}

// dropAsyncReads keeps only the blocking reads.
func dropAsyncReads(rs []*readReq) []*readReq {
	kept := rs[:0]
	for _, r := range rs {
		if r.blocking {
			kept = append(kept, r)
		}
	}
	return kept
}

// --- timeouts ------------------------------------------------------------

// armTimer makes sure the timer fires no later than at. Called with s.mu held.
func (s *socket) armTimer(at time.Time) {
	if s.state == stateDone {
		return
	}
	if s.timer == nil {
		s.timer = time.AfterFunc(time.Until(at), s.onTimer)
		s.timerAt = at
		return
	}
	if s.timerAt.IsZero() || at.Before(s.timerAt) {
		s.timer.Reset(time.Until(at))
		s.timerAt = at
	}
}

// onTimer sends socketTimeout when an open, an asynchronous read or an
// asynchronous write has made no progress for its interval, and bounds the
// flush of a closing socket.
func (s *socket) onTimer() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.timerAt = time.Time{}
	now := time.Now()
	var op Op
	var next time.Time
	check := func(mark *time.Time, iv *time.Duration, o Op) {
		due := mark.Add(*iv)
		if !due.After(now) {
			if op == OpNone {
				op = o
			}
			*mark, *iv = now, s.reg.TimeoutInterval()
			due = now.Add(*iv)
		}
		if next.IsZero() || due.Before(next) {
			next = due
		}
	}
	switch s.state {
	case stateDone:
		return
	case stateConnecting:
		check(&s.openMark, &s.openIv, OpOpen)
	case stateClosing:
		if len(s.writes) > 0 && !s.writeMark.Add(s.writeIv).After(now) {
			s.finish() // the flush made no progress for the interval
			return
		}
		if len(s.writes) > 0 {
			next = s.writeMark.Add(s.writeIv)
		}
	case stateOpen:
		if len(s.reads) > 0 && !s.reads[0].blocking {
			check(&s.readMark, &s.readIv, OpRead)
		}
		if len(s.writes) > 0 && !s.writes[0].blocking {
			check(&s.writeMark, &s.writeIv, OpWrite)
		}
	}
	if !next.IsZero() {
		s.armTimer(next)
	}
	if op != OpNone && s.timeoutQueued.CompareAndSwap(false, true) {
		s.post(s.owner, Event{Kind: EventTimeout, Name: "socketTimeout", Socket: s.id, Op: op})
	}
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// --- verbs ---------------------------------------------------------------

// Read is LiveCode's blocking "read from socket id <spec>". It waits until
// spec is satisfied and returns the data (which includes an until-read's
// delimiter). Reads on a socket complete strictly in the order they were
// issued, blocking and with message mixed: a Read behind a pending
// ReadWithMessage waits its turn.
//
// When the stream ends first, Read returns what the buffer could give
// (possibly nothing) and io.EOF, unwrapped (UntilEOF returns nil: the end
// is its condition); when the connection fails instead (a reset), it
// returns that data and the error of the socket's socketError. It returns an error wrapping ErrTimeout when no byte
// arrives for the timeout interval in force when Read was called (a wait
// for the connection counts, as for Write and in LiveCode; the bytes of a
// TLS handshake that Secure or OpenSecure runs meanwhile do
// not count: a handshake slower than the interval times the Read out);
// ctx's error when ctx ends; ErrClosed when the socket is closed
// meanwhile. On timeout or cancellation nothing is consumed: the buffered
// bytes stay for the next read. An unknown ID gives ErrSocketNotOpen, a
// listener ErrNotReadable, a negative count ErrBadReadSpec and a For
// count needing more than Config.MaxReadBuffer bytes ErrBufferFull, at
// once; an until-read (or a count of lines, items or words) not
// satisfied within Config.MaxReadBuffer + 1 bytes gives ErrBufferFull
// (the data stays buffered); a nil ctx an error (no panic).
func (r *Registry) Read(ctx context.Context, id string, spec ReadSpec) ([]byte, error) {
	if err := nilContext(ctx, "read", id); err != nil {
		return nil, err
	}
	s, err := r.lookupConn("read", id)
	if err != nil {
		return nil, err
	}
	if s.dg != nil {
		// The condition never splits or joins datagrams, but a malformed
		// one is refused as on a TCP socket (a listener's ErrNotReadable
		// first; listen never changes).
		if err := spec.validate(0); err != nil && !s.dg.listen {
			return nil, &OpError{Op: "read", Socket: id, Err: err}
		}
		return s.dgRead(ctx, r.TimeoutInterval())
	}
	req := readReqs.Get().(*readReq)
	req.spec, req.iv, req.blocking = spec, r.TimeoutInterval(), true
	data, err := s.read(ctx, req)
	putReadReq(req)
	return data, err
}

// readReqs recycles read requests: a steady stream of reads allocates
// none. A request goes back once it has left the socket's queue and its
// result has been taken.
var readReqs = sync.Pool{New: func() any { return &readReq{done: make(chan readResult, 1)} }}

func putReadReq(req *readReq) {
	*req = readReq{done: req.done}
	readReqs.Put(req)
}

// read runs a blocking read request until it completes, ctx ends, or —
// when req.iv is positive — no byte arrives for req.iv.
func (s *socket) read(ctx context.Context, req *readReq) ([]byte, error) {
	s.mu.Lock()
	err := s.addRead(req)
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	var timer *time.Timer
	var tc <-chan time.Time // nil, never ready, without an interval
	if req.iv > 0 {
		timer = time.NewTimer(req.iv)
		defer timer.Stop()
		tc = timer.C
	}
	for {
		select {
		case res := <-req.done:
			return res.data, res.err
		case <-ctx.Done():
			return s.cancelRead(req, ctx.Err())
		case <-tc:
			s.mu.Lock()
			idle := time.Since(latest(req.issued, s.lastRecv))
			if idle < req.iv {
				s.mu.Unlock()
				timer.Reset(req.iv - idle)
				continue
			}
			removed := s.removeRead(req)
			s.mu.Unlock()
			if removed {
				return nil, &OpError{Op: "read", Socket: s.id, Err: ErrTimeout}
			}
		}
	}
}

// cancelRead withdraws a blocking read whose caller gives up. If the read
// has completed already its result is returned instead, so no data is lost.
func (s *socket) cancelRead(req *readReq, cause error) ([]byte, error) {
	s.mu.Lock()
	removed := s.removeRead(req)
	s.mu.Unlock()
	if removed {
		return nil, &OpError{Op: "read", Socket: s.id, Err: cause}
	}
	res := <-req.done
	return res.data, res.err
}

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// ReadWithMessage is LiveCode's "read from socket id <spec> with message
// name". It returns at once; when spec is satisfied an EventRead named
// name, with the socket ID and the data, is sent to h (nil means
// Config.Handler) — never during this call. If the stream ends first, the
// event carries what the buffer could give and Err io.EOF; then the
// socket's owner gets socketClosed. If the connection fails instead (a
// reset), Err is the error of the socketError the owner gets then.
// While the read waits with no bytes arriving, the owner gets
// socketTimeout every timeout interval. An until-read (or a count of
// lines, items or words) that passes Config.MaxReadBuffer completes with
// Err wrapping ErrBufferFull and no data, leaving the data buffered.
//
// It fails at once, with no event, as Read does: ErrSocketNotOpen,
// ErrNotReadable for a listener, ErrBadReadSpec for a negative count, and
// ErrBufferFull for a For count needing more than Config.MaxReadBuffer
// bytes. It also fails with ErrSocketNotOpen once the stream has ended,
// every byte was read and the socketClosed is on its way (a blocking Read
// then returns io.EOF): the socket's events end with its socketClosed.
func (r *Registry) ReadWithMessage(id string, spec ReadSpec, h Handler, name string) error {
	s, err := r.lookupConn("read", id)
	if err != nil {
		return err
	}
	if s.dg != nil {
		if err := spec.validate(0); err != nil && !s.dg.listen { // as Read's
			return &OpError{Op: "read", Socket: id, Err: err}
		}
		return s.dgReadWithMessage(r.handler(h), name)
	}
	iv, h := r.TimeoutInterval(), r.handler(h)
	s.mu.Lock()
	defer s.mu.Unlock()
	req := s.spareRead
	if req != nil {
		s.spareRead = nil
	} else {
		req = readReqs.Get().(*readReq)
	}
	req.spec, req.iv, req.h, req.name = spec, iv, h, name
	if err := s.addRead(req); err != nil {
		putReadReq(req)
		return err
	}
	return nil
}

// Write is LiveCode's blocking "write data to socket id". It returns once
// every byte is handed to the kernel (not when the peer has them), and
// how many bytes were sent. Writes go out in the order they were made;
// a Write made while the socket is still connecting waits for the
// connection, and one made after Secure waits for its handshake.
//
// It returns an error wrapping ErrTimeout when no byte moves for the
// timeout interval in force when Write was called (a wait for the
// connection or the handshake counts, as in LiveCode; a Write that times
// out then has sent nothing), ctx's error when ctx ends, ErrClosed when
// the socket is closed meanwhile (not by the close that follows
// socketClosed, which flushes it as it flushes WriteWithMessage's
// writes), and the error of its socketError when
// it fails meanwhile; then the unsent rest of data is dropped and n says
// how much the peer may have received. On a TLS
// socket, a Write cut short by ctx or its timeout also ends the socket
// (one socketError): TLS cannot go on after a record cut halfway. Any
// write error on the connection is fatal to the socket: its owner gets
// one socketError. Write does not keep data after it returns. An unknown
// ID gives ErrSocketNotOpen, a listener ErrNotWritable, a socket whose
// write side CloseWrite closed or whose connection has failed ErrClosed;
// a nil ctx is an error (no panic).
func (r *Registry) Write(ctx context.Context, id string, data []byte) (int, error) {
	if err := nilContext(ctx, "write", id); err != nil {
		return 0, err
	}
	s, err := r.lookupConn("write", id)
	if err != nil {
		return 0, err
	}
	if s.dg != nil {
		if err := s.dgWriteBlocking(ctx, data, r.TimeoutInterval()); err != nil {
			return 0, err
		}
		return len(data), nil
	}
	return s.write(ctx, data, r.TimeoutInterval())
}

// write runs a blocking write until every byte is in the kernel, ctx
// ends, or — when iv is positive — no byte moves for iv.
func (s *socket) write(ctx context.Context, data []byte, iv time.Duration) (int, error) {
	s.mu.Lock()
	early, err := s.writeNow(data)
	if err != nil || (early == len(data) && early > 0) {
		s.mu.Unlock()
		return early, err
	}
	w := &writeReq{data: data[early:], iv: iv, blocking: true, done: make(chan error, 1)}
	err = s.addWrite(w)
	s.mu.Unlock()
	if err != nil {
		return early, err
	}
	issued := time.Now()
	var timer *time.Timer
	var tc <-chan time.Time // nil, never ready, without an interval
	if iv > 0 {
		timer = time.NewTimer(iv)
		defer timer.Stop()
		tc = timer.C
	}
	var cause error
	for cause == nil {
		select {
		case err := <-w.done:
			return early + w.sent(), err
		case <-ctx.Done():
			cause = ctx.Err()
		case <-tc:
			// Idle since the last byte sent, not since writeMark, which
			// socketTimeout events of an asynchronous write ahead move.
			s.mu.Lock()
			idle := time.Since(latest(issued, s.lastSent))
			s.mu.Unlock()
			if idle < iv {
				timer.Reset(iv - idle)
				continue
			}
			cause = ErrTimeout
		}
	}
	err = &OpError{Op: "write", Socket: s.id, Err: cause}
	s.mu.Lock()
	removed := s.cancelWrite(w, err)
	s.mu.Unlock()
	if !removed {
		err = <-w.done // the writer finishes or aborts the write in progress
	}
	return early + w.sent(), err
}

// sent returns how many bytes of a finished write went out. The writer
// has stopped touching w once its result was delivered.
func (w *writeReq) sent() int { return w.off }

// WriteWithMessage is LiveCode's "write data to socket id with message
// name". It returns at once: what the kernel takes right away is sent
// from the calling goroutine, and the rest is copied and queued; when all
// of it is in the kernel an EventWritten named name is sent to h (nil means
// Config.Handler). An empty name sends no event. When the queued bytes of
// the socket would pass Config.MaxWriteQueue it fails with ErrBufferFull
// and queues nothing. While the write makes no progress the owner gets
// socketTimeout every timeout interval. An unknown ID gives
// ErrSocketNotOpen, a listener ErrNotWritable, a socket whose write side
// CloseWrite closed or whose connection has failed ErrClosed; if sending
// the part the kernel takes at once fails, that error is returned and
// the owner gets one socketError with it.
func (r *Registry) WriteWithMessage(id string, data []byte, h Handler, name string) error {
	s, err := r.lookupConn("write", id)
	if err != nil {
		return err
	}
	if s.dg != nil {
		return s.dgWrite(data, r.handler(h), name, true)
	}
	h = r.handler(h)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.queued+len(data) > r.cfg.MaxWriteQueue {
		// Refuse before sending anything: the write is all or nothing.
		return s.addWrite(&writeReq{data: data, h: h, name: name})
	}
	early, err := s.writeNow(data)
	switch {
	case err != nil:
		return err
	case early > 0 && early == len(data):
		// All in the kernel already: no copy, no queue, no writer. (An
		// empty write is queued: writeNow did not look at the queue, and
		// its event comes after those of the writes ahead, or it fails
		// after CloseWrite.)
		if name != "" {
			s.post(h, Event{Kind: EventWritten, Name: name, Socket: s.id})
		}
		return nil
	}
	w := &writeReq{data: append([]byte(nil), data[early:]...), iv: r.TimeoutInterval(), h: h, name: name}
	return s.addWrite(w)
}

// writeNow sends as much of data as the kernel takes at once, from the
// calling goroutine, when the socket is a plain open TCP connection with
// nothing queued ahead — the common case of a small write, which then
// needs no writer goroutine, no copy and no queue. It returns how much
// was sent. A write error fails the socket (one socketError). Called with
// s.mu held.
func (s *socket) writeNow(data []byte) (int, error) {
	if s.raw == nil || s.writing || len(s.writes) > 0 || s.state != stateOpen || s.rerr != nil || s.wroteClosed || len(data) == 0 {
		return 0, nil
	}
	n, err := s.raw.write(data)
	// No writeMark: nothing is queued, and addWrite sets it for what is.
	s.bytesOut += uint64(n)
	if err != nil {
		werr := &OpError{Op: "write", Socket: s.id, Err: err}
		s.fail(werr)
		return n, werr
	}
	return n, nil
}

// CloseWrite half-closes the connection once the writes already queued
// are sent: the peer reads end of stream, while this side can still read.
// Later writes fail with ErrClosed. An adopted connection that cannot
// half-close (net.Pipe) gives ErrCannotHalfClose. Not in LiveCode.
func (r *Registry) CloseWrite(id string) error {
	s, err := r.lookupConn("closewrite", id)
	if err != nil {
		return err
	}
	if s.dg != nil {
		return &OpError{Op: "closewrite", Socket: id, Err: errors.New("datagram sockets have no write side to close")}
	}
	return s.closeWrite()
}

// closeWrite queues the half-close marker.
func (s *socket) closeWrite() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.conn.(interface{ CloseWrite() error }); s.conn != nil && !ok {
		// An adopted connection without a write side of its own
		// (net.Pipe): the peer would never see the end of stream.
		return &OpError{Op: "closewrite", Socket: s.id, Err: ErrCannotHalfClose}
	}
	if err := s.addWrite(&writeReq{closeWrite: true, iv: s.reg.TimeoutInterval()}); err != nil {
		if oe, ok := err.(*OpError); ok {
			oe.Op = "closewrite" // addWrite's, made for this call
		}
		return err
	}
	s.wroteClosed = true
	return nil
}

// lookupConn finds a socket that carries data: not a listener.
func (r *Registry) lookupConn(op, id string) (*socket, error) {
	s, err := r.lookup(op, id)
	if err == nil && s.listener != nil {
		switch op {
		case "read":
			return nil, &OpError{Op: op, Socket: id, Err: ErrNotReadable}
		case "write":
			return nil, &OpError{Op: op, Socket: id, Err: ErrNotWritable}
		}
		// Secure, CloseWrite, TLSState: the engine's text, and why.
		return nil, &OpError{Op: op, Socket: id, Err: &causeError{ErrNotWritable, errors.New("a listener has no connection")}}
	}
	return s, err
}

// PeerAddress is LiveCode's peerAddress: the remote IP address of the
// socket, without the port; "" while it is still connecting, and for a
// listener. For a datagram socket it is the peer's (a datagram
// listener's socket for one sender: that sender's). Through a Proxy it
// is the proxy's: the target's address is known only to the proxy. An
// unknown ID gives
// an error whose text is LiveCode's "not an open socket" (ErrNotAnOpenSocket; on a
// closed registry it also wraps ErrClosed).
func (r *Registry) PeerAddress(id string) (string, error) {
	return r.address(id, false)
}

// HostAddress is LiveCode's hostAddress: the local IP address of the
// socket, without the port; "" while it is still connecting. Datagram
// sockets have one too (a datagram listener's socket for one sender:
// the listener's). An unknown ID gives an error whose text is
// LiveCode's "not an open socket".
func (r *Registry) HostAddress(id string) (string, error) {
	return r.address(id, true)
}

func (r *Registry) address(id string, local bool) (string, error) {
	s, err := r.lookup("address", id)
	switch {
	case errors.Is(err, ErrClosed):
		return "", errNotOpenClosed{} // LiveCode's text, and the registry's state
	case err != nil:
		return "", ErrNotAnOpenSocket
	}
	var addr net.Addr
	s.mu.Lock()
	switch {
	case s.listener != nil && local:
		addr = s.listener.ln.Addr()
	case s.dg != nil && s.dg.lsock != nil && !local:
		// A datagram listener's socket for one sender: that sender.
		addr = net.UDPAddrFromAddrPort(s.dg.peer)
	case s.dg != nil && s.dg.uc != nil && local:
		addr = s.dg.uc.LocalAddr() // its own, or its listener's
	case s.conn != nil && local:
		addr = s.conn.LocalAddr()
	case s.conn != nil:
		addr = s.conn.RemoteAddr()
	}
	s.mu.Unlock()
	var ap netip.AddrPort
	var zone string
	switch a := addr.(type) {
	case *net.TCPAddr:
		ap, zone = a.AddrPort(), a.Zone
	case *net.UDPAddr:
		ap, zone = a.AddrPort(), a.Zone
	}
	if !ap.Addr().IsValid() { // none, or an unconnected datagram listener's peer
		return "", nil
	}
	return ap.Addr().Unmap().WithZone(zone).String(), nil
}

// errNotOpenClosed is PeerAddress's and HostAddress's error on a closed
// registry: LiveCode's text, wrapping ErrNotAnOpenSocket and ErrClosed
// (so net.ErrClosed), as every other verb's error then does.
type errNotOpenClosed struct{}

func (errNotOpenClosed) Error() string   { return ErrNotAnOpenSocket.Error() }
func (errNotOpenClosed) Unwrap() []error { return []error{ErrNotAnOpenSocket, ErrClosed} }

// Stats are a socket's counters, a snapshot taken by [Registry.Stats].
type Stats struct {
	State        string    // "connecting", "open", "closing" or "closed"
	BytesIn      uint64    // bytes read from the connection
	BytesOut     uint64    // bytes handed to the kernel
	Buffered     int       // unread bytes held (a datagram socket: the bytes of the datagrams queued for Read)
	QueuedWrites int       // writes waiting to be sent
	PendingReads int       // reads waiting to complete (a datagram socket: blocking Reads waiting for a datagram)
	Dropped      uint64    // datagrams dropped because the queue was full (Config.MaxDatagramQueue), or, on a listener, because no socket could be made for a new sender during Shutdown
	OpenedAt     time.Time // when Open (or accept) made the socket
	ConnectedAt  time.Time // when the connection came up; zero before
}

// Stats returns the counters of an open socket, or an error wrapping
// ErrSocketNotOpen.
func (r *Registry) Stats(id string) (Stats, error) {
	s, err := r.lookup("stats", id)
	if err != nil {
		return Stats{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var dropped uint64
	queued, buffered, reads := len(s.writes), len(s.unread()), len(s.reads)
	if s.dg != nil {
		dropped = s.dg.dropped
		queued += len(s.dg.pendingW) // written while the name resolves
		for _, d := range s.dg.queue {
			buffered += len(d.data)
		}
		reads += len(s.dg.waiters)
	}
	return Stats{
		Dropped:      dropped,
		State:        s.state.String(),
		BytesIn:      s.bytesIn,
		BytesOut:     s.bytesOut,
		Buffered:     buffered,
		QueuedWrites: queued,
		PendingReads: reads,
		OpenedAt:     s.openedAt,
		ConnectedAt:  s.connectAt,
	}, nil
}
