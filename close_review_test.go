package lcsock_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/lcsock/lcsock"
	"github.com/lcsock/lcsock/lcsocktest"
	"github.com/stretchr/testify/require"
)

// Findings of the session-6 review: Shutdown, and closing from a socket's
// own goroutine.

// eventually waits until cond holds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		require.True(t, time.Now().Before(deadline), "waiting for %s", what)
		runtime.Gosched()
	}
}

// Once Shutdown has begun, opens fail with ErrClosed, as after Close, and
// what was open before is flushed. A socket opened while Shutdown
// flushed was not flushed: the final Close dropped it without an event
// (found in review).
func TestOpenDuringShutdownFails(t *testing.T) {
	p := newPeer(t)
	reg, rec := newReg(t, lcsock.Config{})
	id := p.id("")
	c := openConnected(t, reg, rec, p, id) // the peer reads nothing yet: the flush waits
	require.NoError(t, reg.WriteWithMessage(id, make([]byte, 8<<20), nil, "w"))
	ctx := ctxWait(t)
	done := make(chan error, 1)
	go func() { done <- reg.Shutdown(ctx) }()
	eventually(t, "Shutdown to begin", func() bool { return len(reg.OpenSockets()) == 0 })

	require.ErrorIs(t, reg.Open(p.id("late"), nil, lcsock.WithMessage("connected")), lcsock.ErrClosed)
	require.ErrorIs(t, reg.OpenSecure(p.id("late"), nil), lcsock.ErrClosed)
	require.ErrorIs(t, reg.OpenDatagram("127.0.0.1:9", nil), lcsock.ErrClosed)
	_, err := reg.Accept(0, nil, "conn")
	require.ErrorIs(t, err, lcsock.ErrClosed)
	_, err = reg.AcceptDatagram(0, nil, "dg")
	require.ErrorIs(t, err, lcsock.ErrClosed)
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	_, err = reg.Adopt("pipe", a, nil)
	require.ErrorIs(t, err, lcsock.ErrClosed)
	require.Empty(t, reg.OpenSockets())

	go io.Copy(io.Discard, c)
	require.NoError(t, <-done)
	require.Equal(t, 1, rec.Count(lcsock.EventWritten, id), "the write queued before Shutdown is flushed")
}

// closers are the ways user code may close a socket, or everything.
var closers = map[string]func(reg *lcsock.Registry, id string, view *lcsock.Conn){
	"Close":       func(reg *lcsock.Registry, _ string, _ *lcsock.Conn) { reg.Close() },
	"Shutdown":    func(reg *lcsock.Registry, _ string, _ *lcsock.Conn) { reg.Shutdown(context.Background()) },
	"CloseSocket": func(reg *lcsock.Registry, id string, _ *lcsock.Conn) { reg.CloseSocket(id) },
	"Conn.Close": func(_ *lcsock.Registry, _ string, view *lcsock.Conn) {
		if view != nil {
			view.Close()
		}
	},
}

// closeInCallback returns a TLS config whose VerifyConnection calls
// closeFn once, and a channel closed when closeFn has returned.
func closeInCallback(closeFn func()) (*tls.Config, <-chan struct{}) {
	returned := make(chan struct{})
	var once sync.Once
	return &tls.Config{VerifyConnection: func(tls.ConnectionState) error {
		once.Do(func() {
			closeFn()
			close(returned)
		})
		return nil
	}}, returned
}

// awaitReturn fails the test if returned is not closed in time.
func awaitReturn(t *testing.T, returned <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-returned:
	case <-time.After(wait):
		t.Fatalf("%s called from a TLS callback of the socket never returned", what)
	}
}

// Close, Shutdown, CloseSocket and Conn.Close called by user code that
// runs on one of the socket's own goroutines — a TLS callback of the
// handshake of OpenSecure, Secure or AcceptSecure — return. Close (and
// Shutdown, which ends with it) waited for every socket goroutine,
// among them the one it was called on (found in review).
func TestCloseFromTLSCallback(t *testing.T) {
	pair := serverCert(t)
	for _, name := range []string{"Close", "Shutdown", "CloseSocket", "Conn.Close"} {
		closer := closers[name]
		t.Run("OpenSecure/"+name, func(t *testing.T) {
			reg, _ := newReg(t, lcsock.Config{})
			p := newPeer(t)
			id := p.id("")
			var view *lcsock.Conn
			cfg, returned := closeInCallback(func() { closer(reg, id, view) })
			require.NoError(t, reg.OpenSecure(id, nil, lcsock.Verify(false), lcsock.TLSConfig(cfg)))
			view, _ = reg.Conn(id)
			c := p.accept()
			go tls.Server(c, &tls.Config{Certificates: []tls.Certificate{pair}}).Handshake()
			awaitReturn(t, returned, name)
			eventually(t, "the socket to close", func() bool { return len(reg.OpenSockets()) == 0 })
			require.NoError(t, reg.Close())
		})
		t.Run("Secure/"+name, func(t *testing.T) {
			reg, id, raw := openForUpgrade(t)
			view, err := reg.Conn(id)
			require.NoError(t, err)
			cfg, returned := closeInCallback(func() { closer(reg, id, view) })
			require.NoError(t, reg.Secure(id, lcsock.Verify(false), lcsock.TLSConfig(cfg)))
			go tls.Server(raw, &tls.Config{Certificates: []tls.Certificate{pair}}).Handshake()
			awaitReturn(t, returned, name)
			eventually(t, "the socket to close", func() bool { return len(reg.OpenSockets()) == 0 })
			require.NoError(t, reg.Close())
		})
		t.Run("Adopt/"+name, func(t *testing.T) {
			// A *tls.Conn adopted before its handshake: the reader's
			// first Read runs it.
			reg, _ := newReg(t, lcsock.Config{})
			p := newPeer(t)
			id := p.id("adopted")
			var view *lcsock.Conn
			cfg, returned := closeInCallback(func() { closer(reg, id, view) })
			cfg.InsecureSkipVerify = true
			c, err := net.Dial("tcp", p.ln.Addr().String())
			require.NoError(t, err)
			srv := p.accept()
			_, err = reg.Adopt(id, tls.Client(c, cfg), nil)
			require.NoError(t, err)
			view, _ = reg.Conn(id)
			go tls.Server(srv, &tls.Config{Certificates: []tls.Certificate{pair}}).Handshake()
			awaitReturn(t, returned, name)
			eventually(t, "the socket to close", func() bool { return len(reg.OpenSockets()) == 0 })
			require.NoError(t, reg.Close())
		})
		t.Run("AdoptWrite/"+name, func(t *testing.T) {
			// The same, its reader held back by a full buffer: the
			// writer's first Write runs the handshake.
			reg, _ := newReg(t, lcsock.Config{MaxReadBuffer: 4})
			p := newPeer(t)
			id := p.id("adopted")
			var view *lcsock.Conn
			cfg, returned := closeInCallback(func() { closer(reg, id, view) })
			cfg.InsecureSkipVerify = true
			c, err := net.Dial("tcp", p.ln.Addr().String())
			require.NoError(t, err)
			srv := p.accept()
			_, err = reg.Adopt(id, tls.Client(c, cfg), nil, lcsock.Buffered([]byte("full")))
			require.NoError(t, err)
			view, _ = reg.Conn(id)
			go tls.Server(srv, &tls.Config{Certificates: []tls.Certificate{pair}}).Handshake()
			require.NoError(t, reg.WriteWithMessage(id, []byte("hello"), nil, "sent"))
			awaitReturn(t, returned, name)
			eventually(t, "the socket to close", func() bool { return len(reg.OpenSockets()) == 0 })
			require.NoError(t, reg.Close())
		})
		if name == "Conn.Close" {
			continue // a listener has no Conn
		}
		t.Run("AcceptSecure/"+name, func(t *testing.T) {
			reg, _ := newReg(t, lcsock.Config{})
			var id string
			cfg, returned := closeInCallback(func() { closer(reg, id, nil) })
			cert, key := pemPair(t)
			port, err := reg.AcceptSecure(0, nil, "conn", cert, key, lcsock.TLSConfig(cfg))
			require.NoError(t, err)
			id = strconv.Itoa(port)
			c, err := net.Dial("tcp", "127.0.0.1:"+id)
			require.NoError(t, err)
			defer c.Close()
			go tls.Client(c, &tls.Config{InsecureSkipVerify: true}).Handshake()
			awaitReturn(t, returned, name)
			eventually(t, "the listener to close", func() bool { return len(reg.OpenSockets()) == 0 })
			require.NoError(t, reg.Close())
		})
	}
}

// Close and CloseSocket called from a resolver's Dial (Config.Resolver)
// during an open's lookup return: Go's resolver runs Dial on a goroutine
// of its own, which Close does not wait for.
func TestCloseFromResolverDial(t *testing.T) {
	for _, name := range []string{"Close", "Shutdown", "CloseSocket", "Conn.Close"} {
		closer := closers[name]
		t.Run(name, func(t *testing.T) {
			var reg *lcsock.Registry
			var view *lcsock.Conn
			const id = "lcsock-close-from-dial.test:80"
			returned, ready := make(chan struct{}), make(chan struct{})
			var once sync.Once
			res := &net.Resolver{PreferGo: true, Dial: func(context.Context, string, string) (net.Conn, error) {
				<-ready
				once.Do(func() { closer(reg, id, view); close(returned) })
				return nil, errors.New("no DNS here")
			}}
			reg, _ = newReg(t, lcsock.Config{Resolver: res})
			require.NoError(t, reg.Open(id, nil))
			view, _ = reg.Conn(id)
			close(ready)
			awaitReturn(t, returned, name)
			eventually(t, "the socket to close", func() bool { return len(reg.OpenSockets()) == 0 })
			require.NoError(t, reg.Close())
		})
	}
}

// pemPair returns a self-signed certificate and key for "localhost", as
// PEM text.
func pemPair(t *testing.T) (string, string) {
	t.Helper()
	cert, key := lcsocktest.SelfSigned(t, "localhost")
	return string(cert), string(key)
}
