package lcsock_test

import (
	"strings"
	"testing"

	"github.com/lcsock/lcsock"
	"github.com/lcsock/lcsock/lcsocktest"
	"github.com/stretchr/testify/require"
)

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
