package lcsock

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// Datagram errors.
var (
	// ErrDatagramTLS: TLS was asked of a datagram socket.
	ErrDatagramTLS = errors.New("TLS is not available on datagram sockets")
	// ErrDatagramTooLarge: a write larger than one UDP datagram can carry;
	// nothing is sent, nothing is truncated.
	ErrDatagramTooLarge = errors.New("datagram too large")
	// ErrNotMember: LeaveGroup of a multicast group the socket has not
	// joined (on that interface).
	ErrNotMember = errors.New("not a member of the multicast group")
)

// Largest UDP payloads: 65535 less the IP and UDP headers.
const (
	maxDatagram4 = 65507
	maxDatagram6 = 65527
)

// DefaultMaxDatagramQueue is the default of Config.MaxDatagramQueue.
const DefaultMaxDatagramQueue = 1024

// datagram is one received datagram.
type datagram struct {
	from netip.AddrPort
	data []byte
}

// dgram is the datagram part of a socket record: an opened datagram
// socket, a datagram listener, or a listener's pseudo-socket for one
// sender.
type dgram struct {
	uc       *net.UDPConn   // own connection, or the listener's for a pseudo-socket
	peer     netip.AddrPort // where writes go (pseudo-sockets; opened sockets are connected)
	lsock    *socket        // pseudo-socket: its listener
	listen   bool           // a listener
	h        Handler        // where datagram events go
	msg      string         // their message; "" queues datagrams for Read
	queue    []datagram     // received, waiting for a Read (kept after a failure until read)
	waiters  []chan datagram
	peers    map[netip.AddrPort]*socket // listener: pseudo-sockets by sender
	dropped  uint64
	pendingW [][]byte // writes made while the socket resolves
	wMsgs    []*writeReq
	groups   map[string]*net.Interface // multicast memberships, by group and interface name (see groupKey)

	undelivered atomic.Int32 // datagram events posted and not yet delivered
}

// OpenDatagram is LiveCode's "open datagram socket to id": a UDP socket
// whose every write is one datagram to the ID's host and port. It returns
// at once; a host name is resolved in the background (writes made
// meanwhile are sent once it is known, those of WriteWithMessage counting
// toward Config.MaxWriteQueue, and the owner gets socketTimeout every
// timeout interval until then). No connected event is sent. With
// WithMessage, each datagram received is sent to h as an EventDatagram
// named by the message, Params (sender ID, data, socket ID); without it,
// datagrams wait for Read or ReadWithMessage (which also sets where later
// datagrams go). An ICMP error reported for the connected peer (port
// unreachable) fails the socket as a read error fails a TCP socket: no
// datagram is received after it and writes fail with ErrClosed, but the
// datagrams already queued for Read stay readable, in order, by Read or
// ReadWithMessage; once they have been read (at once if none are
// queued) the socket ends with one socketError carrying the error. Until
// then it stays in OpenSockets, and CloseSocket drops them with no event.
// On Windows, where Go's net package turns such reports off for UDP
// sockets (SIO_UDP_CONNRESET), none arrives. Options: From
// (source address), WithMessage, Broadcast, MulticastInterface. TLS
// options give ErrDatagramTLS.
//
// A write over 65507 bytes to an IPv4 peer, or 65527 to an IPv6 one, is
// refused with ErrDatagramTooLarge. While a name resolves and the family
// is not known from an IP literal, a From address or the default
// interface (as set when OpenDatagram is called, which the open binds),
// IPv6's limit applies; a write over IPv4's made then fails
// once the name resolves to IPv4: a blocking Write whose own datagram is
// too large returns the error and the socket stays open, and a
// WriteWithMessage ends the socket with a socketError, as any queued
// datagram that cannot be sent does. The writes queued behind that one
// fail with the socket's failure, as on a TCP socket that fails: a
// blocking Write among them returns the socketError's error, which wraps
// ErrDatagramTooLarge and names the size of the datagram that ended the
// socket, not of its own, and the socket is gone (later verbs give
// ErrSocketNotOpen).
func (r *Registry) OpenDatagram(id string, h Handler, opts ...Option) error {
	addr, err := ParseID(id)
	if err != nil {
		return err
	}
	o, err := buildOptions("opendatagram", id, opts)
	if err != nil {
		return err
	}
	s := newSocket(r, id, addr, r.handler(h), o)
	s.iface = r.DefaultInterface() // what the open binds, and what gives the size limit while the name resolves
	s.dg = &dgram{h: s.owner, msg: o.message}
	ctx, cancel := context.WithCancel(r.ctx)
	s.cancelDial = cancel
	if err := r.add(s, true); err != nil {
		cancel()
		return err
	}
	s.startOpenClock() // socketTimeout repeats while the name resolves, as for Open
	go s.runDatagram(ctx)
	return nil
}

// runDatagram resolves and connects, then receives.
func (s *socket) runDatagram(ctx context.Context) {
	defer s.reg.wg.Done()
	uc, err := s.dialDatagram(ctx)
	s.cancelDial()
	s.mu.Lock()
	if s.state != stateConnecting {
		s.mu.Unlock()
		if uc != nil {
			uc.Close()
		}
		return
	}
	if err != nil {
		s.rerr, s.eof = err, true
		s.finish()
		s.mu.Unlock()
		return
	}
	s.conn, s.dg.uc = uc, uc
	s.state = stateOpen
	s.connectAt = time.Now()
	// Send what was written while resolving, in order.
	for len(s.dg.pendingW) > 0 {
		data, w := s.dg.pendingW[0], s.dg.wMsgs[0]
		werr := s.sendDatagram(data)
		if werr != nil && (w == nil || !w.blocking || !errors.Is(werr, ErrDatagramTooLarge)) {
			s.fail(werr) // finish fails this write and those behind it
			s.mu.Unlock()
			return
		}
		// Sent, or a blocking write too large for the family the name
		// resolved to, which its caller is told of.
		s.dg.pendingW, s.dg.wMsgs = s.dg.pendingW[1:], s.dg.wMsgs[1:]
		if w == nil || !w.blocking {
			s.queued -= len(data)
		}
		switch {
		case w == nil:
		case w.blocking:
			w.done <- werr
		default:
			s.post(w.h, Event{Kind: EventWritten, Name: w.name, Socket: s.id})
		}
	}
	s.dg.pendingW, s.dg.wMsgs = nil, nil
	s.mu.Unlock()
	s.receive(uc)
}

func (s *socket) dialDatagram(ctx context.Context) (*net.UDPConn, error) {
	r := s.reg
	d := net.Dialer{Resolver: r.cfg.Resolver}
	ip, port, bind, err := s.localAddr(ctx)
	if err != nil {
		return nil, &OpError{Op: "open", Socket: s.id, Err: err}
	}
	if bind {
		d.LocalAddr = &net.UDPAddr{IP: ip.IP, Zone: ip.Zone, Port: port}
	}
	// From without a port: address reuse is set after the bind, as
	// AcceptDatagram does for port 0 (reuseAfterPick).
	reuseNow := s.opts.from && (port != 0 || !reuseAfterPick)
	d.Control = func(network, address string, c rawConn) error {
		return setDatagramOptions(c, reuseNow, s.opts.broadcast)
	}
	c, err := d.DialContext(ctx, "udp", s.addr.Addr())
	if err != nil {
		return nil, &OpError{Op: "open", Socket: s.id, Err: dialError(err)}
	}
	uc := c.(*net.UDPConn)
	if s.opts.from && !reuseNow {
		if err := reuseAfterBind(uc, s.opts.broadcast); err != nil {
			uc.Close()
			return nil, &OpError{Op: "open", Socket: s.id, Err: err}
		}
	}
	if s.opts.mcastIf != "" {
		if err := setMulticastInterface(uc, s.opts.mcastIf); err != nil {
			uc.Close()
			return nil, &OpError{Op: "open", Socket: s.id, Err: err}
		}
	}
	return uc, nil
}

// reuseAfterBind sets address reuse on uc, bound to a port the system
// picked, so that others may still share that port (From, case 80): the
// system checks the flag of the socket holding a port when another
// binds it. Set before the bind, reuse lets the system pick a port that
// another reusable socket holds, of this program or another.
func reuseAfterBind(uc *net.UDPConn, broadcast bool) error {
	rc, err := uc.SyscallConn()
	if err != nil {
		return err
	}
	return setDatagramOptions(rc, true, broadcast)
}

// receive reads datagrams until the connection ends.
func (s *socket) receive(uc *net.UDPConn) {
	r := newDatagramReader(uc)
	for {
		data, from, err := r.next()
		if err != nil {
			s.mu.Lock()
			if s.state == stateOpen && !errors.Is(err, net.ErrClosed) {
				// E.g. ICMP port unreachable. The datagrams queued for
				// Read stay readable; the socketError comes when they
				// have been read (see fail and dgMaybeFinish).
				s.fail(&OpError{Op: "read", Socket: s.id, Err: err})
			}
			s.mu.Unlock()
			return
		}
		n := len(data)
		d := datagram{from: from, data: data}
		s.mu.Lock()
		if s.state != stateOpen {
			// Closed while this datagram was being read: drop it, and
			// make no pseudo-socket for a listener that is gone.
			s.mu.Unlock()
			return
		}
		s.bytesIn += uint64(n)
		if !s.dg.listen {
			s.deliver(s, d, false)
		} else if p := s.pseudoSocket(from); p != nil {
			p.bytesIn += uint64(n) // the sender's socket counts its own, as it counts what it sends
			p.deliver(s, d, false)
			p.mu.Unlock()
		} else {
			// No socket can be made for the sender: the registry is
			// shutting down (or closing) and the listener's turn to
			// close has not come. Counted, as every drop is.
			s.dg.dropped++
		}
		s.mu.Unlock()
	}
}

// deliver hands a datagram received by recv (s itself, or s's listener)
// to a waiting Read, to the message handler, or to the queue; queued
// says it comes from s's queue (ReadWithMessage), which admitted it
// already. Called with recv.mu and s.mu held; s may be recv.
func (s *socket) deliver(recv *socket, d datagram, queued bool) {
	dg := s.dg
	if len(dg.waiters) > 0 {
		w := dg.waiters[0]
		dg.waiters = dg.waiters[1:]
		w <- d
		return
	}
	h, msg, counter := dg.h, dg.msg, recv
	if dg.lsock != nil && msg == "" {
		// A pseudo-socket without its own message: the listener's handler.
		h, msg = dg.lsock.dg.h, dg.lsock.dg.msg
	}
	limit := int32(min(s.reg.cfg.MaxDatagramQueue, math.MaxInt32))
	switch {
	case msg != "" && h != nil:
		if !queued && counter.dg.undelivered.Load() >= limit {
			// The receiving socket's queue of events is full. A datagram
			// the socket's queue took already is not dropped now: with
			// the events still undelivered from an earlier message, at
			// most twice the limit waits.
			counter.dg.dropped++
			return
		}
		counter.dg.undelivered.Add(1)
		sender, listener := formatAddrPort(d.from), s.id
		if dg.lsock != nil {
			// s is the listener's socket for this sender: name it as
			// listed, "ip:port|N" when "ip:port" was taken, so that
			// writing to the event's socket replies to this sender.
			sender, listener = s.id, dg.lsock.id
		}
		s.post(h, Event{Kind: EventDatagram, Name: msg, Socket: sender, Data: d.data, Listener: listener, fromDatagram: counter})
	case len(dg.queue) < int(limit):
		dg.queue = append(dg.queue, d)
	default:
		dg.dropped++
	}
}

// pseudoSocket returns the listener's socket record for a sender, making
// it on its first datagram and again after it was closed. It returns it
// with its mu held, so that it cannot be closed before the datagram is
// delivered, or nil if the registry is closed. Called with the
// listener's mu held.
func (s *socket) pseudoSocket(from netip.AddrPort) *socket {
	if p := s.dg.peers[from]; p != nil {
		p.mu.Lock()
		if p.state == stateOpen {
			return p
		}
		p.mu.Unlock()
	}
	base := MakeID(from.Addr().Unmap().String(), int(from.Port()), "")
	p := newSocket(s.reg, base.String(), base, s.owner, options{})
	p.dg = &dgram{uc: s.dg.uc, peer: from, lsock: s}
	p.state = stateOpen
	p.connectAt = time.Now()
	p.mu.Lock() // before it is in the table, where CloseSocket finds it
	for n := 1; ; n++ {
		err := s.reg.add(p, false)
		if err == nil {
			break
		}
		if !errors.Is(err, ErrAlreadyOpen) {
			p.mu.Unlock()
			return nil
		}
		p.id = base.String() + "|" + strconv.Itoa(n)
		p.key = idKey(p.id)
	}
	s.dg.peers[from] = p
	return p
}

func formatAddrPort(ap netip.AddrPort) string {
	return MakeID(ap.Addr().Unmap().String(), int(ap.Port()), "").String()
}

// datagramLimit is the largest payload for the socket's peer. While the
// name resolves the family is known only from an IP literal, or from a
// From address (or, without From, the default interface), which limits
// the name's addresses to its family; otherwise the IPv6 limit, the
// larger, is used, and the write is checked again when it is sent.
func (s *socket) datagramLimit() int {
	peer := s.dg.peer.Addr()
	if !s.dg.peer.IsValid() {
		peer, _ = netip.ParseAddr(s.addr.Host)
		if ua, ok := s.conn.(*net.UDPConn); ok {
			if ra, ok := ua.RemoteAddr().(*net.UDPAddr); ok {
				peer = ra.AddrPort().Addr()
			}
		}
	}
	if !peer.IsValid() { // resolving a name
		host := s.opts.fromHost
		if !s.opts.from {
			host = s.iface // what the open binds (localAddr), not the setting now
		}
		local, err := netip.ParseAddr(host)
		if err != nil || local.IsUnspecified() {
			return maxDatagram6
		}
		peer = local
	}
	if peer.Is6() && !peer.Is4In6() {
		return maxDatagram6
	}
	return maxDatagram4
}

// checkDatagram refuses a write larger than one datagram. Called with s.mu held.
func (s *socket) checkDatagram(data []byte) error {
	if limit := s.datagramLimit(); len(data) > limit {
		return &OpError{Op: "write", Socket: s.id, Err: fmt.Errorf("%w: %w: %d bytes, the limit is %d", ErrSendDatagram, ErrDatagramTooLarge, len(data), limit)}
	}
	return nil
}

// sendDatagram sends one datagram. Called with s.mu held.
func (s *socket) sendDatagram(data []byte) error {
	dg := s.dg
	if err := s.checkDatagram(data); err != nil {
		return err
	}
	var err error
	if dg.peer.IsValid() {
		_, err = dg.uc.WriteToUDPAddrPort(data, dg.peer)
	} else {
		_, err = dg.uc.Write(data)
	}
	if err != nil {
		return &OpError{Op: "write", Socket: s.id, Err: &causeError{ErrSendDatagram, err}}
	}
	s.bytesOut += uint64(len(data))
	return nil
}

// dgWrite is Write and WriteWithMessage on a datagram socket: one
// datagram, sent at once (queued while resolving); w.name's event is
// posted at once after the send.
func (s *socket) dgWrite(data []byte, h Handler, name string, copyData bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dg.listen {
		return &OpError{Op: "write", Socket: s.id, Err: ErrNotWritable}
	}
	switch s.state {
	case stateConnecting:
		if err := s.checkDatagram(data); err != nil {
			return err
		}
		if err := s.queueFull(len(data)); err != nil {
			return err // as a TCP socket's queue: this write alone fails
		}
		s.queued += len(data)
		if copyData {
			data = append([]byte(nil), data...)
		}
		var w *writeReq
		if name != "" {
			w = &writeReq{h: h, name: name}
		}
		s.dg.pendingW = append(s.dg.pendingW, data)
		s.dg.wMsgs = append(s.dg.wMsgs, w)
		return nil
	case stateOpen:
		if s.rerr != nil {
			// Failed, its queued datagrams still to be read: as a TCP
			// socket that failed with bytes buffered.
			return &OpError{Op: "write", Socket: s.id, Err: ErrClosed}
		}
	default:
		return &OpError{Op: "write", Socket: s.id, Err: ErrSocketNotOpen}
	}
	if err := s.sendDatagram(data); err != nil {
		return err
	}
	if name != "" {
		s.post(h, Event{Kind: EventWritten, Name: name, Socket: s.id})
	}
	return nil
}

// dgWriteBlocking is the blocking Write of a datagram socket: sent at
// once when the socket is open; while it resolves, queued and waited for,
// so that a failed open fails the write too.
func (s *socket) dgWriteBlocking(ctx context.Context, data []byte, iv time.Duration) error {
	s.mu.Lock()
	if s.dg.listen || s.state != stateConnecting {
		s.mu.Unlock()
		return s.dgWrite(data, nil, "", false)
	}
	if err := s.checkDatagram(data); err != nil {
		s.mu.Unlock()
		return err
	}
	w := &writeReq{blocking: true, done: make(chan error, 1)}
	s.dg.pendingW = append(s.dg.pendingW, data) // sent before this call returns: no copy
	s.dg.wMsgs = append(s.dg.wMsgs, w)
	s.mu.Unlock()
	timer := time.NewTimer(iv)
	defer timer.Stop()
	var cause error
	select {
	case err := <-w.done:
		return err
	case <-ctx.Done():
		cause = ctx.Err()
	case <-timer.C:
		cause = ErrTimeout
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, q := range s.dg.wMsgs {
		if q == w {
			s.dg.pendingW = slices.Delete(s.dg.pendingW, i, i+1)
			s.dg.wMsgs = slices.Delete(s.dg.wMsgs, i, i+1)
			return &OpError{Op: "write", Socket: s.id, Err: cause}
		}
	}
	return <-w.done // sent or failed as we gave up
}

// failPendingDatagrams ends the blocking writes still waiting for the
// socket to resolve, and drops the others. Called with s.mu held by finish.
func (s *socket) failPendingDatagrams(err error) {
	for _, w := range s.dg.wMsgs {
		if w != nil && w.blocking {
			w.done <- err
		}
	}
	s.dg.pendingW, s.dg.wMsgs = nil, nil
	s.queued = 0
}

// dgRead is the blocking Read of a datagram socket: the next datagram.
func (s *socket) dgRead(ctx context.Context, iv time.Duration) ([]byte, error) {
	s.mu.Lock()
	if s.dg.listen {
		s.mu.Unlock()
		return nil, &OpError{Op: "read", Socket: s.id, Err: ErrNotReadable}
	}
	if len(s.dg.queue) > 0 {
		d := s.dg.queue[0]
		s.dg.queue = s.dg.queue[1:]
		s.dgMaybeFinish()
		s.mu.Unlock()
		return d.data, nil
	}
	ch := make(chan datagram, 1)
	s.dg.waiters = append(s.dg.waiters, ch)
	s.mu.Unlock()
	timer := time.NewTimer(iv)
	defer timer.Stop()
	var cause error
	select {
	case d, ok := <-ch:
		if !ok {
			return nil, &OpError{Op: "read", Socket: s.id, Err: ErrClosed}
		}
		return d.data, nil
	case <-ctx.Done():
		cause = ctx.Err()
	case <-timer.C:
		cause = ErrTimeout
	case <-s.finished:
		cause = ErrClosed
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, w := range s.dg.waiters {
		if w == ch {
			s.dg.waiters = append(s.dg.waiters[:i], s.dg.waiters[i+1:]...)
			if cause == ErrClosed && s.rerr != nil {
				return nil, s.rerr // it failed: say why, as a socketError does
			}
			return nil, &OpError{Op: "read", Socket: s.id, Err: cause}
		}
	}
	if d, ok := <-ch; ok { // delivered meanwhile
		return d.data, nil
	}
	return nil, &OpError{Op: "read", Socket: s.id, Err: ErrClosed}
}

// dgReadWithMessage is ReadWithMessage on a datagram socket: LiveCode's
// retargeting of where datagrams go. Datagrams already queued are sent
// at once (as events, after this call returns).
func (s *socket) dgReadWithMessage(h Handler, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dg.listen {
		return &OpError{Op: "read", Socket: s.id, Err: ErrNotReadable}
	}
	s.dg.h, s.dg.msg = h, name
	queued := s.dg.queue
	s.dg.queue = nil
	for _, d := range queued {
		s.deliver(s, d, true)
	}
	s.dgMaybeFinish() // after a failure: the socketError follows their events
	return nil
}

// dgQueued reports whether datagrams wait in the queue of a datagram
// socket, which a failure leaves for the reads to come (see fail).
// Called with s.mu held.
func (s *socket) dgQueued() bool {
	return s.dg != nil && len(s.dg.queue) > 0
}

// dgMaybeFinish ends a datagram socket that failed once its queue is
// drained: its socketError comes then, as a TCP socket's comes when the
// bytes buffered before its failure have been read (maybeFinish).
// Called with s.mu held.
func (s *socket) dgMaybeFinish() {
	if s.eof && s.state == stateOpen && !s.dgQueued() {
		s.finish()
	}
}

// closeDatagram closes a datagram socket, listener or pseudo-socket.
// Closing a pseudo-socket leaves the listener open; closing a listener
// closes its pseudo-sockets.
func (s *socket) closeDatagram() bool {
	closed, peers := s.endDatagram()
	for _, p := range peers { // a listener takes its pseudo-sockets along
		s.reg.remove(p)
		p.endDatagram()
	}
	if l := s.dg.lsock; closed && l != nil {
		// A pseudo-socket leaves its listener's table, or senders that
		// never come back would be kept as long as the listener lives.
		l.mu.Lock()
		if l.dg.peers[s.dg.peer] == s {
			delete(l.dg.peers, s.dg.peer)
		}
		l.mu.Unlock()
	}
	return closed
}

// endDatagram is closeDatagram of s alone. It reports false if s had
// already finished; a listener's pseudo-sockets are handed back for the
// caller to close, with no lock held.
func (s *socket) endDatagram() (closed bool, peers map[netip.AddrPort]*socket) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state == stateDone {
		return false, nil
	}
	if s.dg.lsock != nil {
		s.conn = nil // the connection is the listener's: do not close it
	}
	for _, w := range s.dg.waiters {
		close(w)
	}
	s.dg.waiters = nil
	s.dg.queue = nil
	s.closedLocally = true // a socketTimeout still queued (resolving) is dropped
	s.state = stateClosing
	s.finish()
	peers, s.dg.peers = s.dg.peers, nil
	return true, peers
}

// AcceptDatagram is LiveCode's "accept datagram connections on port port
// with message message": it listens for UDP datagrams on the default
// interface (or all) and returns the bound port; the listener is listed
// under its port number. Each datagram is sent to h as an EventDatagram
// named message with Params (sender "ip:port", data, listener port). The
// first datagram of a sender adds a socket named after it to
// OpenSockets ("ip:port|N", N a number lcsock picks, if that ID is
// already taken; the events then name it so); writing to that ID replies
// to the sender, and closing it leaves the listener open. Address reuse
// is set, as the engine does, so OpenDatagram with From(":port") can send
// from the listener's port: answers to a broadcast, which come back to
// that port from any address, then reach the listener. Options:
// Broadcast.
func (r *Registry) AcceptDatagram(port int, h Handler, message string, opts ...Option) (int, error) {
	if port < 0 || port > 65535 {
		return 0, &OpError{Op: "accept", Socket: strconv.Itoa(port), Err: ErrInvalidPort}
	}
	o, err := buildOptions("acceptdatagram", strconv.Itoa(port), opts)
	if err != nil {
		return 0, err
	}
	if r.isClosed() {
		return 0, &OpError{Op: "accept", Socket: strconv.Itoa(port), Err: ErrClosed}
	}
	// For port 0, address reuse is set after the bind (reuseAfterBind),
	// and off before it, also where Go turned it on (a multicast default
	// interface: Go listens on the wildcard address with reuse).
	reuseNow := reuseDatagramListener && port != 0
	lc := net.ListenConfig{Control: func(network, address string, c rawConn) error {
		if port == 0 {
			if err := noReuse(c); err != nil {
				return err
			}
		}
		return setDatagramOptions(c, reuseNow, o.broadcast)
	}}
	var held pickedPorts
	defer held.close()
	for {
		pc, err := lc.ListenPacket(context.Background(), "udp", net.JoinHostPort(r.DefaultInterface(), strconv.Itoa(port)))
		if err != nil {
			if s, lerr := r.lookup("accept", strconv.Itoa(port)); port != 0 && lerr == nil && s.dg != nil && s.dg.listen {
				// The system refuses the port because this registry
				// listens on it already: where a listener sets no
				// address reuse (Windows), as Accept does.
				return 0, &OpError{Op: "accept", Socket: strconv.Itoa(port), Err: ErrAlreadyOpen}
			}
			return 0, &OpError{Op: "accept", Socket: strconv.Itoa(port), Err: &causeError{ErrListen, err}}
		}
		uc := pc.(*net.UDPConn)
		if reuseDatagramListener && !reuseNow {
			if err := reuseAfterBind(uc, o.broadcast); err != nil {
				uc.Close()
				return 0, &OpError{Op: "accept", Socket: strconv.Itoa(port), Err: &causeError{ErrListen, err}}
			}
		}
		bound := uc.LocalAddr().(*net.UDPAddr).Port
		id := strconv.Itoa(bound)
		s := newSocket(r, id, ID{Port: bound}, r.handler(h), o)
		s.dg = &dgram{uc: uc, listen: true, h: s.owner, msg: message, peers: map[netip.AddrPort]*socket{}}
		s.conn = uc
		s.state = stateOpen
		if err := r.add(s, true); err != nil {
			if held.hold(port, err, uc) {
				continue
			}
			uc.Close()
			return 0, err
		}
		go func() {
			defer r.wg.Done()
			s.receive(uc)
		}()
		return bound, nil
	}
}

// Broadcast is LiveCode's allowDatagramBroadcasts for one socket: it sets
// SO_BROADCAST so that writes to a broadcast address are allowed. Off
// unless asked. For OpenDatagram and AcceptDatagram.
func Broadcast(on bool) Option {
	return Option{name: "Broadcast", verbs: verbDatagrams, apply: func(o *options) error {
		o.broadcast = on
		return nil
	}}
}

// MulticastError reports a JoinGroup or LeaveGroup that failed on some
// interfaces: Failed maps each interface name ("" for the system's
// choice) to its error; Done lists those where it worked.
type MulticastError struct {
	Group  string
	Done   []string
	Failed map[string]error
}

func (e *MulticastError) Error() string {
	if e == nil {
		return "<nil>"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "multicast group %s:", e.Group)
	names := make([]string, 0, len(e.Failed))
	for n := range e.Failed {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		label := n
		if label == "" {
			label = "(default)"
		}
		fmt.Fprintf(&b, " %s: %v;", label, e.Failed[n])
	}
	if len(e.Done) > 0 {
		fmt.Fprintf(&b, " joined on %s", strings.Join(e.Done, ", "))
	}
	return strings.TrimSuffix(b.String(), ";")
}

// Unwrap returns the per-interface errors.
func (e *MulticastError) Unwrap() []error {
	if e == nil {
		return nil
	}
	errs := make([]error, 0, len(e.Failed))
	for _, err := range e.Failed {
		errs = append(errs, err)
	}
	return errs
}

// JoinGroup makes a datagram socket (a listener from AcceptDatagram, or
// a socket from OpenDatagram) receive the multicast group's datagrams, on
// the interface named iface, or on every interface that is up and
// multicast-capable when iface is "" (the system's choice if there is
// none). Where some interfaces fail it returns a *MulticastError naming
// each failure; the membership holds on the others. A socket from
// OpenDatagram is connected to its peer, so the system delivers it the
// group's datagrams from that peer only: to hear a group, join it on a
// listener. Not in LiveCode.
func (r *Registry) JoinGroup(id, group, iface string) error {
	return r.multicast("joingroup", id, group, iface, true)
}

// LeaveGroup undoes JoinGroup: on the interface named iface, or, when
// iface is "", on every interface where the socket joined the group. A
// group the socket has not joined (on iface) gives an error wrapping
// ErrNotMember.
func (r *Registry) LeaveGroup(id, group, iface string) error {
	return r.multicast("leavegroup", id, group, iface, false)
}

// groupKey keys dgram.groups: a group joined on one interface ("" for
// the system's choice).
func groupKey(group net.IP, iface string) string { return group.String() + "%" + iface }

func (r *Registry) multicast(op, id, group, iface string, join bool) error {
	s, err := r.lookup(op, id)
	if err != nil {
		return err
	}
	if s.dg == nil {
		return &OpError{Op: op, Socket: id, Err: fmt.Errorf("%w: %q is not a datagram socket", ErrBadID, id)}
	}
	if l := s.dg.lsock; l != nil {
		s = l // a sender's socket shares its listener's connection, and memberships
	}
	gip := net.ParseIP(group)
	if gip == nil || !gip.IsMulticast() {
		return &OpError{Op: op, Socket: id, Err: fmt.Errorf("%w: group %q is not a multicast address", ErrBadID, group)}
	}
	s.mu.Lock()
	uc := s.dg.uc
	s.mu.Unlock()
	if uc == nil {
		return &OpError{Op: op, Socket: id, Err: errors.New("the socket is still resolving")}
	}
	var ifs []*net.Interface
	if join || iface != "" {
		if ifs, err = multicastInterfaces(iface); err != nil {
			return &OpError{Op: op, Socket: id, Err: err}
		}
	}
	s.mu.Lock() // the memberships change with the socket's
	defer s.mu.Unlock()
	if !join && iface == "" {
		// Leave wherever it was joined.
		prefix := groupKey(gip, "")
		for k, ifi := range s.dg.groups {
			if strings.HasPrefix(k, prefix) {
				ifs = append(ifs, ifi)
			}
		}
		slices.SortFunc(ifs, func(a, b *net.Interface) int { return strings.Compare(ifName(a), ifName(b)) })
	}
	me := &MulticastError{Group: group, Failed: map[string]error{}}
	notMember := 0
	for _, ifi := range ifs {
		g := &net.UDPAddr{IP: gip}
		name := ifName(ifi)
		key := groupKey(gip, name)
		_, member := s.dg.groups[key]
		var err error
		switch {
		case !join && !member:
			err = ErrNotMember // the system's error would be "cannot assign requested address"
			notMember++
		case gip.To4() != nil && join:
			err = ipv4.NewPacketConn(uc).JoinGroup(ifi, g)
		case gip.To4() != nil:
			err = ipv4.NewPacketConn(uc).LeaveGroup(ifi, g)
		case join:
			err = ipv6.NewPacketConn(uc).JoinGroup(ifi, g)
		default:
			err = ipv6.NewPacketConn(uc).LeaveGroup(ifi, g)
		}
		if err != nil {
			me.Failed[name] = err
			continue
		}
		me.Done = append(me.Done, name)
		if join {
			if s.dg.groups == nil {
				s.dg.groups = map[string]*net.Interface{}
			}
			s.dg.groups[key] = ifi
		} else {
			delete(s.dg.groups, key)
		}
	}
	if !join && notMember == len(ifs) {
		where := ""
		if iface != "" {
			where = " on " + iface
		}
		return &OpError{Op: op, Socket: id, Err: fmt.Errorf("%w %s%s", ErrNotMember, group, where)}
	}
	if len(me.Failed) > 0 {
		return &OpError{Op: op, Socket: id, Err: me}
	}
	return nil
}

func ifName(ifi *net.Interface) string {
	if ifi == nil {
		return ""
	}
	return ifi.Name
}

// multicastInterfaces returns the named interface, or every interface
// that is up and multicast-capable, or [nil] (the system's choice).
func multicastInterfaces(name string) ([]*net.Interface, error) {
	if name != "" {
		ifi, err := net.InterfaceByName(name)
		if err != nil {
			return nil, fmt.Errorf("interface %q: %w", name, err)
		}
		return []*net.Interface{ifi}, nil
	}
	all, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	var ifs []*net.Interface
	for i := range all {
		if all[i].Flags&net.FlagUp != 0 && all[i].Flags&net.FlagMulticast != 0 {
			ifs = append(ifs, &all[i])
		}
	}
	if len(ifs) == 0 {
		ifs = []*net.Interface{nil}
	}
	return ifs, nil
}

// MulticastInterface sends the socket's multicast datagrams out of the
// named interface (IP_MULTICAST_IF), with loopback of its own datagrams
// on, so that members on this host receive them. For OpenDatagram.
func MulticastInterface(name string) Option {
	return Option{name: "MulticastInterface", verbs: verbOpenDatagram, apply: func(o *options) error {
		if _, err := net.InterfaceByName(name); err != nil {
			return err
		}
		o.mcastIf = name
		return nil
	}}
}

// setMulticastInterface applies MulticastInterface to a new connection.
func setMulticastInterface(uc *net.UDPConn, name string) error {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return err
	}
	if ra, ok := uc.RemoteAddr().(*net.UDPAddr); ok && ra.IP.To4() == nil {
		p := ipv6.NewPacketConn(uc)
		return errors.Join(p.SetMulticastInterface(ifi), p.SetMulticastLoopback(true))
	}
	p := ipv4.NewPacketConn(uc)
	return errors.Join(p.SetMulticastInterface(ifi), p.SetMulticastLoopback(true))
}
