package lcsock_test

import (
	"io"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/lcsock/lcsock"
	"github.com/lcsock/lcsock/lcsocktest"
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
			// As on a closed TCPConn, zero-length calls and deadlines
			// fail too; they returned nil.
			_, err = c.Read(nil)
			require.ErrorIs(t, err, net.ErrClosed)
			_, err = c.Write(nil)
			require.ErrorIs(t, err, net.ErrClosed)
			require.ErrorIs(t, c.SetDeadline(time.Now()), net.ErrClosed)
			require.ErrorIs(t, c.SetReadDeadline(time.Now()), net.ErrClosed)
			require.ErrorIs(t, c.SetWriteDeadline(time.Now()), net.ErrClosed)
		})
	}
}

// A Conn answers a peer that half-closed: after its Read returns io.EOF,
// Write still sends, as on a TCP net.Conn, until the Conn is closed. The
// socket closed itself once its socketClosed had been handled — at once
// without a handler — so the answer failed with "socket is not open",
// or went out or not depending on when the dispatcher ran (found in
// review). The ID still leaves OpenSockets after socketClosed.
func TestConnAnswersPeerHalfClose(t *testing.T) {
	for _, mode := range []string{"no handler", "handler"} {
		t.Run(mode, func(t *testing.T) {
			cfg := lcsock.Config{}
			rec := &lcsocktest.Recorder{}
			if mode == "handler" {
				// Pumped, so that the test knows when socketClosed has
				// been handled.
				cfg = lcsock.Config{Handler: rec, Dispatch: lcsock.DispatchPumped}
			}
			reg, err := lcsock.NewRegistry(cfg)
			require.NoError(t, err)
			t.Cleanup(func() { reg.Close() })
			id, peer, c := openConnView(t, reg)
			_, err = peer.Write([]byte("request"))
			require.NoError(t, err)
			require.NoError(t, peer.(*net.TCPConn).CloseWrite())
			got, err := io.ReadAll(c)
			require.NoError(t, err)
			require.Equal(t, "request", string(got))
			if mode == "handler" {
				ctx := ctxWait(t)
				for rec.Count(lcsock.EventClosed, id) == 0 {
					_, err := reg.Dispatch(ctx)
					require.NoError(t, err)
				}
			}
			// Without a handler the dispatcher still handles socketClosed
			// (removing the ID) after the Read has seen the end.
			eventually(t, "socketClosed handled: the ID is gone", func() bool {
				return !slices.Contains(reg.OpenSockets(), id)
			})

			n, err := c.Write([]byte("response"))
			require.NoError(t, err)
			require.Equal(t, 8, n)
			require.NoError(t, c.Close())
			require.NoError(t, peer.SetReadDeadline(time.Now().Add(wait)))
			got, err = io.ReadAll(peer)
			require.NoError(t, err)
			require.Equal(t, "response", string(got))
		})
	}
}

// A second CloseWrite fails naming "closewrite", not "write" (review H).
func TestSecondCloseWriteSaysCloseWrite(t *testing.T) {
	reg, _ := newReg(t, lcsock.Config{})
	id, _, c := openConnView(t, reg)
	require.NoError(t, c.CloseWrite())
	for _, err := range []error{c.CloseWrite(), reg.CloseWrite(id)} {
		var oe *lcsock.OpError
		require.ErrorAs(t, err, &oe)
		require.Equal(t, "closewrite", oe.Op)
		require.ErrorIs(t, err, lcsock.ErrClosed)
	}
}
