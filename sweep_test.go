package lcsock_test

// Review H: every verb with hostile arguments, on every kind of ID, and
// racing a close; each test names the bug it found or the guard it is.

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lcsock/lcsock"
	"github.com/lcsock/lcsock/lcsocktest"
	"github.com/stretchr/testify/require"
)

// sweepCall runs f, turning a panic or a hang into a test failure.
func sweepCall(t *testing.T, name string, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		defer func() {
			if v := recover(); v != nil {
				done <- fmt.Errorf("PANIC: %v\n%s", v, debug.Stack())
			}
		}()
		done <- f()
	}()
	select {
	case err := <-done:
		if err != nil && len(err.Error()) > 6 && err.Error()[:6] == "PANIC:" {
			t.Errorf("%s: %v", name, err)
		}
		return err
	case <-time.After(3 * time.Second):
		t.Errorf("%s: hangs", name)
		return nil
	}
}

type sweepVerb struct {
	name string
	f    func(reg *lcsock.Registry, id string) error
}

func sweepVerbs() []sweepVerb {
	short := func() context.Context {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		_ = cancel
		return ctx
	}
	return []sweepVerb{
		{"Open", func(r *lcsock.Registry, id string) error { return r.Open(id, nil) }},
		{"OpenZeroOption", func(r *lcsock.Registry, id string) error { return r.Open(id, nil, lcsock.Option{}) }},
		{"OpenSecure", func(r *lcsock.Registry, id string) error { return r.OpenSecure(id, nil) }},
		{"OpenDatagram", func(r *lcsock.Registry, id string) error { return r.OpenDatagram(id, nil) }},
		{"Conn", func(r *lcsock.Registry, id string) error { _, err := r.Conn(id); return err }},
		{"ReadNeg", func(r *lcsock.Registry, id string) error {
			_, err := r.Read(short(), id, lcsock.For(-1, lcsock.Chars))
			return err
		}},
		{"ReadHuge", func(r *lcsock.Registry, id string) error {
			_, err := r.Read(short(), id, lcsock.For(math.MaxInt/8, lcsock.Chars))
			return err
		}},
		{"ReadZeroSpec", func(r *lcsock.Registry, id string) error {
			_, err := r.Read(short(), id, lcsock.ReadSpec{})
			return err
		}},
		{"ReadBadUnit", func(r *lcsock.Registry, id string) error {
			_, err := r.Read(short(), id, lcsock.For(1, lcsock.Unit(200)))
			return err
		}},
		{"ReadNilCtx", func(r *lcsock.Registry, id string) error {
			_, err := r.Read(nil, id, lcsock.For(1, lcsock.Chars))
			return err
		}}, //nolint:staticcheck
		{"ReadDone", func(r *lcsock.Registry, id string) error {
			ctx, c := context.WithCancel(context.Background())
			c()
			_, err := r.Read(ctx, id, lcsock.For(1, lcsock.Chars))
			return err
		}},
		{"RWMZero", func(r *lcsock.Registry, id string) error { return r.ReadWithMessage(id, lcsock.ReadSpec{}, nil, "") }},
		{"RWMNeg", func(r *lcsock.Registry, id string) error {
			return r.ReadWithMessage(id, lcsock.For(-5, lcsock.Lines), nil, "x")
		}},
		{"RWMHuge", func(r *lcsock.Registry, id string) error {
			return r.ReadWithMessage(id, lcsock.For(math.MaxInt/8, lcsock.Int4), nil, "x")
		}},
		{"RWMBadUnit", func(r *lcsock.Registry, id string) error {
			return r.ReadWithMessage(id, lcsock.For(1, lcsock.Unit(200)), nil, "x")
		}},
		{"WriteNil", func(r *lcsock.Registry, id string) error { _, err := r.Write(short(), id, nil); return err }},
		{"WriteNilCtx", func(r *lcsock.Registry, id string) error { _, err := r.Write(nil, id, []byte("x")); return err }}, //nolint:staticcheck
		{"WWMNil", func(r *lcsock.Registry, id string) error { return r.WriteWithMessage(id, nil, nil, "") }},
		{"WWMHuge", func(r *lcsock.Registry, id string) error {
			return r.WriteWithMessage(id, make([]byte, 17<<20), nil, "w")
		}},
		{"Secure", func(r *lcsock.Registry, id string) error { return r.Secure(id) }},
		{"SecureBadServer", func(r *lcsock.Registry, id string) error { return r.Secure(id, lcsock.AsServer("", "")) }},
		{"SecureNilTLS", func(r *lcsock.Registry, id string) error { return r.Secure(id, lcsock.TLSConfig(nil)) }},
		{"TLSState", func(r *lcsock.Registry, id string) error { _, err := r.TLSState(id); return err }},
		{"Stats", func(r *lcsock.Registry, id string) error { _, err := r.Stats(id); return err }},
		{"PeerAddress", func(r *lcsock.Registry, id string) error { _, err := r.PeerAddress(id); return err }},
		{"HostAddress", func(r *lcsock.Registry, id string) error { _, err := r.HostAddress(id); return err }},
		{"JoinGroupEmpty", func(r *lcsock.Registry, id string) error { return r.JoinGroup(id, "", "") }},
		{"JoinGroupBad", func(r *lcsock.Registry, id string) error { return r.JoinGroup(id, "not-an-ip", "nosuchif0") }},
		{"JoinGroupUnicast", func(r *lcsock.Registry, id string) error { return r.JoinGroup(id, "127.0.0.1", "") }},
		{"LeaveGroup", func(r *lcsock.Registry, id string) error { return r.LeaveGroup(id, "239.1.2.3", "") }},
		{"CloseWrite", func(r *lcsock.Registry, id string) error { return r.CloseWrite(id) }},
		{"WriteAfterCloseWrite", func(r *lcsock.Registry, id string) error { _, err := r.Write(short(), id, []byte("x")); return err }},
		{"CloseSocket", func(r *lcsock.Registry, id string) error { return r.CloseSocket(id) }},
		{"CloseSocketAgain", func(r *lcsock.Registry, id string) error { return r.CloseSocket(id) }},
		{"ReadAfterClose", func(r *lcsock.Registry, id string) error {
			_, err := r.Read(short(), id, lcsock.For(1, lcsock.Chars))
			return err
		}},
	}
}

// sweepExpect gives the sentinel each verb's error must wrap for an ID of
// each kind (nil: no error; errAny: some error, the verb's own text).
var errAny = errors.New("any error")

func sweepExpect(kind, verb string) error {
	switch kind {
	case "closedreg":
		if verb == "ReadNilCtx" || verb == "WriteNilCtx" {
			return errAny
		}
		if verb == "PeerAddress" || verb == "HostAddress" {
			return lcsock.ErrClosed // and ErrNotAnOpenSocket
		}
		return lcsock.ErrClosed
	case "bad", "empty":
		switch verb {
		case "Open", "OpenZeroOption", "OpenSecure", "OpenDatagram":
			if kind == "bad" {
				return lcsock.ErrInvalidPort
			}
			return lcsock.ErrBadID
		case "PeerAddress", "HostAddress":
			return lcsock.ErrNotAnOpenSocket
		case "ReadNilCtx", "WriteNilCtx":
			return errAny
		}
		return lcsock.ErrSocketNotOpen
	}
	switch verb {
	case "Open", "OpenZeroOption", "OpenSecure", "OpenDatagram":
		return lcsock.ErrAlreadyOpen
	case "CloseSocketAgain", "ReadAfterClose":
		return lcsock.ErrSocketNotOpen
	case "ReadNilCtx", "WriteNilCtx":
		return errAny
	}
	if kind == "listener" || kind == "dglistener" {
		switch verb {
		case "Stats", "PeerAddress", "HostAddress", "CloseSocket":
			return nil
		case "Conn", "TLSState", "CloseWrite", "JoinGroupEmpty", "JoinGroupBad", "JoinGroupUnicast", "LeaveGroup":
			return errAny
		}
		if verb == "Secure" || verb == "SecureBadServer" || verb == "SecureNilTLS" {
			if kind == "dglistener" {
				return lcsock.ErrDatagramTLS
			}
			return lcsock.ErrNotWritable
		}
		if verb[:1] == "R" {
			return lcsock.ErrNotReadable
		}
		return lcsock.ErrNotWritable
	}
	if kind == "peerclosed" || kind == "closedlocal" {
		if verb == "PeerAddress" || verb == "HostAddress" {
			return lcsock.ErrNotAnOpenSocket
		}
		return lcsock.ErrSocketNotOpen
	}
	switch verb {
	case "ReadNeg", "RWMNeg", "ReadBadUnit", "RWMBadUnit":
		return lcsock.ErrBadReadSpec
	case "ReadHuge", "RWMHuge":
		if kind == "dgsocket" && verb == "RWMHuge" {
			return nil // a datagram is read whole: no size limit applies
		}
		if kind == "dgsocket" {
			return context.DeadlineExceeded
		}
		return lcsock.ErrBufferFull
	case "ReadZeroSpec", "ReadDone":
		if verb == "ReadDone" {
			return context.Canceled
		}
		return context.DeadlineExceeded
	case "WWMHuge":
		if kind == "dgsocket" {
			return lcsock.ErrDatagramTooLarge
		}
		return lcsock.ErrBufferFull
	case "Secure", "SecureBadServer", "SecureNilTLS":
		if kind == "dgsocket" {
			return lcsock.ErrDatagramTLS
		}
		return nil // the first one upgrades; later ones leave it as it is
	case "TLSState":
		if kind == "tlsopen" {
			return nil
		}
		return lcsock.ErrNotSecure
	case "JoinGroupEmpty", "JoinGroupBad", "JoinGroupUnicast":
		return lcsock.ErrBadID
	case "LeaveGroup":
		if kind == "dgsocket" {
			return errAny // never joined
		}
		return lcsock.ErrBadID
	case "CloseWrite":
		if kind == "dgsocket" {
			return errAny
		}
		return nil
	case "WriteAfterCloseWrite":
		if kind == "dgsocket" {
			return nil
		}
		return lcsock.ErrClosed
	case "Conn":
		if kind == "dgsocket" {
			return errAny
		}
		return nil
	case "WriteNil":
		if kind == "connecting" {
			return context.DeadlineExceeded
		}
		return nil
	}
	return nil // RWMZero, WWMNil, Stats, PeerAddress, HostAddress, CloseSocket
}

// Every verb, with hostile arguments, on an ID of every kind: no panic,
// no hang, and the documented error (review H).
func TestSweepHVerbsByKind(t *testing.T) {
	kinds := map[string]func(t *testing.T) (*lcsock.Registry, string){
		"bad": func(t *testing.T) (*lcsock.Registry, string) {
			r, _ := newReg(t, lcsock.Config{})
			return r, "h:99999|x"
		},
		"empty": func(t *testing.T) (*lcsock.Registry, string) { r, _ := newReg(t, lcsock.Config{}); return r, "" },
		"closedreg": func(t *testing.T) (*lcsock.Registry, string) {
			r, _ := newReg(t, lcsock.Config{})
			r.Close()
			return r, "127.0.0.1:1|nope"
		},
		"listener": func(t *testing.T) (*lcsock.Registry, string) {
			r, _ := newReg(t, lcsock.Config{})
			p, err := r.Accept(0, nil, "m")
			require.NoError(t, err)
			return r, itoa(p)
		},
		"dglistener": func(t *testing.T) (*lcsock.Registry, string) {
			r, _ := newReg(t, lcsock.Config{})
			p, err := r.AcceptDatagram(0, nil, "m")
			require.NoError(t, err)
			return r, itoa(p)
		},
		"dgsocket": func(t *testing.T) (*lcsock.Registry, string) {
			r, _ := newReg(t, lcsock.Config{})
			pc, err := net.ListenPacket("udp", "127.0.0.1:0")
			require.NoError(t, err)
			t.Cleanup(func() { pc.Close() })
			id := pc.LocalAddr().String() + "|dg"
			require.NoError(t, r.OpenDatagram(id, nil))
			return r, id
		},
		"connecting": func(t *testing.T) (*lcsock.Registry, string) {
			dns := newFakeDNS(t)
			dns.hangName("hang.test.")
			r, _ := newReg(t, lcsock.Config{Resolver: dns.resolver()})
			require.NoError(t, r.Open("hang.test:80|c", nil))
			return r, "hang.test:80|c"
		},
		"open": func(t *testing.T) (*lcsock.Registry, string) {
			p := newPeer(t)
			r, rec := newReg(t, lcsock.Config{})
			id := p.id("o")
			openConnected(t, r, rec, p, id)
			return r, id
		},
		"peerclosed": func(t *testing.T) (*lcsock.Registry, string) {
			p := newPeer(t)
			r, rec := newReg(t, lcsock.Config{})
			id := p.id("pc")
			c := openConnected(t, r, rec, p, id)
			c.Write([]byte("buffered"))
			c.Close()
			// The bytes that came before the end are all read.
			data, err := r.Read(ctxWait(t), id, lcsock.UntilEOF())
			require.NoError(t, err)
			require.Equal(t, "buffered", string(data))
			rec.WaitFor(t, lcsock.EventClosed, id, wait)
			require.Eventually(t, func() bool { return len(r.OpenSockets()) == 0 }, wait, time.Millisecond)
			return r, id
		},
		"closedlocal": func(t *testing.T) (*lcsock.Registry, string) {
			p := newPeer(t)
			r, rec := newReg(t, lcsock.Config{})
			id := p.id("cl")
			openConnected(t, r, rec, p, id)
			require.NoError(t, r.CloseSocket(id))
			return r, id
		},
		"tlsopen": func(t *testing.T) (*lcsock.Registry, string) {
			// A TLS echo peer that, like the plain peer of "open", keeps
			// its end open until the test ends. lcsocktest.TLSServer
			// closes when it reads the end of stream, so its close could
			// end the socket between CloseWrite and the verbs after it
			// ("socket is not open"; 1 failure in ~200 under load).
			ca := lcsocktest.NewCA(t)
			cert, key := ca.Issue(t, "localhost")
			pair, err := tls.X509KeyPair(cert, key)
			require.NoError(t, err)
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			done, served := make(chan struct{}), make(chan struct{})
			go func() {
				defer close(served)
				c, err := ln.Accept()
				if err != nil {
					return
				}
				tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{pair}})
				io.Copy(tc, tc)
				<-done
				tc.Close()
			}()
			t.Cleanup(func() { close(done); ln.Close(); <-served }) // after the registry's Close
			r, rec := newReg(t, lcsock.Config{Certificates: []string{caFile(t, ca)}})
			id := ln.Addr().String() + "|tls"
			require.NoError(t, r.OpenSecure(id, nil, lcsock.WithMessage("c"), lcsock.VerifyHost("localhost")))
			rec.WaitFor(t, lcsock.EventConnected, id, wait)
			return r, id
		},
	}
	for kind, mk := range kinds {
		t.Run(kind, func(t *testing.T) {
			reg, id := mk(t)
			gone := kind == "peerclosed" || kind == "closedlocal"
			for _, v := range sweepVerbs() {
				if gone && strings.HasPrefix(v.name, "Open") {
					continue // below: they would take the freed ID
				}
				err := sweepCall(t, v.name, func() error { return v.f(reg, id) })
				switch want := sweepExpect(kind, v.name); want {
				case nil:
					if err != nil {
						t.Errorf("%s %s: %v, want no error", kind, v.name, err)
					}
				case errAny:
					if err == nil {
						t.Errorf("%s %s: no error", kind, v.name)
					}
				default:
					if !errors.Is(err, want) {
						t.Errorf("%s %s: %v, want %v", kind, v.name, err, want)
					}
					if want == lcsock.ErrClosed && !errors.Is(err, net.ErrClosed) {
						t.Errorf("%s %s: %v does not match net.ErrClosed", kind, v.name, err)
					}
				}
			}
			if gone {
				// The ID is free again at once.
				require.NoError(t, reg.Open(id, nil))
				require.NoError(t, reg.CloseSocket(id))
			}
		})
	}
}

// ALPN protocol names TLS cannot carry (empty, over 255 bytes) are an
// error from the verb, not a socketError after the connection (review H:
// OpenSecure accepted ALPN("") and its handshake then failed with
// "tls: invalid NextProtos value").
func TestALPNRefusesBadProtocolNames(t *testing.T) {
	ca := lcsocktest.NewCA(t)
	cert, key := ca.Issue(t, "localhost")
	reg, _ := newReg(t, lcsock.Config{})
	for _, bad := range []string{"", strings.Repeat("a", 256)} {
		require.ErrorContains(t, reg.OpenSecure("127.0.0.1:1|alpn", nil, lcsock.ALPN("h2", bad)), "ALPN")
		_, err := reg.AcceptSecure(0, nil, "m", string(cert), string(key), lcsock.ALPN(bad))
		require.ErrorContains(t, err, "ALPN")
	}
	require.Empty(t, reg.OpenSockets())
}

// An option a datagram verb does not take is an error naming it; only a
// TLS option's error wraps ErrDatagramTLS (review H: MaxConnections,
// InputEOL, KeepAlive, NoDelay, ConnectTimeout and Proxy — options of a
// TLS verb among others — were refused as "TLS is not available").
func TestDatagramRefusesNonTLSOptionAsSuch(t *testing.T) {
	reg, _ := newReg(t, lcsock.Config{})
	for _, opt := range []lcsock.Option{lcsock.MaxConnections(1), lcsock.InputEOL(lcsock.LF),
		lcsock.KeepAlive(0), lcsock.NoDelay(true), lcsock.ConnectTimeout(1), lcsock.Proxy("socks5://127.0.0.1:1")} {
		_, err := reg.AcceptDatagram(0, nil, "m", opt)
		require.Error(t, err)
		require.False(t, errors.Is(err, lcsock.ErrDatagramTLS), "%v", err)
		require.Contains(t, err.Error(), "does not apply")
		err = reg.OpenDatagram("127.0.0.1:9|x", nil, opt)
		require.Error(t, err)
		require.False(t, errors.Is(err, lcsock.ErrDatagramTLS), "%v", err)
	}
	for _, opt := range []lcsock.Option{lcsock.ALPN("h2"), lcsock.Verify(false), lcsock.HandshakeTimeout(1)} {
		_, err := reg.AcceptDatagram(0, nil, "m", opt)
		require.ErrorIs(t, err, lcsock.ErrDatagramTLS)
	}
	require.Empty(t, reg.OpenSockets())
}

// Adopt of a nil pointer in a net.Conn is refused as a nil connection is
// (review H: it panicked in RemoteAddr, or — with an ID — registered the
// socket and panicked, the registry's Close then panicking too).
func TestAdoptTypedNilConn(t *testing.T) {
	reg, _ := newReg(t, lcsock.Config{})
	for _, c := range []net.Conn{(*net.TCPConn)(nil), (*tls.Conn)(nil)} {
		for _, id := range []string{"", "127.0.0.1:1|nil"} {
			_, err := reg.Adopt(id, c, nil)
			require.ErrorContains(t, err, "nil connection")
		}
	}
	require.Empty(t, reg.OpenSockets())
	require.NoError(t, reg.Close())
}

// A malformed read condition (negative count, unknown unit) on a datagram
// socket is refused with ErrBadReadSpec, as on a TCP socket; a valid one,
// however large, still reads one whole datagram (review H: datagram reads
// accepted any condition, For(-1) included).
func TestDatagramReadRefusesBadSpec(t *testing.T) {
	reg, _ := newReg(t, lcsock.Config{})
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	defer pc.Close()
	id := pc.LocalAddr().String() + "|dg"
	require.NoError(t, reg.OpenDatagram(id, nil))
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	for _, bad := range []lcsock.ReadSpec{lcsock.For(-1, lcsock.Chars), lcsock.For(1, lcsock.Unit(200))} {
		_, err := reg.Read(ctx, id, bad)
		require.ErrorIs(t, err, lcsock.ErrBadReadSpec)
		require.ErrorIs(t, reg.ReadWithMessage(id, bad, nil, "dg"), lcsock.ErrBadReadSpec)
	}
	// The socket still works: a datagram to it is read whole.
	_, err = reg.Write(ctx, id, []byte("ping")) // the peer learns its port
	require.NoError(t, err)
	buf := make([]byte, 16)
	pc.SetReadDeadline(time.Now().Add(wait))
	_, from, err := pc.ReadFrom(buf)
	require.NoError(t, err)
	_, err = pc.WriteTo([]byte("whole datagram"), from)
	require.NoError(t, err)
	data, err := reg.Read(ctx, id, lcsock.For(1<<30, lcsock.Chars))
	require.NoError(t, err)
	require.Equal(t, "whole datagram", string(data))
}

// A nil context given to a blocking verb is an error, not a panic (review
// H: Read, Write, HostNameToAddress, HostAddressToName, Dispatch and
// Shutdown dereferenced it), on TCP and datagram sockets alike.
func TestNilContextIsAnError(t *testing.T) {
	p := newPeer(t)
	reg, rec := newReg(t, lcsock.Config{})
	id := p.id("nilctx")
	openConnected(t, reg, rec, p, id)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	defer pc.Close()
	dg := pc.LocalAddr().String() + "|dg"
	require.NoError(t, reg.OpenDatagram(dg, nil))
	var nilCtx context.Context
	for _, sid := range []string{id, dg} {
		_, err := reg.Read(nilCtx, sid, lcsock.For(1, lcsock.Chars))
		require.Error(t, err)
		_, err = reg.Write(nilCtx, sid, []byte("x"))
		require.Error(t, err)
	}
	_, err = reg.HostNameToAddress(nilCtx, "localhost")
	require.Error(t, err)
	_, err = reg.HostAddressToName(nilCtx, "127.0.0.1")
	require.Error(t, err)
	pumped, _ := newReg(t, lcsock.Config{Dispatch: lcsock.DispatchPumped})
	_, err = pumped.Dispatch(nilCtx)
	require.Error(t, err)
	require.Error(t, reg.Shutdown(nilCtx))
	require.Equal(t, []string{id, dg}, reg.OpenSockets(), "a refused Shutdown closes nothing")
}

// The error types' methods are safe on nil pointers, as OpError.Error
// promises: errors.Is on a typed nil walks Unwrap (review H: OpError's
// Unwrap, DialError's Unwrap and Timeout, MulticastError's Error and
// Unwrap dereferenced nil).
func TestNilErrorTypesDoNotPanic(t *testing.T) {
	var oe *lcsock.OpError
	var de *lcsock.DialError
	var me *lcsock.MulticastError
	for _, err := range []error{oe, de, me} {
		require.NotPanics(t, func() {
			_ = err.Error()
			_ = errors.Is(err, lcsock.ErrClosed)
			_ = errors.Unwrap(err)
		})
	}
	require.NotPanics(t, func() { _ = oe.Timeout(); _ = de.Timeout() })
}

// Concurrent blocking reads of a stream the peer then closes lose no
// line and see each once: what was buffered before the end is delivered.
func TestSweepHReadsLoseNothingAtPeerClose(t *testing.T) {
	for range 10 {
		p := newPeer(t)
		reg, rec := newReg(t, lcsock.Config{})
		id := p.id("drain")
		c := openConnected(t, reg, rec, p, id)
		var want []string
		var sb strings.Builder
		for i := range 300 {
			l := "line" + itoa(i) + "\n"
			want = append(want, l)
			sb.WriteString(l)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		var mu sync.Mutex
		var got []string
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					d, err := reg.Read(ctx, id, lcsock.Until("\n"))
					mu.Lock()
					if len(d) > 0 {
						got = append(got, string(d))
					}
					mu.Unlock()
					if err != nil {
						if !errors.Is(err, io.EOF) && !errors.Is(err, lcsock.ErrSocketNotOpen) && !errors.Is(err, lcsock.ErrClosed) {
							t.Errorf("read: %v", err)
						}
						return
					}
				}
			}()
		}
		go func() { c.Write([]byte(sb.String())); c.Close() }()
		wg.Wait()
		cancel()
		sort.Strings(got)
		sort.Strings(want)
		require.Equal(t, want, got)
		reg.Close()
	}
}

// Every verb racing with CloseSocket or Close returns (no hang), does not
// panic, and fails only with a documented error.
func TestSweepHRaceClose(t *testing.T) {
	for _, viaClose := range []bool{false, true} {
		for iter := range 20 {
			t.Run(fmt.Sprintf("close=%v/%d", viaClose, iter), func(t *testing.T) {
				p := newPeer(t)
				reg, rec := newReg(t, lcsock.Config{})
				id := p.id("race")
				c := openConnected(t, reg, rec, p, id)
				c.Write([]byte("hello\nworld\n"))
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				verbs := []func() error{
					func() error { _, err := reg.Read(ctx, id, lcsock.Until("\n")); return err },
					func() error { _, err := reg.Read(ctx, id, lcsock.For(100, lcsock.Chars)); return err },
					func() error { _, err := reg.Write(ctx, id, []byte("x")); return err },
					func() error { return reg.WriteWithMessage(id, []byte("y"), nil, "w") },
					func() error { return reg.ReadWithMessage(id, lcsock.Until("\n"), nil, "r") },
					func() error { _, err := reg.Stats(id); return err },
					func() error { _, err := reg.TLSState(id); return err },
					func() error { _, err := reg.PeerAddress(id); return err },
					func() error { return reg.CloseWrite(id) },
					func() error { return reg.Secure(id, lcsock.Verify(false)) },
					func() error {
						cv, err := reg.Conn(id)
						if err != nil {
							return err
						}
						cv.SetDeadline(time.Now().Add(time.Second))
						_, err = cv.Read(make([]byte, 4))
						return err
					},
					func() error { return reg.CloseSocket(id) },
				}
				var wg sync.WaitGroup
				errs := make(chan error, len(verbs)*4)
				start := make(chan struct{})
				for _, v := range verbs {
					wg.Add(1)
					go func() {
						defer wg.Done()
						defer func() {
							if x := recover(); x != nil {
								errs <- fmt.Errorf("PANIC %v", x)
							}
						}()
						<-start
						errs <- v()
					}()
				}
				close(start)
				if viaClose {
					require.NoError(t, reg.Close())
				} else {
					reg.CloseSocket(id)
				}
				done := make(chan struct{})
				go func() { wg.Wait(); close(done) }()
				select {
				case <-done:
				case <-time.After(3 * time.Second):
					t.Fatal("a verb hangs")
				}
				close(errs)
				for err := range errs {
					if err == nil || errors.Is(err, lcsock.ErrClosed) || errors.Is(err, lcsock.ErrSocketNotOpen) ||
						errors.Is(err, lcsock.ErrNotAnOpenSocket) || errors.Is(err, lcsock.ErrNotSecure) ||
						errors.Is(err, io.EOF) || errors.Is(err, lcsock.ErrHandshake) {
						if errors.Is(err, lcsock.ErrClosed) {
							require.ErrorIs(t, err, net.ErrClosed)
						}
						continue
					}
					t.Errorf("unexpected error: %v", err)
				}
			})
		}
	}
}

// After Close, PeerAddress and HostAddress fail as every verb does, with
// an error wrapping ErrClosed and net.ErrClosed, keeping LiveCode's text
// (review H: they gave the bare ErrNotAnOpenSocket).
func TestAddressAfterCloseWrapsErrClosed(t *testing.T) {
	p := newPeer(t)
	reg, rec := newReg(t, lcsock.Config{})
	id := p.id("addr")
	openConnected(t, reg, rec, p, id)
	require.NoError(t, reg.Close())
	for _, f := range []func(string) (string, error){reg.PeerAddress, reg.HostAddress} {
		_, err := f(id)
		require.ErrorIs(t, err, lcsock.ErrClosed)
		require.ErrorIs(t, err, net.ErrClosed)
		require.ErrorIs(t, err, lcsock.ErrNotAnOpenSocket)
		require.Equal(t, "not an open socket", err.Error())
	}
	reg2, _ := newReg(t, lcsock.Config{})
	_, err := reg2.PeerAddress(id)
	require.Equal(t, lcsock.ErrNotAnOpenSocket, err)
}
