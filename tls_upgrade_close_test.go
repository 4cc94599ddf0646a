package lcsock_test

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/lcsock/lcsock"
	"github.com/lcsock/lcsock/lcsocktest"
	"github.com/stretchr/testify/require"
)

// wireRecorder keeps every byte read from the connection it wraps.
type wireRecorder struct {
	net.Conn
	mu  sync.Mutex
	got bytes.Buffer
}

func (c *wireRecorder) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	c.got.Write(p[:n])
	c.mu.Unlock()
	return n, err
}

func (c *wireRecorder) bytes() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Clone(c.got.Bytes())
}

// openForUpgrade opens a plain socket to a test peer and returns the
// peer's end of the connection.
func openForUpgrade(t *testing.T) (*lcsock.Registry, string, net.Conn) {
	t.Helper()
	reg, rec := newReg(t, lcsock.Config{})
	p := newPeer(t)
	id := p.id("")
	return reg, id, openConnected(t, reg, rec, p, id)
}

// serverCert is a self-signed certificate for a test TLS server.
func serverCert(t *testing.T) tls.Certificate {
	t.Helper()
	cert, key := lcsocktest.SelfSigned(t, "localhost")
	pair, err := tls.X509KeyPair(cert, key)
	require.NoError(t, err)
	return pair
}

// CloseSocket while a Secure handshake runs: the writes queued after
// Secure are still flushed, as a close flushes, but over TLS. They used
// to go out in the clear, and the reader, no longer parked, competed
// with the handshake for its bytes (found in review).
func TestCloseDuringSecureFlushesEncrypted(t *testing.T) {
	reg, id, raw := openForUpgrade(t)
	pair := serverCert(t)

	// The client handshake stops in GetClientCertificate, after it has
	// read every byte of the server's first flight, until released.
	inCB, release := make(chan struct{}), make(chan struct{})
	base := &tls.Config{GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		close(inCB)
		<-release
		return &tls.Certificate{}, nil
	}}
	require.NoError(t, reg.Secure(id, lcsock.Verify(false), lcsock.TLSConfig(base)))
	require.NoError(t, reg.WriteWithMessage(id, []byte("SECRET-PAYLOAD"), nil, "")) // queued behind the upgrade

	wire := &wireRecorder{Conn: raw}
	srv := tls.Server(wire, &tls.Config{Certificates: []tls.Certificate{pair}, ClientAuth: tls.RequestClientCert})
	srvDone := make(chan error, 1)
	go func() { srvDone <- srv.Handshake() }()
	select {
	case <-inCB:
	case <-time.After(wait):
		t.Fatal("the handshake did not reach GetClientCertificate")
	}
	require.NoError(t, reg.CloseSocket(id))
	close(release)
	require.NoError(t, <-srvDone)

	srv.SetReadDeadline(time.Now().Add(wait))
	got, _ := io.ReadAll(srv) // until the socket's close_notify and FIN
	require.Equal(t, "SECRET-PAYLOAD", string(got), "the flushed write, decrypted")
	require.NotContains(t, string(wire.bytes()), "SECRET-PAYLOAD", "sent in the clear")
}

// Bytes received after Secure belong to the secure stream. If the stream
// ends before the upgrade runs (it waits behind a queued write here),
// the pending plaintext read ends empty: the bytes used to reach it
// (found in review).
func TestSecureStreamEndingBeforeUpgradeKeepsTLSBytes(t *testing.T) {
	reg, rec := newReg(t, lcsock.Config{MaxWriteQueue: 64 << 20})
	p := newPeer(t)
	id := p.id("")
	peer := openConnected(t, reg, rec, p, id)
	// The peer does not read: the writer stays busy with this, and the
	// upgrade marker waits behind it.
	require.NoError(t, reg.WriteWithMessage(id, make([]byte, 48<<20), nil, ""))
	require.NoError(t, reg.Secure(id, lcsock.Verify(false)))
	require.NoError(t, reg.ReadWithMessage(id, lcsock.For(5, lcsock.Chars), nil, "got"))
	_, err := peer.Write([]byte("\x16\x03\x01\x00\x10")) // the start of a ClientHello
	require.NoError(t, err)
	require.NoError(t, peer.(*net.TCPConn).CloseWrite())
	ev := rec.WaitFor(t, lcsock.EventRead, id, wait)
	require.Empty(t, ev.Data, "TLS bytes delivered to a plaintext read")
	require.ErrorIs(t, ev.Err, io.EOF)
}

// holdFirstWrite blocks the first Write until released.
type holdFirstWrite struct {
	net.Conn
	once             sync.Once
	writing, release chan struct{}
}

func (c *holdFirstWrite) Write(p []byte) (int, error) {
	c.once.Do(func() {
		close(c.writing)
		<-c.release
	})
	return c.Conn.Write(p)
}

// CloseSocket before the server's first flight arrives: the reader stays
// parked until the upgrade ends, so the handshake gets those bytes (the
// reader, unparked by the close, used to take and drop them, and the
// handshake stalled).
func TestCloseBeforeServerFlightKeepsReaderParked(t *testing.T) {
	reg, id, raw := openForUpgrade(t)
	pair := serverCert(t)
	require.NoError(t, reg.Secure(id, lcsock.Verify(false)))
	require.NoError(t, reg.WriteWithMessage(id, []byte("SECRET-PAYLOAD"), nil, ""))

	hold := &holdFirstWrite{Conn: raw, writing: make(chan struct{}), release: make(chan struct{})}
	srv := tls.Server(hold, &tls.Config{Certificates: []tls.Certificate{pair}})
	srvDone := make(chan error, 1)
	go func() { srvDone <- srv.Handshake() }()
	select {
	case <-hold.writing: // the ClientHello is read; the server's flight waits
	case <-time.After(wait):
		t.Fatal("no ClientHello")
	}
	require.NoError(t, reg.CloseSocket(id))
	close(hold.release)
	require.NoError(t, <-srvDone)
	srv.SetReadDeadline(time.Now().Add(wait))
	got, _ := io.ReadAll(srv)
	require.Equal(t, "SECRET-PAYLOAD", string(got))
}

// CloseSocket before the upgrade has run (it waits behind a write the
// peer has not read yet): the close flushes the queue, handshake
// included, and the write made after Secure arrives over TLS.
func TestCloseBeforeUpgradeRunsItInTheFlush(t *testing.T) {
	reg, id, raw := openForUpgrade(t)
	pair := serverCert(t)
	clear := bytes.Repeat([]byte("c"), 8<<20) // more than the socket buffers hold
	require.NoError(t, reg.WriteWithMessage(id, clear, nil, ""))
	require.NoError(t, reg.Secure(id, lcsock.Verify(false)))
	require.NoError(t, reg.WriteWithMessage(id, []byte("SECRET-PAYLOAD"), nil, ""))
	require.NoError(t, reg.CloseSocket(id))

	raw.SetReadDeadline(time.Now().Add(wait))
	got := make([]byte, len(clear))
	_, err := io.ReadFull(raw, got)
	require.NoError(t, err)
	require.Equal(t, clear, got, "the write before Secure, in the clear")
	srv := tls.Server(raw, &tls.Config{Certificates: []tls.Certificate{pair}})
	require.NoError(t, srv.Handshake())
	rest, _ := io.ReadAll(srv)
	require.Equal(t, "SECRET-PAYLOAD", string(rest))
}

// stallConn's writes block, once stalled, until it is closed or
// released: a peer that stopped reading, with the send buffer full.
type stallConn struct {
	net.Conn
	stalled          chan struct{} // closed: writes block
	release, closed  chan struct{}
	stallOnce, close sync.Once
}

func (c *stallConn) Write(p []byte) (int, error) {
	select {
	case <-c.stalled:
		select {
		case <-c.release:
		case <-c.closed:
			return 0, net.ErrClosed
		}
	default:
	}
	return c.Conn.Write(p)
}

func (c *stallConn) Close() error {
	c.close.Do(func() { close(c.closed) })
	return c.Conn.Close()
}

// stalledTLSClient returns a TLS client connection, handshake done, over
// a stallConn, to a server that reads until the end of the stream;
// srvDone is closed when the server is done.
func stalledTLSClient(t *testing.T) (sc *stallConn, tc *tls.Conn, srvDone chan struct{}) {
	t.Helper()
	pair := serverCert(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	srvDone = make(chan struct{})
	go func() {
		defer close(srvDone)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.Copy(io.Discard, tls.Server(c, &tls.Config{Certificates: []tls.Certificate{pair}}))
	}()
	raw, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	sc = &stallConn{Conn: raw, stalled: make(chan struct{}), release: make(chan struct{}), closed: make(chan struct{})}
	tc = tls.Client(sc, &tls.Config{InsecureSkipVerify: true})
	require.NoError(t, tc.Handshake())
	return sc, tc, srvDone
}

// CloseSocket of a TLS socket does not wait for its close_notify alert,
// which cannot be sent while the peer does not read: tls.Conn.Close
// waits up to 5 s for it, and the socket's lock was held meanwhile, so
// the caller — usually the dispatcher — stalled with it (found in
// review).
func TestCloseSocketDoesNotWaitForCloseNotify(t *testing.T) {
	reg, rec := newReg(t, lcsock.Config{})
	sc, tc, srvDone := stalledTLSClient(t)
	id, err := reg.Adopt("", tc, rec)
	require.NoError(t, err)
	close(sc.stalled)

	closed := make(chan error, 1)
	go func() { closed <- reg.CloseSocket(id) }()
	select {
	case err := <-closed:
		require.NoError(t, err)
	case <-time.After(wait):
		close(sc.release)
		t.Fatal("CloseSocket waited for the close_notify alert")
	}
	close(sc.release) // the alert goes out; the connection closes
	<-srvDone
}

// A Close made while another is under way returns when that one does,
// not at once while socket goroutines still run: here the first waits
// for the worker closing a TLS connection whose close_notify is stalled.
func TestConcurrentCloseWaitsForTheFirst(t *testing.T) {
	reg, err := lcsock.NewRegistry(lcsock.Config{})
	require.NoError(t, err)
	sc, tc, srvDone := stalledTLSClient(t)
	_, err = reg.Adopt("", tc, nil)
	require.NoError(t, err)
	close(sc.stalled)

	first := make(chan struct{})
	go func() { reg.Close(); close(first) }()
	for len(reg.OpenSockets()) > 0 { // until the first Close is under way
		runtime.Gosched()
	}
	second := make(chan struct{})
	go func() { close(second); time.AfterFunc(50*time.Millisecond, func() { close(sc.release) }) }()
	<-second
	require.NoError(t, reg.Close())
	select {
	case <-sc.closed:
	default:
		t.Fatal("the second Close returned before the connection was closed")
	}
	<-first
	<-srvDone
}
