package lcsock_test

import (
	"bytes"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"

	"github.com/lcsock/lcsock"
	"github.com/lcsock/lcsock/lcsocktest"
	"github.com/stretchr/testify/require"
)

// Tests of claims in the README's "Differences from LiveCode" that had
// none of their own.

// Closing a socket frees its ID at once, even with writes still
// flushing: the ID can be opened again while the old connection's
// queued bytes are still going out, and both connections work.
func TestDiffCloseFreesIDWhileFlushing(t *testing.T) {
	p := newPeer(t)
	reg, rec := newReg(t, lcsock.Config{MaxWriteQueue: 64 << 20})
	id := p.id("again")
	c1 := openConnected(t, reg, rec, p, id)
	big := bytes.Repeat([]byte("0123456789abcdef"), 2<<20) // 32 MiB: more than the kernel holds
	require.NoError(t, reg.WriteWithMessage(id, big, nil, "flushed"))
	st, err := reg.Stats(id)
	require.NoError(t, err)
	require.Positive(t, st.QueuedWrites, "the write must still be queued when the socket closes")
	require.NoError(t, reg.CloseSocket(id))

	require.NoError(t, reg.Open(id, nil, lcsock.WithMessage("up2")))
	c2 := p.accept()
	require.Equal(t, "up2", rec.WaitFor(t, lcsock.EventConnected, id, wait).Name)
	require.Equal(t, []string{id}, reg.OpenSockets())
	require.NoError(t, reg.WriteWithMessage(id, []byte("second"), nil, ""))
	require.Equal(t, "second", string(readN(t, c2, 6)))

	got := readN(t, c1, len(big)) // the old connection's flush goes on
	require.True(t, bytes.Equal(big, got))
	require.Equal(t, "flushed", rec.WaitFor(t, lcsock.EventWritten, id, wait).Name)
}

// failingWrites is a connection whose writes fail with an error that is
// not EPIPE; its reads wait for the peer.
type failingWrites struct{ net.Conn }

func (failingWrites) Write([]byte) (int, error) { return 0, syscall.EIO }

// Any write error is fatal to the socket, not only EPIPE (the engine
// goes on after the others): one socketError naming the write, and the
// ID is gone.
func TestDiffAnyWriteErrorIsFatal(t *testing.T) {
	a, b := net.Pipe()
	defer b.Close()
	reg, rec := newReg(t, lcsock.Config{})
	id, err := reg.Adopt("pipe:1|eio", failingWrites{a}, nil)
	require.NoError(t, err)
	require.NoError(t, reg.WriteWithMessage(id, []byte("x"), nil, "never"))
	ev := rec.WaitFor(t, lcsock.EventError, id, wait)
	require.ErrorIs(t, ev.Err, syscall.EIO)
	require.Contains(t, ev.Params()[1], syscall.EIO.Error())
	barrier(t, reg, rec)
	require.Equal(t, 1, rec.Count(lcsock.EventError, id))
	require.Zero(t, rec.Count(lcsock.EventClosed, id))
	require.Zero(t, rec.Count(lcsock.EventWritten, id))
	require.NotContains(t, reg.OpenSockets(), id)
	require.ErrorIs(t, reg.WriteWithMessage(id, []byte("y"), nil, ""), lcsock.ErrSocketNotOpen)
}

// A From host goes to the resolver in its IDNA form, as an ID's host does.
func TestDiffFromHostIDNA(t *testing.T) {
	dns := newFakeDNS(t)
	p := newPeer(t)
	reg, rec := newReg(t, lcsock.Config{Resolver: dns.resolver()})
	id := p.id("idnfrom")
	require.NoError(t, reg.Open(id, nil, lcsock.WithMessage("up"), lcsock.From("bücher.example:0")))
	p.accept()
	rec.WaitFor(t, lcsock.EventConnected, id, wait)
	require.Contains(t, dns.questions(), "xn--bcher-kva.example.")
}

// TLS host names are matched by Go's rules, case-insensitively (the
// engine's matcher is case-sensitive).
func TestDiffTLSHostNameIgnoresCase(t *testing.T) {
	ca := lcsocktest.NewCA(t)
	cert, key := ca.Issue(t, "localhost")
	reg, rec := newReg(t, lcsock.Config{})
	reg.SetCertificates([]string{caFile(t, ca)})
	port, _ := tlsEchoServer(t, reg, cert, key)
	id := "LocalHost:" + itoa(port)
	require.NoError(t, reg.OpenSecure(id, nil, lcsock.WithMessage("ok")))
	rec.WaitFor(t, lcsock.EventConnected, id, wait)
	id2 := "127.0.0.1:" + itoa(port) + "|vh"
	require.NoError(t, reg.OpenSecure(id2, nil, lcsock.WithMessage("ok"), lcsock.VerifyHost("LOCALHOST")))
	rec.WaitFor(t, lcsock.EventConnected, id2, wait)
	require.Zero(t, rec.Count(lcsock.EventError, ""))
}

// A socket that fails while a blocking Read waits on it: the Read
// returns the error, and the owner still gets its one socketError (the
// engine puts the text in the result only and sends none).
func TestDiffFailureDuringBlockingReadSendsSocketError(t *testing.T) {
	p := newPeer(t)
	reg, rec := newReg(t, lcsock.Config{})
	id := p.id("")
	c := openConnected(t, reg, rec, p, id)
	type result struct {
		data []byte
		err  error
	}
	done := make(chan result, 1)
	go func() {
		data, err := reg.Read(ctxWait(t), id, lcsock.Until("\n"))
		done <- result{data, err}
	}()
	eventually(t, "the blocking read to be pending", func() bool {
		st, err := reg.Stats(id)
		return err == nil && st.PendingReads == 1
	})
	require.NoError(t, c.(*net.TCPConn).SetLinger(0))
	require.NoError(t, c.Close()) // a reset
	var got result
	select {
	case got = <-done:
	case <-ctxWait(t).Done():
		t.Fatal("the blocking read did not return")
	}
	require.Error(t, got.err)
	require.NotErrorIs(t, got.err, io.EOF)
	ev := rec.WaitFor(t, lcsock.EventError, id, wait)
	require.Equal(t, lcsock.ErrorText(got.err), ev.Params()[1])
	barrier(t, reg, rec)
	require.Equal(t, 1, rec.Count(lcsock.EventError, id))
	require.Zero(t, rec.Count(lcsock.EventClosed, id))
	require.NotContains(t, reg.OpenSockets(), id)
}

// A socket that fails completes its pending reads with what arrived,
// their result the error's text, not "eof" (the engine drops them), then
// sends one socketError with the same text.
func TestDiffFailureCompletesPendingReads(t *testing.T) {
	p := newPeer(t)
	reg, rec := newReg(t, lcsock.Config{})
	id := p.id("")
	c := openConnected(t, reg, rec, p, id)
	require.NoError(t, reg.ReadWithMessage(id, lcsock.Until("\n"), nil, "line"))
	_, err := c.Write([]byte("partial"))
	require.NoError(t, err)
	waitBuffered(t, reg, id, len("partial"))
	require.NoError(t, c.(*net.TCPConn).SetLinger(0))
	require.NoError(t, c.Close()) // a reset
	ev := rec.WaitFor(t, lcsock.EventRead, id, wait)
	require.Equal(t, "line", ev.Name)
	require.Equal(t, "partial", string(ev.Data))
	require.True(t, ev.EOF)
	require.NotErrorIs(t, ev.Err, io.EOF)
	require.NotEqual(t, "eof", ev.Result())
	require.Equal(t, lcsock.ErrorText(ev.Err), ev.Result())
	end := rec.WaitFor(t, lcsock.EventError, id, wait)
	require.Equal(t, ev.Result(), end.Params()[1])
	requireOrder(t, rec, id, lcsock.EventRead, lcsock.EventError)
	barrier(t, reg, rec)
	require.Equal(t, 1, rec.Count(lcsock.EventError, id))
	require.Zero(t, rec.Count(lcsock.EventClosed, id))
}

// Where the engine's text is fixed and lcsock knows the cause, the text
// is the engine's followed by ": " and the cause (so a script comparing
// the result with the bare text sees a difference; errors.Is does not).
func TestDiffFixedTextsCarryTheCause(t *testing.T) {
	srv := udpPeer(t, "udp4", "127.0.0.1:0")
	dns := newFakeDNS(t)
	dns.failName("bogus.test.")
	reg, rec := newReg(t, lcsock.Config{Resolver: dns.resolver()})
	id := srv.LocalAddr().String()
	require.NoError(t, reg.OpenDatagram(id, nil))
	_, err := reg.Write(ctxWait(t), id, make([]byte, 65508))
	require.ErrorIs(t, err, lcsock.ErrSendDatagram)
	require.True(t, strings.HasPrefix(lcsock.ErrorText(err), "error sending datagram: "), lcsock.ErrorText(err))

	p := newPeer(t)
	require.NoError(t, reg.Open(p.id("from"), nil, lcsock.From("bogus.test:1")))
	ev := rec.WaitFor(t, lcsock.EventError, p.id("from"), wait)
	require.ErrorIs(t, ev.Err, lcsock.ErrLocalResolve)
	require.True(t, strings.HasPrefix(ev.Params()[1], "can't resolve local host and port: "), ev.Params()[1])
}

// A TLS 1.2 server's renegotiation ends the socket by default, with one
// socketError (Go's default; the engine's OpenSSL client accepts it);
// TLSConfig's Renegotiation allows it.
func TestDiffRenegotiationRefusedByDefault(t *testing.T) {
	port, renegotiate := renegotiatingServer(t)
	dialListening(t, port).Close() // -naccept 2 counts it
	reg, rec := newReg(t, lcsock.Config{})
	id := "127.0.0.1:" + itoa(port) + "|reneg"
	require.NoError(t, reg.OpenSecure(id, nil, lcsock.Verify(false), lcsock.WithMessage("ok")))
	rec.WaitFor(t, lcsock.EventConnected, id, wait)
	require.NoError(t, reg.ReadWithMessage(id, lcsock.Until("\n"), nil, "line"))
	renegotiate()
	ev := rec.WaitFor(t, lcsock.EventError, id, wait)
	require.Contains(t, ev.Params()[1], "no renegotiation")
	barrier(t, reg, rec)
	require.Equal(t, 1, rec.Count(lcsock.EventError, id))
	require.NotContains(t, reg.OpenSockets(), id)
}

// HostAddress of a socket still connecting is empty, as PeerAddress is
// (the engine's hostAddress of a socket not yet bound is "0.0.0.0").
func TestDiffHostAddressWhileConnecting(t *testing.T) {
	dns := newFakeDNS(t)
	dns.closeGate()
	reg, _ := newReg(t, lcsock.Config{Resolver: dns.resolver()})
	require.NoError(t, reg.Open("gate.test:1", nil))
	a, err := reg.HostAddress("gate.test:1")
	require.NoError(t, err)
	require.Empty(t, a)
}
