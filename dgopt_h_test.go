package lcsock_test

import (
	"crypto/tls"
	"errors"
	"net"
	"testing"

	"github.com/lcsock/lcsock"
	"github.com/stretchr/testify/require"
)

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
