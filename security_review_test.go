package lcsock_test

import (
	"crypto/tls"
	"net"
	"testing"

	"github.com/lcsock/lcsock"
	"github.com/lcsock/lcsock/lcsocktest"
	"github.com/stretchr/testify/require"
)

// tls11Client handshakes with addr offering TLS 1.0 and 1.1 only, and
// returns the handshake's error.
func tls11Client(t *testing.T, addr string) error {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11})
	return tc.HandshakeContext(ctxWait(t))
}

// TLS 1.2 is the minimum on every path, even when a TLSConfig asks for
// less (README, Security) — including a TLSConfig whose
// GetConfigForClient returns the configuration of the handshake, which
// the server then uses instead: AcceptSecure took TLS 1.1 from it
// (found in the security review).
func TestTLSMinimumEveryPath(t *testing.T) {
	cert, key := lcsocktest.SelfSigned(t, "localhost")
	pair, err := tls.X509KeyPair(cert, key)
	require.NoError(t, err)
	old := &tls.Config{MinVersion: tls.VersionTLS10}
	reg, rec := newReg(t, lcsock.Config{})

	t.Run("AcceptSecure", func(t *testing.T) {
		port, srv := tlsEchoServer(t, reg, cert, key, lcsock.TLSConfig(old))
		require.Error(t, tls11Client(t, "127.0.0.1:"+itoa(port)))
		require.Zero(t, srv.Count(lcsock.EventAccepted, ""))
	})
	t.Run("AcceptSecure GetConfigForClient", func(t *testing.T) {
		port, srv := tlsEchoServer(t, reg, cert, key, lcsock.TLSConfig(&tls.Config{
			GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
				return &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS10}, nil
			},
		}))
		require.Error(t, tls11Client(t, "127.0.0.1:"+itoa(port)))
		require.Zero(t, srv.Count(lcsock.EventAccepted, ""))
	})
	t.Run("Secure AsServer", func(t *testing.T) {
		p := newPeer(t)
		id := p.id("srv")
		c := openConnected(t, reg, rec, p, id)
		require.NoError(t, reg.Secure(id, lcsock.AsServer(string(cert), string(key)), lcsock.TLSConfig(old)))
		tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11})
		require.Error(t, tc.HandshakeContext(ctxWait(t)))
		require.ErrorIs(t, rec.WaitFor(t, lcsock.EventError, id, wait).Err, lcsock.ErrHandshake)
	})
	// The client paths: a server that speaks TLS 1.1 at most is refused,
	// with Verify(false) too.
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11})
	require.NoError(t, err)
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { c.(*tls.Conn).Handshake(); c.Close() }()
		}
	}()
	t.Run("OpenSecure", func(t *testing.T) {
		id := ln.Addr().String() + "|old"
		require.NoError(t, reg.OpenSecure(id, nil, lcsock.WithMessage("ok"), lcsock.Verify(false), lcsock.TLSConfig(old)))
		require.ErrorIs(t, rec.WaitFor(t, lcsock.EventError, id, wait).Err, lcsock.ErrHandshake)
		require.Zero(t, rec.Count(lcsock.EventConnected, id))
	})
}

// RequireClientCert holds even when the TLSConfig's GetConfigForClient
// returns the configuration of the handshake: that configuration had no
// ClientAuth, so AcceptSecure announced a client without a certificate
// (found in the security review).
func TestRequireClientCertWithGetConfigForClient(t *testing.T) {
	ca := lcsocktest.NewCA(t)
	scert, skey := ca.Issue(t, "localhost")
	pair, err := tls.X509KeyPair(scert, skey)
	require.NoError(t, err)
	reg, _ := newReg(t, lcsock.Config{})
	port, srv := tlsEchoServer(t, reg, scert, skey, lcsock.RequireClientCert(ca.Pool()), lcsock.TLSConfig(&tls.Config{
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return &tls.Config{Certificates: []tls.Certificate{pair}}, nil
		},
	}))
	c, err := net.Dial("tcp", "127.0.0.1:"+itoa(port))
	require.NoError(t, err)
	defer c.Close()
	tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true}) // no client certificate
	ctx := ctxWait(t)
	if err := tc.HandshakeContext(ctx); err == nil {
		// TLS 1.3: the server's refusal comes after the client's
		// handshake, as an alert on the first read.
		_, err = tc.Write([]byte("x"))
		require.NoError(t, err)
		if dl, ok := ctx.Deadline(); ok {
			tc.SetReadDeadline(dl)
		}
		buf := make([]byte, 1)
		_, err = tc.Read(buf)
		require.Error(t, err, "a client without a certificate was served")
	}
	require.Zero(t, srv.Count(lcsock.EventAccepted, ""))
}

// A proxy URL whose password holds an unescaped '/', '?', '#' or '%'
// does not parse, and the parser's error quoted part of the password
// ("invalid port \":s3cr\" after host") in the verb's error (found in
// the security review).
func TestProxyParseErrorHidesPassword(t *testing.T) {
	reg, _ := newReg(t, lcsock.Config{})
	for _, u := range []string{
		"http://bob:s3cr/et@proxy.test:3128",
		"socks5://bob:s3cr?et@proxy.test:1080",
		"http://bob:s3cr#et@proxy.test:3128",
		"http://bob:s3cr%zzet@proxy.test:3128",
	} {
		err := reg.Open("y.test:1", nil, lcsock.Proxy(u))
		require.ErrorIs(t, err, lcsock.ErrBadProxy, u)
		require.NotContains(t, err.Error(), "s3cr", u)
		require.NotContains(t, err.Error(), "%zz", u)
	}
	require.Empty(t, reg.OpenSockets())
}
