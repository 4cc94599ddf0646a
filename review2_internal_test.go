package lcsock

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Findings of the second review of Shutdown and of closing from a TLS
// callback.

// testServerCert is a self-signed certificate for a test TLS server
// (lcsocktest, which imports lcsock, cannot be used here).
func testServerCert(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		DNSNames:     []string{"localhost"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// Close called from a TLS callback of a Secure handshake returns while a
// handler of the serial dispatcher waits in a blocking Write queued
// behind the upgrade. Close's abort dropped the upgrade marker first, so
// the Write moved to the head of the queue and failWaiters took it for
// the write the writer was sending: its result was left to the writer —
// the goroutine running the callback, blocked in Close, which waited for
// the dispatcher, which waited for the Write (found in review).
func TestCloseFromUpgradeCallbackFailsWriteQueuedBehind(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	id := ln.Addr().String()

	var reg *Registry
	wrote := make(chan error, 1)
	returned := make(chan struct{})
	cfg := &tls.Config{VerifyConnection: func(tls.ConnectionState) error {
		s, err := reg.lookup("test", id)
		if err == nil {
			// Wait until the handler's Write is queued behind the upgrade.
			for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
				s.mu.Lock()
				n := len(s.writes)
				s.mu.Unlock()
				if n == 2 {
					break
				}
			}
		}
		reg.Close()
		close(returned)
		return nil
	}}
	h := HandlerFunc(func(ev Event) {
		if ev.Kind != EventConnected {
			return
		}
		if err := reg.Secure(ev.Socket, Verify(false), TLSConfig(cfg)); err != nil {
			wrote <- err
			return
		}
		_, err := reg.Write(context.Background(), ev.Socket, []byte("after Secure"))
		wrote <- err
	})
	reg, err = NewRegistry(Config{Handler: h})
	require.NoError(t, err)
	require.NoError(t, reg.Open(id, nil, WithMessage("connected")))
	c, err := ln.Accept()
	require.NoError(t, err)
	defer c.Close()
	go tls.Server(c, &tls.Config{Certificates: []tls.Certificate{testServerCert(t)}}).Handshake()

	select {
	case <-returned:
	case <-time.After(5 * time.Second):
		t.Fatal("Close called from the TLS callback never returned")
	}
	select {
	case err := <-wrote:
		require.ErrorIs(t, err, ErrClosed)
	case <-time.After(5 * time.Second):
		t.Fatal("the Write queued behind the upgrade never returned")
	}
	require.NoError(t, reg.Close())
}

// Shutdown called while Close is under way returns when Close does, as a
// second Close would: it returned at once, before the registry's
// goroutines had exited (found in review).
func TestShutdownDuringCloseWaitsForIt(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	reg, err := NewRegistry(Config{Handler: HandlerFunc(func(ev Event) {
		if ev.Kind == EventConnected {
			close(entered)
			<-release // Close waits for this handler
		}
	})})
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	require.NoError(t, reg.Open(ln.Addr().String(), nil, WithMessage("connected")))
	<-entered

	closed := make(chan struct{})
	go func() { reg.Close(); close(closed) }()
	for {
		reg.mu.Lock()
		c := reg.closed
		reg.mu.Unlock()
		if c {
			break
		}
		time.Sleep(time.Millisecond)
	}
	time.AfterFunc(50*time.Millisecond, func() { close(release) })
	require.NoError(t, reg.Shutdown(context.Background()))
	select {
	case <-reg.closeDone:
	default:
		t.Fatal("Shutdown returned before the Close under way had finished")
	}
	<-closed
}

// Shutdown called from a TLS callback, waiting for its events to be
// delivered, does not keep a handler of the serial dispatcher that calls
// Close meanwhile from returning: the handler's Close waited for the
// goroutine running the callback, and Shutdown waited for the dispatcher
// to deliver the marker that Close dropped (found in review).
func TestShutdownFromTLSCallbackWhileAHandlerCloses(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	id := ln.Addr().String()

	var reg *Registry
	release, closed := make(chan struct{}), make(chan struct{})
	shut := make(chan error, 1)
	cfg := &tls.Config{VerifyConnection: func(tls.ConnectionState) error {
		shut <- reg.Shutdown(context.Background())
		return nil
	}}
	h := HandlerFunc(func(ev Event) {
		if ev.Kind != EventConnected {
			return
		}
		reg.Secure(ev.Socket, Verify(false), TLSConfig(cfg))
		<-release
		reg.Close()
		close(closed)
	})
	reg, err = NewRegistry(Config{Handler: h})
	require.NoError(t, err)
	require.NoError(t, reg.Open(id, nil, WithMessage("connected")))
	c, err := ln.Accept()
	require.NoError(t, err)
	defer c.Close()
	go tls.Server(c, &tls.Config{Certificates: []tls.Certificate{testServerCert(t)}}).Handshake()

	// Shutdown has begun. (From a TLS callback it no longer waits for
	// the dispatcher to deliver the flush's events: the handler being
	// run may wait for the callback's goroutine.)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		reg.mu.Lock()
		started := reg.shutdown
		reg.mu.Unlock()
		if started {
			break
		}
		require.True(t, time.Now().Before(deadline), "Shutdown never began")
	}
	close(release)
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close from a handler never returned while Shutdown ran in a TLS callback")
	}
	select {
	case err := <-shut:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("Shutdown from the TLS callback never returned")
	}
}
