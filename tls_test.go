package lcsock_test

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net"
	"os/exec"
	"testing"
	"time"

	"github.com/lcsock/lcsock"
	"github.com/lcsock/lcsock/lcsocktest"
	"github.com/stretchr/testify/require"
)

// tlsEchoServer starts an AcceptSecure echo server in reg with a
// certificate for hosts issued by ca, and returns its port and recorder.
func tlsEchoServer(t *testing.T, reg *lcsock.Registry, certPEM, keyPEM []byte, opts ...lcsock.Option) (int, *lcsocktest.Recorder) {
	t.Helper()
	rec := echoRecorder(reg)
	port, err := reg.AcceptSecure(0, rec, "onConn", string(certPEM), string(keyPEM), opts...)
	require.NoError(t, err)
	return port, rec
}

func caFile(t *testing.T, ca *lcsocktest.CA) string {
	return lcsocktest.WriteFile(t, t.TempDir(), "ca.pem", ca.CertPEM)
}

// Case 86: verified open with the CA in the certificate list; secure
// accept and secure open in one registry; writes made during the
// handshake go out encrypted after it.
func TestCase86VerifiedOpen(t *testing.T) {
	ca := lcsocktest.NewCA(t)
	cert, key := ca.Issue(t, "localhost")
	reg, rec := newReg(t, lcsock.Config{})
	reg.SetCertificates([]string{caFile(t, ca)})
	port, srv := tlsEchoServer(t, reg, cert, key)
	id := "localhost:" + itoa(port) + "|tls"
	require.NoError(t, reg.OpenSecure(id, nil, lcsock.WithMessage("ok")))
	require.NoError(t, reg.WriteWithMessage(id, []byte("during handshake\n"), nil, "")) // queued
	ev := rec.WaitFor(t, lcsock.EventConnected, id, wait)
	require.Equal(t, "ok", ev.Name)
	got, err := reg.Read(ctxWait(t), id, lcsock.Until("\n"))
	require.NoError(t, err)
	require.Equal(t, "during handshake\n", string(got))
	st, err := reg.TLSState(id)
	require.NoError(t, err)
	require.GreaterOrEqual(t, st.Version, uint16(tls.VersionTLS12))
	require.Equal(t, "localhost", st.PeerCertificates[0].Subject.CommonName)
	require.NotZero(t, st.CipherSuite)
	acc := srv.WaitFor(t, lcsock.EventAccepted, "", wait).Socket
	_, err = reg.TLSState(acc)
	require.NoError(t, err)
}

// Case 87: a self-signed server fails verification: one socketError that
// says why, no connected event, and the ID leaves OpenSockets.
func TestCase87UnknownAuthority(t *testing.T) {
	cert, key := lcsocktest.SelfSigned(t, "localhost")
	reg, rec := newReg(t, lcsock.Config{})
	port, _ := tlsEchoServer(t, reg, cert, key)
	id := "localhost:" + itoa(port)
	require.NoError(t, reg.OpenSecure(id, nil, lcsock.WithMessage("ok")))
	ev := rec.WaitFor(t, lcsock.EventError, id, wait)
	require.ErrorIs(t, ev.Err, lcsock.ErrHandshake)
	var ua x509.UnknownAuthorityError
	require.ErrorAs(t, ev.Err, &ua)
	require.Contains(t, ev.Params()[1], "unknown authority")
	barrier(t, reg, rec)
	require.Zero(t, rec.Count(lcsock.EventConnected, id))
	require.Equal(t, 1, rec.Count(lcsock.EventError, id))
	require.NotContains(t, reg.OpenSockets(), id)
}

// Case 88: without verification a self-signed server works.
func TestCase88WithoutVerification(t *testing.T) {
	cert, key := lcsocktest.SelfSigned(t, "localhost")
	reg, rec := newReg(t, lcsock.Config{})
	port, _ := tlsEchoServer(t, reg, cert, key)
	id := "127.0.0.1:" + itoa(port)
	require.NoError(t, reg.OpenSecure(id, nil, lcsock.WithMessage("ok"), lcsock.Verify(false)))
	rec.WaitFor(t, lcsock.EventConnected, id, wait)
	_, err := reg.Write(ctxWait(t), id, []byte("x"))
	require.NoError(t, err)
	got, err := reg.Read(ctxWait(t), id, lcsock.For(1, lcsock.Chars))
	require.NoError(t, err)
	require.Equal(t, "x", string(got))
}

// Case 89: VerifyHost checks (and sends as SNI) another name than the
// dialled host.
func TestCase89VerifyHost(t *testing.T) {
	ca := lcsocktest.NewCA(t)
	cert, key := ca.Issue(t, "real.example")
	reg, rec := newReg(t, lcsock.Config{})
	reg.SetCertificates([]string{caFile(t, ca)})
	var sni string
	port, _ := tlsEchoServer(t, reg, cert, key, lcsock.TLSConfig(&tls.Config{
		GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) { sni = hello.ServerName; return nil, nil },
	}))
	id := "127.0.0.1:" + itoa(port)
	require.NoError(t, reg.OpenSecure(id, nil, lcsock.WithMessage("ok"), lcsock.VerifyHost("real.example")))
	rec.WaitFor(t, lcsock.EventConnected, id, wait)
	require.Equal(t, "real.example", sni)
}

// Case 90: a certificate for another name is refused.
func TestCase90NameMismatch(t *testing.T) {
	ca := lcsocktest.NewCA(t)
	cert, key := ca.Issue(t, "localhost")
	reg, rec := newReg(t, lcsock.Config{})
	reg.SetCertificates([]string{caFile(t, ca)})
	port, _ := tlsEchoServer(t, reg, cert, key)
	id := "127.0.0.1:" + itoa(port)
	require.NoError(t, reg.OpenSecure(id, nil, lcsock.WithMessage("ok")))
	ev := rec.WaitFor(t, lcsock.EventError, id, wait)
	require.ErrorIs(t, ev.Err, lcsock.ErrHandshake)
	var he x509.HostnameError
	require.ErrorAs(t, ev.Err, &he)
	require.Contains(t, ev.Params()[1], "TLS handshake failed: ") // README: Go's reason, not "application verification failure"
	barrier(t, reg, rec)
	require.Zero(t, rec.Count(lcsock.EventConnected, id))
	require.Equal(t, 1, rec.Count(lcsock.EventError, id))
	require.NotContains(t, reg.OpenSockets(), id)
}

// An expired certificate is refused, and the message says so.
func TestExpiredCertificate(t *testing.T) {
	ca := lcsocktest.NewCA(t)
	cert, key := ca.IssueExpired(t, "localhost")
	reg, rec := newReg(t, lcsock.Config{})
	reg.SetCertificates([]string{caFile(t, ca)})
	port, _ := tlsEchoServer(t, reg, cert, key)
	id := "localhost:" + itoa(port)
	require.NoError(t, reg.OpenSecure(id, nil))
	ev := rec.WaitFor(t, lcsock.EventError, id, wait)
	require.Contains(t, ev.Params()[1], "expired")
}

// Case 91 (quirk not copied): an unreadable certificate list does not
// break unverified opens; verified opens fail at once naming the path.
func TestCase91BadCertificateList(t *testing.T) {
	cert, key := lcsocktest.SelfSigned(t, "localhost")
	reg, rec := newReg(t, lcsock.Config{Certificates: []string{"/nonexistent.pem"}})
	port, _ := tlsEchoServer(t, reg, cert, key)
	id := "127.0.0.1:" + itoa(port)
	err := reg.OpenSecure(id, nil)
	require.ErrorIs(t, err, lcsock.ErrCertificates)
	require.Contains(t, err.Error(), "/nonexistent.pem")
	require.Empty(t, reg.OpenSockets()[1:])
	require.NoError(t, reg.OpenSecure(id, nil, lcsock.Verify(false), lcsock.WithMessage("ok")))
	rec.WaitFor(t, lcsock.EventConnected, id, wait)
	// A folder entry adds every certificate in it; a file with no
	// certificate is an error.
	ca := lcsocktest.NewCA(t)
	dir := t.TempDir()
	lcsocktest.WriteFile(t, dir, "a.pem", ca.CertPEM)
	lcsocktest.WriteFile(t, dir, "notes.txt", []byte("not a certificate"))
	reg.SetCertificates([]string{dir})
	cert2, key2 := ca.Issue(t, "localhost")
	port2, _ := tlsEchoServer(t, reg, cert2, key2)
	require.NoError(t, reg.OpenSecure("localhost:"+itoa(port2), nil, lcsock.WithMessage("ok")))
	rec.WaitFor(t, lcsock.EventConnected, "localhost:"+itoa(port2), wait)
	reg.SetCertificates([]string{lcsocktest.WriteFile(t, dir, "empty.pem", []byte("nothing"))})
	require.ErrorIs(t, reg.OpenSecure("localhost:"+itoa(port2)+"|b", nil), lcsock.ErrCertificates)
}

// Client certificates: required by the server, and sent by ClientCert
// (PEM data or file names).
func TestClientCertificate(t *testing.T) {
	ca := lcsocktest.NewCA(t)
	scert, skey := ca.Issue(t, "localhost")
	ccert, ckey := ca.Issue(t, "client")
	reg, rec := newReg(t, lcsock.Config{})
	reg.SetCertificates([]string{caFile(t, ca)})
	port, srv := tlsEchoServer(t, reg, scert, skey, lcsock.RequireClientCert(ca.Pool()))
	dir := t.TempDir()
	id := "localhost:" + itoa(port) + "|withcert"
	require.NoError(t, reg.OpenSecure(id, nil, lcsock.WithMessage("ok"),
		lcsock.ClientCert(lcsocktest.WriteFile(t, dir, "c.pem", ccert), string(ckey))))
	rec.WaitFor(t, lcsock.EventConnected, id, wait)
	acc := srv.WaitFor(t, lcsock.EventAccepted, "", wait).Socket
	st, err := reg.TLSState(acc)
	require.NoError(t, err)
	require.Equal(t, "client", st.PeerCertificates[0].Subject.CommonName)

	// Without a client certificate the server refuses: the connection is
	// never announced and the client's socket fails.
	id2 := "localhost:" + itoa(port) + "|nocert"
	require.NoError(t, reg.OpenSecure(id2, nil))
	require.NoError(t, reg.ReadWithMessage(id2, lcsock.Available(), nil, "x"))
	ev := rec.WaitFor(t, lcsock.EventError, id2, wait)
	require.Error(t, ev.Err)
	require.Equal(t, 1, srv.Count(lcsock.EventAccepted, ""))
	require.ErrorIs(t, reg.OpenSecure(id2, nil, lcsock.ClientCert("/no/such.pem", "/no/such.key")), lcsock.ErrCertificates)
}

// Pinning the server's public key, on top of or instead of CA checks.
func TestPinning(t *testing.T) {
	cert, key := lcsocktest.SelfSigned(t, "localhost")
	block, _ := pem.Decode(cert)
	parsed, err := x509.ParseCertificate(block.Bytes)
	require.NoError(t, err)
	reg, rec := newReg(t, lcsock.Config{})
	port, _ := tlsEchoServer(t, reg, cert, key, lcsock.ALPN("lc/1", "h2"))
	id := "localhost:" + itoa(port)
	require.NoError(t, reg.OpenSecure(id, nil, lcsock.WithMessage("ok"), lcsock.Verify(false),
		lcsock.PinSHA256(lcsock.SPKIHash(parsed)), lcsock.ALPN("lc/1")))
	rec.WaitFor(t, lcsock.EventConnected, id, wait)
	st, err := reg.TLSState(id)
	require.NoError(t, err)
	require.Equal(t, "lc/1", st.NegotiatedProtocol)

	id2 := id + "|wrongpin"
	require.NoError(t, reg.OpenSecure(id2, nil, lcsock.Verify(false), lcsock.PinSHA256([32]byte{1})))
	ev := rec.WaitFor(t, lcsock.EventError, id2, wait)
	require.ErrorIs(t, ev.Err, lcsock.ErrPinMismatch)
}

// HandshakeTimeout bounds a handshake with a server that never answers.
func TestHandshakeTimeout(t *testing.T) {
	p := newPeer(t)
	reg, rec := newReg(t, lcsock.Config{})
	id := p.id("silent")
	require.NoError(t, reg.OpenSecure(id, nil, lcsock.HandshakeTimeout(50*time.Millisecond)))
	p.accept() // accepts and never speaks
	ev := rec.WaitFor(t, lcsock.EventError, id, wait)
	require.ErrorIs(t, ev.Err, lcsock.ErrHandshake)
	require.Zero(t, rec.Count(lcsock.EventConnected, id))
}

// Options that belong to other verbs are refused.
func TestTLSOptionsPerVerb(t *testing.T) {
	reg, _ := newReg(t, lcsock.Config{})
	require.Error(t, reg.Open("127.0.0.1:1", nil, lcsock.Verify(false)))
	_, err := reg.Accept(0, nil, "x", lcsock.RequireClientCert(nil))
	require.Error(t, err)
	_, err = reg.AcceptSecure(0, nil, "x", "no cert", "no key")
	require.ErrorIs(t, err, lcsock.ErrCertificates)
}

// Cases 92, 93, 94: STARTTLS. Writes queued before Secure go in the
// clear, writes after it encrypted; data before and after flows; a second
// Secure is a no-op; an unknown ID is an error.
func TestCase92To94StartTLS(t *testing.T) {
	ca := lcsocktest.NewCA(t)
	cert, key := ca.Issue(t, "127.0.0.1")
	pair, err := tls.X509KeyPair(cert, key)
	require.NoError(t, err)
	p := newPeer(t)
	reg, rec := newReg(t, lcsock.Config{})
	id := p.id("starttls")
	c := openConnected(t, reg, rec, p, id)

	serverDone := make(chan error, 1)
	go func() { // a server speaking a STARTTLS protocol
		serverDone <- func() error {
			c.Write([]byte("220 ready\r\n"))
			br := bufio.NewReader(c)
			line, err := br.ReadString('\n')
			if err != nil || line != "STARTTLS\r\n" {
				return err
			}
			c.Write([]byte("220 go ahead\r\n"))
			tc := tls.Server(&bufConn{c, br}, &tls.Config{Certificates: []tls.Certificate{pair}})
			if err := tc.Handshake(); err != nil {
				return err
			}
			buf := make([]byte, 6)
			if _, err := io.ReadFull(tc, buf); err != nil || string(buf) != "secret" {
				return err
			}
			_, err = tc.Write([]byte("encrypted reply\n"))
			return err
		}()
	}()
	got, err := reg.Read(ctxWait(t), id, lcsock.Until("\r\n"))
	require.NoError(t, err)
	require.Equal(t, "220 ready\r\n", string(got))
	require.NoError(t, reg.WriteWithMessage(id, []byte("STARTTLS\r\n"), nil, ""))
	got, err = reg.Read(ctxWait(t), id, lcsock.Until("\r\n"))
	require.NoError(t, err)
	require.Equal(t, "220 go ahead\r\n", string(got))
	reg.SetCertificates([]string{caFile(t, ca)})
	require.NoError(t, reg.ReadWithMessage(id, lcsock.Until("\n"), nil, "reply")) // continues on the secure stream
	require.NoError(t, reg.Secure(id))
	require.NoError(t, reg.Secure(id)) // case 93: no-op
	require.NoError(t, reg.WriteWithMessage(id, []byte("secret"), nil, "sent"))
	ev := rec.WaitFor(t, lcsock.EventRead, id, wait)
	require.Equal(t, "encrypted reply\n", string(ev.Data))
	require.NoError(t, <-serverDone)
	st, err := reg.TLSState(id)
	require.NoError(t, err)
	require.NotZero(t, st.Version)
	require.ErrorIs(t, reg.Secure("nope:1"), lcsock.ErrSocketNotOpen) // case 94
}

// bufConn reads through a bufio.Reader that may hold bytes already read.
type bufConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// Case 95 and injected plaintext: the peer answers STARTTLS with
// plaintext instead of a handshake; the upgrade fails with one socketError
// to the socket's owner, and the plaintext never reaches a read.
func TestCase95UpgradeFailsOnInjectedPlaintext(t *testing.T) {
	p := newPeer(t)
	reg, owner := newReg(t, lcsock.Config{})
	other := &lcsocktest.Recorder{}
	id := p.id("inject")
	c := openConnected(t, reg, owner, p, id)
	require.NoError(t, reg.ReadWithMessage(id, lcsock.Available(), other, "got"))
	require.NoError(t, reg.Secure(id, lcsock.Verify(false)))
	c.Write([]byte("HTTP/1.0 200 OK\r\n\r\ninjected plaintext, not TLS\r\n"))
	ev := owner.WaitFor(t, lcsock.EventError, id, wait)
	require.ErrorIs(t, ev.Err, lcsock.ErrHandshake)
	barrier(t, reg, owner)
	for _, e := range other.Events() {
		require.NotContains(t, string(e.Data), "injected")
	}
	require.Zero(t, other.Count(lcsock.EventError, ""))
}

// Secure in the server role: a ClientHello that arrived before Secure
// was called is handed to the TLS engine, not to a plaintext read.
func TestSecureServerEarlyClientHello(t *testing.T) {
	ca := lcsocktest.NewCA(t)
	cert, key := ca.Issue(t, "localhost")
	reg, rec := newReg(t, lcsock.Config{})
	port, err := reg.Accept(0, nil, "onConn")
	require.NoError(t, err)
	clientDone := make(chan error, 1)
	go func() {
		clientDone <- func() error {
			c, err := net.Dial("tcp", "127.0.0.1:"+itoa(port))
			if err != nil {
				return err
			}
			defer c.Close()
			c.Write([]byte("STARTTLS\n")) // and the ClientHello right behind it
			tc := tls.Client(c, &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost"})
			if err := tc.Handshake(); err != nil {
				return err
			}
			if _, err := tc.Write([]byte("hello over tls\n")); err != nil {
				return err
			}
			line, err := bufio.NewReader(tc).ReadString('\n')
			if err == nil && line != "welcome\n" {
				err = io.ErrUnexpectedEOF
			}
			return err
		}()
	}()
	acc := rec.WaitFor(t, lcsock.EventAccepted, "", wait).Socket
	got, err := reg.Read(ctxWait(t), acc, lcsock.Until("\n"))
	require.NoError(t, err)
	require.Equal(t, "STARTTLS\n", string(got))
	// Wait until the ClientHello is buffered, so it surely arrived early.
	for {
		st, err := reg.Stats(acc)
		require.NoError(t, err)
		if st.Buffered > 0 {
			break
		}
		runtime_Gosched()
	}
	require.NoError(t, reg.Secure(acc, lcsock.AsServer(string(cert), string(key))))
	got, err = reg.Read(ctxWait(t), acc, lcsock.Until("\n"))
	require.NoError(t, err)
	require.Equal(t, "hello over tls\n", string(got))
	_, werr := reg.Write(ctxWait(t), acc, []byte("welcome\n"))
	cerr := <-clientDone
	require.NoError(t, werr, "%v client: %v", rec.Events(), cerr)
	require.NoError(t, cerr)
}

// Interop with real OpenSSL: s_server as the server of OpenSecure, and
// s_client as the client of AcceptSecure.
func TestInteropOpenSSL(t *testing.T) {
	openssl := tool(t, "openssl")
	ca := lcsocktest.NewCA(t)
	cert, key := ca.Issue(t, "localhost")
	dir := t.TempDir()
	certFile := lcsocktest.WriteFile(t, dir, "cert.pem", cert)
	keyFile := lcsocktest.WriteFile(t, dir, "key.pem", key)
	cafile := lcsocktest.WriteFile(t, dir, "ca.pem", ca.CertPEM)

	t.Run("s_server", func(t *testing.T) {
		probe, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		port := probe.Addr().(*net.TCPAddr).Port
		probe.Close()
		srv := exec.Command(openssl, "s_server", "-accept", "127.0.0.1:"+itoa(port), "-cert", certFile, "-key", keyFile, "-rev", "-naccept", "1")
		srv.Stdout, srv.Stderr = io.Discard, io.Discard
		require.NoError(t, srv.Start())
		defer srv.Wait()
		defer srv.Process.Kill()
		reg, rec := newReg(t, lcsock.Config{Certificates: []string{cafile}})
		id := "localhost:" + itoa(port) + "|openssl"
		for { // s_server may not be listening yet
			require.NoError(t, reg.OpenSecure(id, nil, lcsock.WithMessage("ok")))
			if _, ok := rec.Next(lcsock.EventConnected, id, 200*time.Millisecond); ok {
				break
			}
			ev := rec.WaitFor(t, lcsock.EventError, id, wait)
			require.ErrorIs(t, ev.Err, lcsock.ErrConnect)
		}
		_, err = reg.Write(ctxWait(t), id, []byte("hello openssl\n"))
		require.NoError(t, err)
		got, err := reg.Read(ctxWait(t), id, lcsock.Until("\n"))
		require.NoError(t, err)
		require.Equal(t, "lssnepo olleh\n", string(got)) // -rev sends each line reversed
	})

	t.Run("s_client", func(t *testing.T) {
		reg, _ := newReg(t, lcsock.Config{})
		port, srv := tlsEchoServer(t, reg, cert, key)
		cmd := exec.Command(openssl, "s_client", "-connect", "127.0.0.1:"+itoa(port), "-servername", "localhost",
			"-CAfile", cafile, "-verify_return_error", "-brief")
		stdin, err := cmd.StdinPipe()
		require.NoError(t, err)
		stdout, err := cmd.StdoutPipe()
		require.NoError(t, err)
		stderr := &lockedBuffer{}
		cmd.Stderr = stderr
		require.NoError(t, cmd.Start())
		exited := make(chan error, 1)
		defer func() { <-exited }()
		defer cmd.Process.Kill()
		stdin.Write([]byte("ping from openssl\n"))
		lines := make(chan string, 1)
		go func() {
			line, _ := bufio.NewReader(stdout).ReadString('\n')
			lines <- line
			io.Copy(io.Discard, stdout) // Wait must not close stdout under this reader
			exited <- cmd.Wait()
		}()
		select {
		case line := <-lines:
			require.Equal(t, "ping from openssl\n", line, stderr.String())
		case <-time.After(wait):
			t.Fatalf("no echo from s_client; stderr: %s", stderr.String())
		}
		stdin.Close()
		srv.WaitFor(t, lcsock.EventAccepted, "", wait)
		// s_client ends at the end of its input. Its report is complete in
		// stderr only once Wait has copied all of it: the echo can come back
		// while the copy is still behind (1 failure in 200 under load).
		select {
		case <-exited:
			exited <- nil // for the deferred receive
		case <-time.After(wait):
			t.Fatalf("s_client did not end at the end of its input; stderr: %s", stderr.String())
		}
		require.Contains(t, stderr.String(), "Verification: OK") // s_client verified our certificate
	})
}

// VerifyHost with an internationalised name sends and checks its ASCII
// ("xn--") form, the form certificates carry, as the host of an ID does:
// the name went out as written, in SNI and in the name check, and the
// certificate for "xn--bcher-kva.example" was refused (found in review).
// A name that has no ASCII form is refused by the verb.
func TestVerifyHostIDN(t *testing.T) {
	ca := lcsocktest.NewCA(t)
	cert, key := ca.Issue(t, "xn--bcher-kva.example")
	reg, rec := newReg(t, lcsock.Config{})
	reg.SetCertificates([]string{caFile(t, ca)})
	snis := make(chan string, 2)
	port, _ := tlsEchoServer(t, reg, cert, key, lcsock.TLSConfig(&tls.Config{
		GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) { snis <- hello.ServerName; return nil, nil },
	}))
	for i, name := range []string{"bücher.example", "BÜCHER.example", "xn--bcher-kva.example"} {
		id := "127.0.0.1:" + itoa(port) + "|" + itoa(i)
		require.NoError(t, reg.OpenSecure(id, nil, lcsock.WithMessage("ok"), lcsock.VerifyHost(name)))
		ev, ok := rec.Next(lcsock.EventConnected, id, wait)
		require.True(t, ok, "%s: %v", name, rec.Events())
		require.Equal(t, "ok", ev.Name)
		require.Equal(t, "xn--bcher-kva.example", <-snis, name)
	}

	for _, name := range []string{"bü＿cher.example", "a≠b.example", "\u0301x.example", "a b"} {
		id := "127.0.0.1:" + itoa(port) + "|bad"
		err := reg.OpenSecure(id, nil, lcsock.VerifyHost(name))
		require.ErrorIs(t, err, lcsock.ErrBadID, name)
		require.ErrorContains(t, err, "VerifyHost", name)
		require.NotContains(t, reg.OpenSockets(), id)
	}
}

// VerifyHost holds a name with a ':' to be an IP literal, as ParseID
// holds an ID's host: toASCIIHost passes any such name unchecked, taking
// it for an IP literal, so "bü:cher" went out as SNI as written and
// "a b:c" was taken (found in review). An IPv6 literal, bracketed or
// not, is still checked against the certificate's IP addresses.
func TestVerifyHostColon(t *testing.T) {
	ca := lcsocktest.NewCA(t)
	cert, key := ca.Issue(t, "::1")
	reg, rec := newReg(t, lcsock.Config{})
	reg.SetCertificates([]string{caFile(t, ca)})
	port, _ := tlsEchoServer(t, reg, cert, key)
	for i, name := range []string{"::1", "[::1]"} {
		id := "127.0.0.1:" + itoa(port) + "|" + itoa(i)
		require.NoError(t, reg.OpenSecure(id, nil, lcsock.WithMessage("ok"), lcsock.VerifyHost(name)))
		ev, ok := rec.Next(lcsock.EventConnected, id, wait)
		require.True(t, ok, "%s: %v", name, rec.Events())
		require.Equal(t, "ok", ev.Name)
	}
	for _, name := range []string{"bü:cher", "a≠b:c", "a b:1", "host:443", "[::1", "::1]", "[bü:cher]", "[fe80::1%a b]", "1.2.3.4:5"} {
		id := "127.0.0.1:" + itoa(port) + "|bad"
		err := reg.OpenSecure(id, nil, lcsock.VerifyHost(name))
		require.ErrorIs(t, err, lcsock.ErrBadID, name)
		require.ErrorContains(t, err, "VerifyHost", name)
		require.NotContains(t, reg.OpenSockets(), id)
	}
}

// On AcceptSecure, HandshakeTimeout closes a connection whose handshake
// does not finish, without an event (no socketError, as the option's doc
// said): nothing was announced. A negative timeout is refused.
func TestAcceptSecureHandshakeTimeoutSilent(t *testing.T) {
	ca := lcsocktest.NewCA(t)
	cert, key := ca.Issue(t, "127.0.0.1")
	reg, rec := newReg(t, lcsock.Config{})
	_, err := reg.AcceptSecure(0, nil, "acc", string(cert), string(key), lcsock.HandshakeTimeout(-time.Second))
	require.Error(t, err)
	port, err := reg.AcceptSecure(0, nil, "acc", string(cert), string(key), lcsock.HandshakeTimeout(50*time.Millisecond))
	require.NoError(t, err)
	c, err := net.Dial("tcp", "127.0.0.1:"+itoa(port))
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(wait)))
	_, err = c.Read(make([]byte, 1)) // never speaks: the server hangs up
	require.ErrorIs(t, err, io.EOF)
	require.Empty(t, rec.Events())
	require.Equal(t, []string{itoa(port)}, reg.OpenSockets())
}
