package lcsock_test

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lcsock/lcsock"
	"github.com/lcsock/lcsock/lcsocktest"
	"github.com/stretchr/testify/require"
)

// renegotiatingServer starts openssl s_server (TLS 1.2) and returns its
// port and a function that makes it renegotiate, asking for a client
// certificate (s_server's "R" command).
// dialListening connects to port on 127.0.0.1 once the server started
// there (openssl s_server, a process of its own) listens.
func dialListening(t *testing.T, port int) net.Conn {
	t.Helper()
	for deadline := time.Now().Add(wait); ; {
		c, err := net.Dial("tcp", "127.0.0.1:"+itoa(port))
		if err == nil {
			return c
		}
		require.True(t, time.Now().Before(deadline), "s_server never listened: %v", err)
		time.Sleep(20 * time.Millisecond)
	}
}

func renegotiatingServer(t *testing.T) (port int, renegotiate func()) {
	t.Helper()
	openssl := tool(t, "openssl")
	cert, key := lcsocktest.SelfSigned(t, "localhost")
	dir := t.TempDir()
	certFile := lcsocktest.WriteFile(t, dir, "cert.pem", cert)
	keyFile := lcsocktest.WriteFile(t, dir, "key.pem", key)
	probe, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port = probe.Addr().(*net.TCPAddr).Port
	probe.Close()
	srv := exec.Command(openssl, "s_server", "-tls1_2", "-accept", "127.0.0.1:"+itoa(port),
		"-cert", certFile, "-key", keyFile, "-naccept", "2")
	stdin, err := srv.StdinPipe()
	require.NoError(t, err)
	stdout, err := srv.StdoutPipe()
	require.NoError(t, err)
	srv.Stderr = io.Discard
	require.NoError(t, srv.Start())
	t.Cleanup(func() {
		srv.Process.Kill()
		srv.Wait()
	})
	accepted := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		var once sync.Once
		for sc.Scan() {
			// s_server reads its commands once a connection is set up.
			if strings.HasPrefix(sc.Text(), "CIPHER is") || strings.HasPrefix(sc.Text(), "Secure Renegotiation") {
				once.Do(func() { close(accepted) })
			}
		}
	}()
	return port, func() {
		select {
		case <-accepted:
		case <-time.After(wait):
			t.Fatal("s_server never reported the connection")
		}
		_, err := stdin.Write([]byte("R\n"))
		require.NoError(t, err)
	}
}

// Close, Shutdown, CloseSocket and Conn.Close called from a TLS callback
// of a TLS 1.2 renegotiation the server asks for (TLSConfig with
// Renegotiation set, or an adopted *tls.Conn), which Go runs inside Read
// on the socket's reader goroutine, return: Close, and Shutdown, which
// ends with it, waited for every socket goroutine, the one they were
// called on among them (found in review).
func TestCloseFromRenegotiationCallback(t *testing.T) {
	for _, how := range []string{"OpenSecure", "Secure", "Adopt"} {
		for _, name := range []string{"Close", "Shutdown", "CloseSocket", "Conn.Close"} {
			closer := closers[name]
			t.Run(how+"/"+name, func(t *testing.T) {
				port, renegotiate := renegotiatingServer(t)
				// No t.Cleanup(reg.Close): after a deadlock it would hang too.
				reg, err := lcsock.NewRegistry(lcsock.Config{})
				require.NoError(t, err)
				id := "127.0.0.1:" + itoa(port) + "|reneg"
				var view *lcsock.Conn
				returned := make(chan struct{})
				var once sync.Once
				cfg := &tls.Config{
					InsecureSkipVerify: true, // for Adopt; the verbs have Verify(false)
					Renegotiation:      tls.RenegotiateOnceAsClient,
					GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
						once.Do(func() {
							closer(reg, id, view)
							close(returned)
						})
						return &tls.Certificate{}, nil
					},
				}
				dial := func() net.Conn { return dialListening(t, port) }
				rec := &lcsocktest.Recorder{}
				switch how {
				case "OpenSecure":
					c := dial() // s_server is up
					c.Close()
					// -naccept 1 counts that connection: s_server was
					// started with room for one more below.
					require.NoError(t, reg.OpenSecure(id, rec, lcsock.Verify(false), lcsock.TLSConfig(cfg), lcsock.WithMessage("ok")))
					rec.WaitFor(t, lcsock.EventConnected, id, wait)
				case "Secure":
					// A plain socket to a relay in front of s_server,
					// upgraded in place.
					ln, err := net.Listen("tcp", "127.0.0.1:0")
					require.NoError(t, err)
					defer ln.Close()
					up := dial()
					defer up.Close()
					go func() {
						c, err := ln.Accept()
						if err != nil {
							return
						}
						defer c.Close()
						go io.Copy(up, c)
						io.Copy(c, up)
					}()
					id = ln.Addr().String() + "|reneg"
					require.NoError(t, reg.Open(id, rec, lcsock.WithMessage("ok")))
					rec.WaitFor(t, lcsock.EventConnected, id, wait)
					require.NoError(t, reg.Secure(id, lcsock.Verify(false), lcsock.TLSConfig(cfg)))
					eventually(t, "the upgrade", func() bool { _, err := reg.TLSState(id); return err == nil })
				case "Adopt":
					tc := tls.Client(dial(), cfg)
					require.NoError(t, tc.HandshakeContext(ctxWait(t)))
					_, err := reg.Adopt(id, tc, rec)
					require.NoError(t, err)
				}
				view, err = reg.Conn(id)
				require.NoError(t, err)
				renegotiate()
				select {
				case <-returned:
				case <-time.After(wait):
					t.Fatalf("%s called from a renegotiation callback never returned", name)
				}
				eventually(t, "the socket to close", func() bool { return len(reg.OpenSockets()) == 0 })
				require.NoError(t, reg.Close())
			})
		}
	}
}
