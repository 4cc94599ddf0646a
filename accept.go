package lcsock

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/netip"
	"strconv"
	"time"
)

// ErrListen: the listening port could not be bound — in use, or not
// allowed (LiveCode: "Error binding socket", the engine's capitalisation).
var ErrListen = errors.New("Error binding socket") //nolint:staticcheck // the engine's text

// listener is the part of a socket record that listens: LiveCode names it
// by its port number.
type listener struct {
	ln      net.Listener
	port    int
	message string
	slots   chan struct{} // nil, or one token per accepted socket allowed at once
	tlsCfg  *tls.Config   // AcceptSecure
}

// Accept is LiveCode's "accept connections on port port with message
// message". It listens on the registry's default interface when one is
// set, else on every interface, and returns the bound port (port 0 picks
// a free one, LiveCode's it). The listener is listed by OpenSockets under
// its port number as decimal text; CloseSocket with that text stops
// accepting and leaves accepted sockets open.
//
// Each accepted connection becomes a socket named "peerIP:peerPort"
// ("[v6]:port" for IPv6) — with "|N" appended, N a number lcsock picks,
// only if that ID is already taken — and message is sent to h as an
// EventAccepted whose Params are (new ID, listener port). The accepted
// socket takes every verb; its socketClosed, socketError and socketTimeout
// events go to h (nil means Config.Handler).
//
// Accept fails at once, with nothing left open, for a port outside
// 0–65535 (ErrInvalidPort), a port already listened on by this registry
// (ErrAlreadyOpen), or a port the system will not bind (ErrListen).
// Options: MaxConnections, InputEOL.
func (r *Registry) Accept(port int, h Handler, message string, opts ...Option) (int, error) {
	o, err := buildOptions("accept", strconv.Itoa(port), opts)
	if err != nil {
		return 0, err
	}
	return r.accept(port, h, message, o, nil)
}

// accept listens for Accept and AcceptSecure (tlsCfg non-nil).
func (r *Registry) accept(port int, h Handler, message string, o options, tlsCfg *tls.Config) (int, error) {
	if port < 0 || port > 65535 {
		return 0, &OpError{Op: "accept", Socket: strconv.Itoa(port), Err: ErrInvalidPort}
	}
	if r.isClosed() {
		return 0, &OpError{Op: "accept", Socket: strconv.Itoa(port), Err: ErrClosed}
	}
	host := r.DefaultInterface()
	var held pickedPorts
	defer held.close()
	for {
		ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			if s, lerr := r.lookup("accept", strconv.Itoa(port)); port != 0 && lerr == nil && s.listener != nil {
				// The system refuses the port because this registry
				// listens on it already (a datagram listener's UDP port is
				// not a reason for TCP's refusal).
				return 0, &OpError{Op: "accept", Socket: strconv.Itoa(port), Err: ErrAlreadyOpen}
			}
			return 0, &OpError{Op: "accept", Socket: strconv.Itoa(port), Err: &causeError{ErrListen, err}}
		}
		bound := ln.Addr().(*net.TCPAddr).Port
		id := strconv.Itoa(bound)
		l := &listener{ln: ln, port: bound, message: message, tlsCfg: tlsCfg}
		if o.maxConns > 0 {
			l.slots = make(chan struct{}, o.maxConns)
		}
		s := newSocket(r, id, ID{Port: bound}, r.handler(h), o)
		s.listener = l
		s.state = stateOpen
		if err := r.add(s, true); err != nil {
			if held.hold(port, err, ln) {
				continue
			}
			ln.Close()
			return 0, err
		}
		if r.debugging() {
			r.debug("lcsock: listening", "port", bound, "interface", host, "tls", tlsCfg != nil)
		}
		go s.acceptLoop()
		return bound, nil
	}
}

// pickTries bounds how many ports Accept(0) and AcceptDatagram(0) take
// from the system to find one whose number is no other listener's ID.
const pickTries = 16

// pickedPorts are the ports Accept(0) or AcceptDatagram(0) was given and
// could not use: TCP and UDP number their ports apart, so the system may
// pick a free port whose number a listener of the other protocol has as
// its ID. Each is held until the listen is done, so that the system
// picks another.
type pickedPorts []io.Closer

// hold keeps c, bound to a port the system picked, if adding its
// listener failed with ErrAlreadyOpen and another try is allowed; the
// caller then asks for another port.
func (p *pickedPorts) hold(port int, err error, c io.Closer) bool {
	if port != 0 || !errors.Is(err, ErrAlreadyOpen) || len(*p) >= pickTries {
		return false
	}
	*p = append(*p, c)
	return true
}

func (p pickedPorts) close() {
	for _, c := range p {
		c.Close()
	}
}

// isClosed reports whether the registry takes no new sockets: it is
// closed or shutting down.
func (r *Registry) isClosed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed || r.shutdown
}

// acceptLoop accepts connections until the listener is closed.
func (s *socket) acceptLoop() {
	defer s.reg.wg.Done()
	l := s.listener
	var backoff time.Duration
	for {
		if l.slots != nil {
			select {
			case l.slots <- struct{}{}: // pause here while at the limit
			case <-s.finished:
				return
			}
		}
		conn, err := l.ln.Accept()
		if err != nil {
			if l.slots != nil {
				<-l.slots
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: wait and retry, as
			// net/http does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-s.finished:
				t.Stop()
				return
			}
			continue
		}
		backoff = 0
		if l.tlsCfg == nil {
			s.reg.adopt(conn, s)
			continue
		}
		s.reg.wg.Add(1)
		s.reg.spawn(func() { s.secureAdopt(conn) })
	}
}

// secureAdopt runs the server handshake of an AcceptSecure connection and
// announces it only if the handshake succeeds.
func (s *socket) secureAdopt(conn net.Conn) {
	tc := tls.Server(conn, s.listener.tlsCfg)
	if err := s.reg.handshake(s.reg.ctx, s, tc, s.opts.tls.handshake); err != nil {
		if s.reg.debugging() {
			s.reg.debug("lcsock: secure accept failed", "port", s.listener.port, "remote", conn.RemoteAddr(), "err", err)
		}
		conn.Close()
		if s.listener.slots != nil {
			<-s.listener.slots
		}
		return
	}
	s.reg.adopt(tc, s)
}

// adopt registers an accepted connection as a socket named after its peer
// and announces it to the listener's handler.
func (r *Registry) adopt(conn net.Conn, lsock *socket) {
	l := lsock.listener
	// The listener's lock is held until the connection is announced, so
	// that none is announced once CloseSocket of the listener returned.
	lsock.mu.Lock()
	if lsock.state != stateOpen { // the listener closed as this connection arrived
		lsock.mu.Unlock()
		conn.Close()
		if l.slots != nil {
			<-l.slots
		}
		return
	}
	ap := netip.AddrPortFrom(netip.IPv4Unspecified(), 0)
	if ta, ok := conn.RemoteAddr().(*net.TCPAddr); ok {
		ap = ta.AddrPort()
	}
	base := MakeID(ap.Addr().Unmap().String(), int(ap.Port()), "")
	s := newSocket(r, base.String(), base, lsock.owner, options{eolIn: lsock.opts.eolIn, eolTo: lsock.opts.eolTo})
	s.secured = l.tlsCfg != nil
	if l.slots != nil {
		s.release = func() { <-l.slots }
	}
	// Hold s.mu from the moment s is in the table until it is set up, so
	// that a concurrent Close aborts a complete socket.
	s.mu.Lock()
	defer s.mu.Unlock()
	for n := 1; ; n++ {
		err := r.add(s, true)
		if err == nil {
			break
		}
		if !errors.Is(err, ErrAlreadyOpen) {
			lsock.mu.Unlock()
			conn.Close() // the registry is closed
			if s.release != nil {
				s.release()
			}
			return
		}
		s.id = base.String() + "|" + strconv.Itoa(n)
		s.key = idKey(s.id)
	}
	// The accept event belongs to the new socket: a panicking handler
	// takes down that socket, not the listener.
	s.post(lsock.owner, Event{Kind: EventAccepted, Name: l.message, Socket: s.id, Listener: lsock.id})
	lsock.mu.Unlock()
	if r.debugging() {
		r.debug("lcsock: accepted", "socket", s.id, "listener", lsock.id)
	}
	s.connected(conn)
	s.tryRead()
	r.spawn(s.readLoop)
}

// closeListener stops accepting; accepted sockets stay open. It reports
// false if the listener was already closed.
func (s *socket) closeListener() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state == stateDone {
		return false
	}
	s.state = stateDone
	s.listener.ln.Close()
	close(s.finished)
	s.reg.retire(s)
	return true
}

// MaxConnections limits how many sockets accepted by one listener may be
// open at once. At the limit the listener pauses — new connections wait
// in the system's backlog — until an accepted socket closes. Zero means
// no limit (the default). For Accept.
func MaxConnections(n int) Option {
	return Option{name: "MaxConnections", verbs: verbAccepts, apply: func(o *options) error {
		if n < 0 {
			return errors.New("negative MaxConnections")
		}
		o.maxConns = n
		return nil
	}}
}
