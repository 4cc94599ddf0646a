package lcsock

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Findings of the session-6 review in the write path, with the race
// windows forced.

// A blocking Write whose caller gave up (its ctx ended) while its bytes
// were being sent returns the caller's error, even when the socket is
// closed or fails before the writer is back from the write: the close
// replaced the error with ErrClosed, or the failure's (found in review).
func TestCancelledWriteKeepsItsError(t *testing.T) {
	for _, end := range []string{"closed", "failed"} {
		t.Run(end, func(t *testing.T) {
			reg, id, _ := openToPeer(t, Config{}) // the peer reads nothing
			s, err := reg.lookup("test", id)
			require.NoError(t, err)
			res := make(chan error, 1)
			go func() {
				_, err := reg.Write(context.Background(), id, make([]byte, 32<<20))
				res <- err
			}()
			var w *writeReq
			waitState(t, s, func() bool {
				if len(s.writes) == 1 && s.writing && s.writes[0].blocking {
					w = s.writes[0]
				}
				return w != nil
			})
			s.mu.Lock()
			// What Write does when its ctx ends: the write is being sent,
			// so the writer is to report the error...
			require.False(t, s.cancelWrite(w, &OpError{Op: "write", Socket: id, Err: context.Canceled}))
			// ...but the socket ends first.
			switch end {
			case "closed": // as Registry.Close's abort does
				s.state = stateClosing
				s.finish()
			case "failed": // as a reset seen by the reader does
				s.fail(&OpError{Op: "read", Socket: id, Err: syscall.ECONNRESET})
			}
			s.mu.Unlock()
			select {
			case err := <-res:
				require.ErrorIs(t, err, context.Canceled)
			case <-time.After(5 * time.Second):
				t.Fatal("the Write never returned")
			}
		})
	}
}

// The flush of a closed socket is bounded by the timeout interval in
// force at the close, as CloseSocket documents, for its whole length:
// each write it finished set the bound to the next write's own interval,
// which could end the flush early (found in review).
func TestCloseFlushKeepsItsInterval(t *testing.T) {
	reg, id, peer := openToPeer(t, Config{TimeoutInterval: 20 * time.Millisecond, MaxWriteQueue: 64 << 20})
	s, err := reg.lookup("test", id)
	require.NoError(t, err)
	const first = 4 << 20
	// Both writes get the 20 ms interval; the peer reads nothing yet.
	require.NoError(t, reg.WriteWithMessage(id, make([]byte, first), nil, ""))
	require.NoError(t, reg.WriteWithMessage(id, make([]byte, 32<<20), nil, "")) // more than the kernel holds
	reg.SetTimeoutInterval(time.Minute)
	require.NoError(t, reg.CloseSocket(id))

	// The peer reads the first write, so that the flush finishes it, and
	// stops: the second stalls.
	peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = io.ReadFull(peer, make([]byte, first))
	require.NoError(t, err)
	waitState(t, s, func() bool { return len(s.writes) < 2 })
	s.mu.Lock()
	state, iv := s.state, s.writeIv
	s.mu.Unlock()
	require.Equal(t, stateClosing, state, "the flush ended")
	require.Equal(t, time.Minute, iv, "the flush's bound")
}

// A Conn read on a socket closed locally (CloseSocket, its writes still
// flushing) whose peer then ends the stream fails with net.ErrClosed: it
// returned io.EOF, a clean end of a stream the program had cut itself,
// while the same read just before the peer's end said "socket is not
// open" (found in review).
func TestConnReadAfterLocalCloseThenPeerEOF(t *testing.T) {
	reg, id, peer := openToPeer(t, Config{}) // the peer reads nothing
	s, err := reg.lookup("test", id)
	require.NoError(t, err)
	waitState(t, s, func() bool { return s.state == stateOpen }) // a close while connecting ends it at once
	c, err := reg.Conn(id)
	require.NoError(t, err)
	require.NoError(t, reg.WriteWithMessage(id, make([]byte, 8<<20), nil, "")) // more than the kernel takes
	require.NoError(t, reg.CloseSocket(id))                                    // flushing: the connection stays up
	require.NoError(t, peer.(*net.TCPConn).CloseWrite())
	waitState(t, s, func() bool { return s.eof })
	_, err = c.Read(make([]byte, 4))
	require.NotErrorIs(t, err, io.EOF)
	require.ErrorIs(t, err, net.ErrClosed)
}

// A Conn write on a socket that failed (the peer reset it) while input
// is still buffered for reading returns the failure: it said "socket
// closed", matching net.ErrClosed, as if the program had closed the
// socket itself (found in review).
func TestConnWriteAfterResetIsNotErrClosed(t *testing.T) {
	reg, id, peer := openToPeer(t, Config{})
	s, err := reg.lookup("test", id)
	require.NoError(t, err)
	waitState(t, s, func() bool { return s.state == stateOpen }) // a reset during the dial fails the open instead
	c, err := reg.Conn(id)
	require.NoError(t, err)
	_, err = peer.Write([]byte("abc"))
	require.NoError(t, err)
	require.NoError(t, peer.(*net.TCPConn).SetLinger(0))
	require.NoError(t, peer.Close()) // a reset
	waitState(t, s, func() bool { return s.rerr != nil })
	_, err = c.Write([]byte("x"))
	require.NotErrorIs(t, err, net.ErrClosed)
	requireResetErr(t, err)

	buf := make([]byte, 8)
	n, err := c.Read(buf) // what arrived before the reset is not lost
	require.NoError(t, err)
	require.Equal(t, "abc", string(buf[:n]))
	_, err = c.Read(buf)
	requireResetErr(t, err)
}

// A blocking Write queued while the socket connects, whose caller gives
// up, hands the head of the queue to the write behind it with a fresh
// timeout clock: that write's clock kept the start (and interval) of the
// withdrawn one, so its socketTimeout could come early (found in review).
func TestWithdrawnHeadWriteRestartsClock(t *testing.T) {
	reg, err := NewRegistry(Config{})
	require.NoError(t, err)
	t.Cleanup(func() { reg.Close() })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	accepted := make(chan net.Conn, 1)
	go func() { // accepts and says nothing: the TLS open stays connecting
		if c, err := ln.Accept(); err == nil {
			accepted <- c
		}
	}()
	t.Cleanup(func() {
		select {
		case c := <-accepted:
			c.Close()
		default:
		}
	})
	id := ln.Addr().String()
	require.NoError(t, reg.OpenSecure(id, nil))
	s, err := reg.lookup("test", id)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	res := make(chan error, 1)
	go func() {
		_, err := reg.Write(ctx, id, []byte("a"))
		res <- err
	}()
	waitState(t, s, func() bool { return len(s.writes) == 1 && s.state == stateConnecting })
	require.NoError(t, reg.WriteWithMessage(id, []byte("b"), nil, "b"))
	s.mu.Lock()
	started := s.writeMark
	s.mu.Unlock()
	for !time.Now().After(started) {
	}
	cancel()
	require.ErrorIs(t, <-res, context.Canceled)
	s.mu.Lock()
	defer s.mu.Unlock()
	require.Len(t, s.writes, 1)
	require.False(t, s.writes[0].blocking)
	require.True(t, s.writeMark.After(started), "the clock of the new head write restarted")
}

// Case 58: the peer reset the connection and lcsock's side of it is
// closed, but the socket's record stays (input is still buffered for
// reads): a blocking Write returns "socket closed" (ErrClosed), as
// LiveCode's result; the buffered input is still read, and then the
// owner gets its one socketError.
func TestCase58WriteAfterPeerGoneRecordRemains(t *testing.T) {
	events := make(chan Event, 8)
	reg, id, peer := openToPeer(t, Config{Handler: HandlerFunc(func(ev Event) { events <- ev })})
	s, err := reg.lookup("test", id)
	require.NoError(t, err)
	waitState(t, s, func() bool { return s.state == stateOpen })
	_, err = peer.Write([]byte("abc"))
	require.NoError(t, err)
	require.NoError(t, peer.(*net.TCPConn).SetLinger(0))
	require.NoError(t, peer.Close()) // a reset
	waitState(t, s, func() bool { return s.rerr != nil })
	require.Equal(t, []string{id}, reg.OpenSockets())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n, err := reg.Write(ctx, id, []byte("x"))
	require.Zero(t, n)
	require.ErrorIs(t, err, ErrClosed)
	require.Equal(t, "socket closed", ErrorText(err))
	got, err := reg.Read(ctx, id, For(3, Chars))
	require.NoError(t, err)
	require.Equal(t, "abc", string(got))
	select {
	case ev := <-events:
		require.Equal(t, EventError, ev.Kind, "%v", ev)
		require.Equal(t, id, ev.Socket)
	case <-ctx.Done():
		t.Fatal("no socketError")
	}
	require.Empty(t, reg.OpenSockets())
}

// requireResetErr asserts that err is a connection reset: ECONNRESET, or
// on Windows WSAECONNRESET (10054), what the system returns there
// (syscall.ECONNRESET is a value Go made up for Windows).
func requireResetErr(t *testing.T, err error) {
	t.Helper()
	require.True(t, errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.Errno(10054)), "want a connection reset, got %v", err)
}
