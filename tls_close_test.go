package lcsock_test

import (
	"crypto/tls"
	"net"
	"testing"
	"time"

	"github.com/lcsock/lcsock"
	"github.com/lcsock/lcsock/lcsocktest"
	"github.com/stretchr/testify/require"
)

// Registry.Close closes every socket at once, TLS ones too, even one
// closed while a write fills the buffers of a peer that reads nothing:
// tls.Conn.Close's close_notify would wait up to 5 s behind the unread
// bytes. (A review reported Close taking ~5 s in such a case; not
// reproduced here, this guards it.) The deadline is well under 5 s.
func TestRegistryCloseDoesNotWaitForTLSCloseNotify(t *testing.T) {
	cert, key := lcsocktest.SelfSigned(t, "localhost")
	pair, err := tls.X509KeyPair(cert, key)
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	peer := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{pair}})
		tc.Handshake()
		peer <- tc // and never read
	}()

	reg, rec := newReg(t, lcsock.Config{})
	id := ln.Addr().String()
	require.NoError(t, reg.OpenSecure(id, nil, lcsock.WithMessage("up"), lcsock.Verify(false)))
	rec.WaitFor(t, lcsock.EventConnected, id, wait)
	pc := <-peer
	t.Cleanup(func() { pc.Close() })

	// Fill the send buffers, until a write cut by its deadline breaks
	// the TLS stream: the socket fails and a worker closes the TLS
	// connection, its close_notify stuck behind the unread bytes.
	c, err := reg.Conn(id)
	require.NoError(t, err)
	wrote := make(chan error, 1)
	go func() {
		_, err := c.Write(make([]byte, 64<<20))
		wrote <- err
	}()
	var last uint64
	require.Eventually(t, func() bool { // no progress for a while: the buffers are full
		st, err := reg.Stats(id)
		require.NoError(t, err)
		stalled := st.BytesOut > 0 && st.BytesOut == last
		last = st.BytesOut
		return stalled
	}, wait, 50*time.Millisecond)
	reg.CloseSocket(id) // the TLS write being sent finishes within the flush's bound

	closed := make(chan struct{})
	go func() {
		reg.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(3 * time.Second):
		t.Fatal("Registry.Close waited for a TLS close_notify the peer does not read")
	}
	require.Error(t, <-wrote)
}
