package lcsock_test

import (
	"io"
	"net"
	"testing"

	"github.com/lcsock/lcsock"
	"github.com/stretchr/testify/require"
)

// A Conn whose socket was closed locally by other means than its own
// Close — CloseSocket, Registry.Close, another view's Close — is a
// closed net.Conn: Read, Write and CloseWrite fail with errors matching
// net.ErrClosed, as a blocked Read does at the close. They returned
// "socket is not open", which matches neither net.ErrClosed nor io.EOF,
// so code that ends its loop quietly on net.ErrClosed reported a failure
// (found in review).
func TestConnAfterLocalClose(t *testing.T) {
	for _, how := range []string{"CloseSocket", "Registry.Close", "other view"} {
		t.Run(how, func(t *testing.T) {
			reg, _ := newReg(t, lcsock.Config{})
			id, _, c := openConnView(t, reg)
			switch how {
			case "CloseSocket":
				require.NoError(t, reg.CloseSocket(id))
			case "Registry.Close":
				require.NoError(t, reg.Close())
			case "other view":
				other, err := reg.Conn(id)
				require.NoError(t, err)
				require.NoError(t, other.Close())
			}
			_, err := c.Read(make([]byte, 4))
			require.ErrorIs(t, err, net.ErrClosed)
			require.NotErrorIs(t, err, io.EOF)
			_, err = c.Write([]byte("x"))
			require.ErrorIs(t, err, net.ErrClosed)
			require.ErrorIs(t, c.CloseWrite(), net.ErrClosed)
		})
	}
}
