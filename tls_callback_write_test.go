package lcsock_test

import (
	"context"
	"crypto/tls"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lcsock/lcsock"
	"github.com/stretchr/testify/require"
)

// Close and Shutdown called from a TLS callback that the writer runs —
// the handshake of an adopted *tls.Conn, run by the first Write — return
// while a handler of the serial dispatcher waits in the blocking Write
// the writer is sending. The Write's result was left to the writer, the
// goroutine blocked in the callback: Close waited for the dispatcher to
// exit and Shutdown for it to deliver the flush's events, and the
// dispatcher waited for the Write (found in review).
func TestCloseFromWriterTLSCallbackWithBlockingWrite(t *testing.T) {
	pair := serverCert(t)
	for _, name := range []string{"Close", "Shutdown"} {
		closer := closers[name]
		t.Run(name, func(t *testing.T) {
			p := newPeer(t)
			id := p.id("adopted")
			var reg *lcsock.Registry
			wrote := make(chan error, 1)
			h := lcsock.HandlerFunc(func(ev lcsock.Event) {
				if ev.Kind != lcsock.EventConnected {
					return
				}
				// The reader is held back by a full buffer: this
				// Write's writer runs the handshake.
				_, err := reg.Write(context.Background(), ev.Socket, []byte("hello"))
				wrote <- err
			})
			// No t.Cleanup(reg.Close): after a deadlock it would hang too.
			reg, err := lcsock.NewRegistry(lcsock.Config{Handler: h, MaxReadBuffer: 4})
			require.NoError(t, err)
			cfg, returned := closeInCallback(func() { closer(reg, id, nil) })
			cfg.InsecureSkipVerify = true
			c, err := net.Dial("tcp", p.ln.Addr().String())
			require.NoError(t, err)
			srv := p.accept()
			go tls.Server(srv, &tls.Config{Certificates: []tls.Certificate{pair}}).Handshake()
			_, err = reg.Adopt(id, tls.Client(c, cfg), nil, lcsock.Buffered([]byte("full")), lcsock.WithMessage("connected"))
			require.NoError(t, err)
			awaitReturn(t, returned, name)
			awaitBlockingWrite(t, wrote)
			require.NoError(t, reg.Close())
		})
	}
}

// The same in a TLS 1.2 renegotiation, which the reader runs: a handler's
// blocking Write is held in tls.Conn.Write by the handshake lock the
// reader holds while the callback runs, so its writer cannot report it
// until the callback returns (found in review).
func TestCloseFromRenegotiationCallbackWithBlockingWrite(t *testing.T) {
	for _, name := range []string{"Close", "Shutdown"} {
		closer := closers[name]
		t.Run(name, func(t *testing.T) {
			port, renegotiate := renegotiatingServer(t)
			id := "127.0.0.1:" + itoa(port) + "|reneg"
			var reg *lcsock.Registry
			inCallback := make(chan struct{})
			wrote := make(chan error, 1)
			h := lcsock.HandlerFunc(func(ev lcsock.Event) {
				if ev.Kind != lcsock.EventConnected {
					return
				}
				<-inCallback
				_, err := reg.Write(context.Background(), ev.Socket, []byte("hello\n"))
				wrote <- err
			})
			// No t.Cleanup(reg.Close): after a deadlock it would hang too.
			reg, err := lcsock.NewRegistry(lcsock.Config{Handler: h})
			require.NoError(t, err)
			returned := make(chan struct{})
			var once sync.Once
			cfg := &tls.Config{
				Renegotiation: tls.RenegotiateOnceAsClient,
				GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
					once.Do(func() {
						close(inCallback)
						// Until the writer waits for the handshake lock.
						for deadline := time.Now().Add(wait); !writerHeldByHandshake(); runtime.Gosched() {
							if time.Now().After(deadline) {
								t.Error("the writer never waited for the renegotiation")
								break
							}
						}
						closer(reg, id, nil)
						close(returned)
					})
					return &tls.Certificate{}, nil
				},
			}
			dialListening(t, port).Close() // -naccept 2 leaves room for the socket's
			require.NoError(t, reg.OpenSecure(id, nil, lcsock.Verify(false), lcsock.TLSConfig(cfg), lcsock.WithMessage("ok")))
			renegotiate()
			awaitReturn(t, returned, name)
			awaitBlockingWrite(t, wrote)
			require.NoError(t, reg.Close())
		})
	}
}

// writerHeldByHandshake reports whether a socket's writer waits in
// tls.Conn.Write for a handshake another goroutine runs.
func writerHeldByHandshake() bool {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "sync.(*Mutex).Lock") && strings.Contains(g, "crypto/tls.(*Conn).handshakeContext") &&
			strings.Contains(g, "crypto/tls.(*Conn).Write") && strings.Contains(g, "lcsock.(*socket).writeLoop") {
			return true
		}
	}
	return false
}

// awaitBlockingWrite waits for the result of a handler's blocking Write
// held up by a TLS handshake that a Close ended: sent if the handshake
// finished before the connection closed, else ended by the close.
func awaitBlockingWrite(t *testing.T, wrote <-chan error) {
	t.Helper()
	select {
	case err := <-wrote:
		if err != nil {
			require.ErrorIs(t, err, lcsock.ErrClosed)
		}
	case <-time.After(wait):
		t.Fatal("the blocking Write never returned")
	}
}
