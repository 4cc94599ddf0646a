package lcsock_test

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/lcsock/lcsock"
	"github.com/lcsock/lcsock/lcsocktest"
	"github.com/stretchr/testify/require"
)

// A certificate folder laid out as OpenSSL's c_rehash makes it — hashed
// symbolic links to the certificate files, as LiveCode's sslCertificates
// folders are — is read: the links were skipped as not regular files,
// and a verified open through such a folder failed with "unknown
// authority" (found in review).
func TestCertificateFolderOfSymlinks(t *testing.T) {
	ca := lcsocktest.NewCA(t)
	cert, key := ca.Issue(t, "localhost")
	store := lcsocktest.WriteFile(t, t.TempDir(), "ca.pem", ca.CertPEM)
	dir := t.TempDir()
	if err := os.Symlink(store, filepath.Join(dir, "5a4d3c2b.0")); err != nil {
		t.Skip("no symbolic links here:", err)
	}
	reg, rec := newReg(t, lcsock.Config{})
	reg.SetCertificates([]string{dir})
	port, _ := tlsEchoServer(t, reg, cert, key)
	id := "localhost:" + itoa(port)
	require.NoError(t, reg.OpenSecure(id, nil, lcsock.WithMessage("ok")))
	ev, ok := rec.Next(lcsock.EventConnected, id, wait)
	require.True(t, ok, "%v", rec.Events())
	require.Equal(t, "ok", ev.Name)
}

// Case 93: Secure on a socket that is already secure changes nothing and
// is no error — even when the certificate list has become unreadable or
// the options name files that do not exist: it used to build (and read)
// the TLS configuration before seeing that the socket was secure, and
// failed with ErrCertificates (found in review).
func TestSecureAlreadySecureReadsNothing(t *testing.T) {
	ca := lcsocktest.NewCA(t)
	cert, key := ca.Issue(t, "localhost")
	reg, rec := newReg(t, lcsock.Config{})
	reg.SetCertificates([]string{caFile(t, ca)})
	port, srv := tlsEchoServer(t, reg, cert, key)
	id := "localhost:" + itoa(port)
	require.NoError(t, reg.OpenSecure(id, nil, lcsock.WithMessage("ok")))
	rec.WaitFor(t, lcsock.EventConnected, id, wait)
	reg.SetCertificates([]string{filepath.Join(t.TempDir(), "gone.pem")})
	require.NoError(t, reg.Secure(id))
	require.NoError(t, reg.Secure(id, lcsock.ClientCert("/nonexistent/c.pem", "/nonexistent/k.pem")))
	require.NoError(t, reg.Secure(id, lcsock.AsServer("/nonexistent/c.pem", "/nonexistent/k.pem")))
	acc := srv.WaitFor(t, lcsock.EventAccepted, "", wait).Socket // AcceptSecure's side
	require.NoError(t, reg.Secure(acc))
	_, err := reg.TLSState(id)
	require.NoError(t, err)
}

// Secure on a socket that cannot take it — its write side closed by
// CloseWrite, or failed with input still buffered for reads — says so
// as an error of "secure": it was the queue's error, named "write" (found
// in review).
func TestSecureRefusedSaysSecure(t *testing.T) {
	reg, id, _ := openForUpgrade(t)
	require.NoError(t, reg.CloseWrite(id))
	err := reg.Secure(id, lcsock.Verify(false))
	require.ErrorIs(t, err, lcsock.ErrClosed)
	var oe *lcsock.OpError
	require.ErrorAs(t, err, &oe)
	require.Equal(t, "secure", oe.Op, "%v", err)
}

// A base TLSConfig with InsecureSkipVerify does not turn verification
// off: only Verify(false) does, as the README's security section says.
// The clone kept it, so OpenSecure — even with an explicit Verify(true)
// — connected to a self-signed server (found in review).
func TestBaseConfigCannotSkipVerification(t *testing.T) {
	cert, key := lcsocktest.SelfSigned(t, "localhost")
	reg, rec := newReg(t, lcsock.Config{})
	port, _ := tlsEchoServer(t, reg, cert, key)
	base := &tls.Config{InsecureSkipVerify: true}
	for i, opts := range [][]lcsock.Option{
		{lcsock.TLSConfig(base)},
		{lcsock.Verify(true), lcsock.TLSConfig(base)},
	} {
		id := "localhost:" + itoa(port) + "|" + itoa(i)
		require.NoError(t, reg.OpenSecure(id, nil, append(opts, lcsock.WithMessage("ok"))...))
		ev := rec.WaitFor(t, lcsock.EventError, id, wait)
		require.ErrorIs(t, ev.Err, lcsock.ErrHandshake)
		var ua x509.UnknownAuthorityError
		require.ErrorAs(t, ev.Err, &ua)
		require.Zero(t, rec.Count(lcsock.EventConnected, id))
	}
	require.True(t, base.InsecureSkipVerify, "the caller's config is not changed")
}

// TLSState while a secure socket's handshake has not completed says so;
// it said only "socket is not secure", as for a plain socket (review T).
func TestTLSStateBeforeHandshakeSaysSo(t *testing.T) {
	reg, _ := newReg(t, lcsock.Config{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	id := ln.Addr().String()
	require.NoError(t, reg.OpenSecure(id, nil))
	c, err := ln.Accept() // says nothing: the handshake waits
	require.NoError(t, err)
	defer c.Close()
	_, err = reg.TLSState(id)
	require.ErrorIs(t, err, lcsock.ErrNotSecure)
	require.ErrorContains(t, err, "handshake has not completed")
}
