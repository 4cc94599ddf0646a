package lcsock_test

import (
	"bytes"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/lcsock/lcsock"
	"github.com/stretchr/testify/require"
)

// The reader adds input as it reads it and reads on at once (see
// rawRead): these tests pin what that must not change.

// A peer that writes a line and closes at once often has both in the
// socket before the reader reads: the line, then the end of the stream,
// must both be seen — after input the reader reads again before it
// waits, since no wake-up comes for an end that came with the input.
// Cases 51–52 (input left when the peer closed: read, then socketClosed)
// and 67 (one socketClosed, the socket leaves openSockets).
func TestReaderSeesEndThatCameWithInput(t *testing.T) {
	p := newPeer(t)
	reg, rec := newReg(t, lcsock.Config{})
	for i := range 50 {
		id := p.id("c" + strconv.Itoa(i))
		c := openConnected(t, reg, rec, p, id)
		_, err := c.Write([]byte("221 bye\r\n"))
		require.NoError(t, err)
		require.NoError(t, c.Close())
		require.NoError(t, reg.ReadWithMessage(id, lcsock.Until("\r\n"), nil, "reply"))
		ev := rec.WaitFor(t, lcsock.EventRead, id, wait)
		require.Equal(t, "221 bye\r\n", string(ev.Data))
		waitClosed(t, reg, rec, id)
	}
}

// The same, with the lines and the end arriving while reads wait
// (cases 38 and 67).
func TestReaderSeesEndThatCameWithInputWhileReading(t *testing.T) {
	p := newPeer(t)
	reg, rec := newReg(t, lcsock.Config{})
	for i := range 50 {
		id := p.id("c" + strconv.Itoa(i))
		c := openConnected(t, reg, rec, p, id)
		require.NoError(t, reg.ReadWithMessage(id, lcsock.Until("\r\n"), nil, "reply"))
		require.NoError(t, reg.ReadWithMessage(id, lcsock.Until("\r\n"), nil, "reply"))
		_, err := c.Write([]byte("250 ok\r\n221 bye\r\n"))
		require.NoError(t, err)
		require.NoError(t, c.Close())
		waitClosed(t, reg, rec, id)
		var got []string
		for _, ev := range rec.Events() {
			if ev.Socket == id && ev.Kind == lcsock.EventRead {
				got = append(got, string(ev.Data))
			}
		}
		require.Equal(t, []string{"250 ok\r\n", "221 bye\r\n"}, got)
	}
}

// A reset that follows input is reported after the input, as before.
func TestReaderSeesResetAfterInput(t *testing.T) {
	p := newPeer(t)
	reg, rec := newReg(t, lcsock.Config{})
	id := p.id("")
	c := openConnected(t, reg, rec, p, id)
	require.NoError(t, reg.ReadWithMessage(id, lcsock.Until("\n"), nil, "line"))
	_, err := c.Write([]byte("last\n"))
	require.NoError(t, err)
	ev := rec.WaitFor(t, lcsock.EventRead, id, wait)
	require.Equal(t, "last\n", string(ev.Data))
	require.NoError(t, c.(*net.TCPConn).SetLinger(0))
	require.NoError(t, c.Close())
	ev = rec.WaitFor(t, lcsock.EventError, id, wait)
	requireReset(t, ev.Err)
}

// Lines written one at a time, with and without a read waiting for
// them, all arrive, in order, and are counted once.
func TestReaderManySmallWrites(t *testing.T) {
	p := newPeer(t)
	reg, rec := newReg(t, lcsock.Config{})
	id := p.id("")
	c := openConnected(t, reg, rec, p, id)
	var want, got bytes.Buffer
	const n = 300
	for i := range n {
		line := "line " + strconv.Itoa(i) + "\n"
		want.WriteString(line)
		if i%2 == 0 {
			require.NoError(t, reg.ReadWithMessage(id, lcsock.Until("\n"), nil, "line"))
		}
		_, err := c.Write([]byte(line))
		require.NoError(t, err)
		if i%3 == 0 {
			// Let the reader take this line alone, a read waiting.
			got.Write(rec.WaitFor(t, lcsock.EventRead, id, wait).Data)
		}
	}
	for range n - (n+1)/2 {
		require.NoError(t, reg.ReadWithMessage(id, lcsock.Until("\n"), nil, "line"))
	}
	for got.Len() < want.Len() {
		got.Write(rec.WaitFor(t, lcsock.EventRead, id, wait).Data)
	}
	require.Equal(t, want.String(), got.String())
	st, err := reg.Stats(id)
	require.NoError(t, err)
	require.EqualValues(t, want.Len(), st.BytesIn)
}

// CloseSocket while the peer streams: the reader, reading on without a
// round through its loop, still stops and closes the connection.
func TestReaderStopsMidStreamOnClose(t *testing.T) {
	p := newPeer(t)
	reg, rec := newReg(t, lcsock.Config{})
	id := p.id("")
	c := openConnected(t, reg, rec, p, id)
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		chunk := bytes.Repeat([]byte("x"), 1024)
		for {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			c.SetWriteDeadline(time.Now().Add(wait))
			if _, err := c.Write(chunk); err != nil {
				done <- err // the close reached the writer: reset or broken pipe
				return
			}
		}
	}()
	require.NoError(t, reg.ReadWithMessage(id, lcsock.For(64, lcsock.Chars), nil, "got"))
	rec.WaitFor(t, lcsock.EventRead, id, wait)
	require.NoError(t, reg.CloseSocket(id))
	require.NotContains(t, reg.OpenSockets(), id)
	// The connection really closes: the peer's writes fail.
	select {
	case err := <-done:
		require.Error(t, err)
	case <-time.After(wait):
		close(stop)
		<-done
		t.Fatal("the peer could still write after CloseSocket")
	}
	require.NoError(t, reg.Close())
}
