package lcsock_test

import (
	"crypto/tls"
	"net"
	"testing"

	"github.com/lcsock/lcsock"
	"github.com/lcsock/lcsock/lcsocktest"
	"github.com/stretchr/testify/require"
)

// InputEOL turns CR, LF and CRLF — a CRLF split across packets too — into
// LF before reads see them.
func TestInputEOL(t *testing.T) {
	p := newPeer(t)
	reg, rec := newReg(t, lcsock.Config{})
	id := p.id("")
	require.NoError(t, reg.Open(id, nil, lcsock.WithMessage("up"), lcsock.InputEOL(lcsock.LF)))
	c := p.accept()
	rec.WaitFor(t, lcsock.EventConnected, id, wait)
	c.(*net.TCPConn).SetNoDelay(true)
	c.Write([]byte("a\r"))
	waitBuffered(t, reg, id, 2) // "a\n" arrived on its own
	c.Write([]byte("\nb\rc\r\nd"))
	got, err := reg.Read(ctxWait(t), id, lcsock.For(3, lcsock.Lines))
	require.NoError(t, err)
	require.Equal(t, "a\nb\nc\n", string(got))

	require.Error(t, reg.Open(p.id("x"), nil, lcsock.InputEOL(lcsock.CRLF)))
}

// InputEOL given to Accept applies to every accepted socket.
func TestInputEOLAccept(t *testing.T) {
	reg, rec := newReg(t, lcsock.Config{})
	port, err := reg.Accept(0, nil, "onConn", lcsock.InputEOL(lcsock.LF))
	require.NoError(t, err)
	c, err := net.Dial("tcp", "127.0.0.1:"+itoa(port))
	require.NoError(t, err)
	defer c.Close()
	acc := rec.WaitFor(t, lcsock.EventAccepted, "", wait).Socket
	c.Write([]byte("x\r\ny\r"))
	got, err := reg.Read(ctxWait(t), acc, lcsock.For(2, lcsock.Lines))
	require.NoError(t, err)
	require.Equal(t, "x\ny\n", string(got))
}

// WithAnyLineEnd lets line reads accept CR, LF or CRLF without converting.
func TestAnyLineEndRead(t *testing.T) {
	got, err, _, _ := readCase(t, "a\r\nb\rc\nd", lcsock.For(3, lcsock.Lines).WithAnyLineEnd())
	require.NoError(t, err)
	require.Equal(t, "a\r\nb\rc\n", string(got))
}

// A line read with any line end whose line ends in a CR at the very limit
// of Config.MaxReadBuffer completes: its line end was found within the
// limit, and only the next byte tells CR from CRLF. It failed with
// ErrBufferFull, the buffer being full before that byte could come.
func TestAnyLineEndCRAtReadBufferLimit(t *testing.T) {
	const limit = 8
	for _, tc := range []struct {
		name       string
		sent       string
		spec       lcsock.ReadSpec
		want, rest string
		full       bool
	}{
		{"CR", "1234567\rX\n", lcsock.For(1, lcsock.Lines).WithAnyLineEnd(), "1234567\r", "X\n", false},
		{"CRLF", "1234567\r\nX\n", lcsock.For(1, lcsock.Lines).WithAnyLineEnd(), "1234567\r\n", "X\n", false},
		{"until LF, CR", "1234567\rX\n", lcsock.Until("\n").WithAnyLineEnd(), "1234567\r", "X\n", false},
		{"until CRLF, CRLF", "1234567\r\nX\n", lcsock.Until("\r\n").WithAnyLineEnd(), "1234567\r\n", "X\n", false},
		{"second line", "abc\n567\rX\n", lcsock.For(2, lcsock.Lines).WithAnyLineEnd(), "abc\n567\r", "X\n", false},
		// The byte after the limit may complete any until-read's
		// delimiter (see TestReadBufferLimitThenEOF).
		{"binary CRLF", "1234567\r\nX\n", lcsock.Until("\r\n"), "1234567\r\n", "X\n", false},
		// A line end past that byte still fails.
		{"CR past the limit", "12345678\rX\n", lcsock.For(1, lcsock.Lines).WithAnyLineEnd(), "", "", true},
		{"binary CRLF past the limit", "12345678\r\nX\n", lcsock.Until("\r\n"), "", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPeer(t)
			reg, rec := newReg(t, lcsock.Config{MaxReadBuffer: limit})
			id := p.id("")
			c := openConnected(t, reg, rec, p, id)
			_, err := c.Write([]byte(tc.sent))
			require.NoError(t, err)
			got, err := reg.Read(ctxWait(t), id, tc.spec)
			if tc.full {
				require.ErrorIs(t, err, lcsock.ErrBufferFull)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, string(got))
			got, err = reg.Read(ctxWait(t), id, lcsock.For(len(tc.rest), lcsock.Chars))
			require.NoError(t, err)
			require.Equal(t, tc.rest, string(got))
		})
	}
}

// InputEOL is an option of the TLS verbs too, as its doc says: it converts
// the decrypted stream of a socket accepted by AcceptSecure.
func TestInputEOLAcceptSecure(t *testing.T) {
	ca := lcsocktest.NewCA(t)
	cert, key := ca.Issue(t, "127.0.0.1")
	reg, rec := newReg(t, lcsock.Config{})
	port, err := reg.AcceptSecure(0, nil, "onConn", string(cert), string(key), lcsock.InputEOL(lcsock.LF))
	require.NoError(t, err)
	c, err := tls.Dial("tcp", "127.0.0.1:"+itoa(port), &tls.Config{RootCAs: ca.Pool()})
	require.NoError(t, err)
	defer c.Close()
	acc := rec.WaitFor(t, lcsock.EventAccepted, "", wait).Socket
	_, err = c.Write([]byte("x\r\ny\r"))
	require.NoError(t, err)
	got, err := reg.Read(ctxWait(t), acc, lcsock.For(2, lcsock.Lines))
	require.NoError(t, err)
	require.Equal(t, "x\ny\n", string(got))
}
