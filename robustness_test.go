package lcsock_test

import (
	"bytes"
	"context"
	"net"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/lcsock/lcsock"
	"github.com/lcsock/lcsock/lcsocktest"
	"github.com/stretchr/testify/require"
)

// returnsWithin runs f and reports whether it returned within d; if not,
// it waits for f before returning, so nothing leaks.
func returnsWithin(d time.Duration, f func()) bool {
	done := make(chan struct{})
	go func() { f(); close(done) }()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		<-done
		return false
	}
}

// A panic in the accept handler takes down the accepted socket only; the
// listener keeps listening and Close returns.
func TestAcceptHandlerPanic(t *testing.T) {
	reg, err := lcsock.NewRegistry(lcsock.Config{Handler: lcsock.HandlerFunc(func(ev lcsock.Event) {
		if ev.Kind == lcsock.EventAccepted {
			panic("boom")
		}
	})})
	require.NoError(t, err)
	port, err := reg.Accept(0, nil, "onConn")
	require.NoError(t, err)
	c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
	require.NoError(t, err)
	defer c.Close()
	readEOF(t, c) // the accepted socket was closed
	require.Equal(t, []string{strconv.Itoa(port)}, reg.OpenSockets())
	require.True(t, returnsWithin(5*time.Second, func() { reg.Close() }))
}

// Shutdown after Close, or twice, returns.
func TestShutdownAfterClose(t *testing.T) {
	reg, err := lcsock.NewRegistry(lcsock.Config{})
	require.NoError(t, err)
	require.NoError(t, reg.Close())
	require.True(t, returnsWithin(5*time.Second, func() { reg.Shutdown(context.Background()) }))
	require.NoError(t, reg.Close())
}

// Close from another goroutine waits for a running handler: no
// goroutine of the registry outlives Close.
func TestCloseWaitsForRunningHandler(t *testing.T) {
	release, entered := make(chan struct{}), make(chan struct{})
	reg, err := lcsock.NewRegistry(lcsock.Config{Handler: lcsock.HandlerFunc(func(ev lcsock.Event) {
		close(entered)
		<-release
	})})
	require.NoError(t, err)
	p := newPeer(t)
	require.NoError(t, reg.Open(p.id(""), nil, lcsock.WithMessage("c")))
	<-entered
	closed := make(chan struct{})
	go func() { reg.Close(); close(closed) }()
	select {
	case <-closed:
		t.Fatal("Close returned while a handler was running")
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	<-closed
}

// LiveCode's "wait for messages" inside a handler: a nested Dispatch
// delivers the next events on the same goroutine.
func TestNestedDispatch(t *testing.T) {
	p := newPeer(t)
	var reg *lcsock.Registry
	var order []string
	reg, err := lcsock.NewRegistry(lcsock.Config{Dispatch: lcsock.DispatchPumped, Handler: lcsock.HandlerFunc(func(ev lcsock.Event) {
		order = append(order, ev.Name+" start")
		if ev.Kind == lcsock.EventConnected {
			n, err := reg.Dispatch(ctxWait(t))
			require.NoError(t, err)
			require.Equal(t, 1, n)
		}
		order = append(order, ev.Name+" end")
	})})
	require.NoError(t, err)
	defer reg.Close()
	id := p.id("")
	require.NoError(t, reg.Open(id, nil, lcsock.WithMessage("c")))
	require.NoError(t, reg.WriteWithMessage(id, []byte("x"), nil, "w"))
	p.accept()
	for len(order) < 4 {
		_, err := reg.Dispatch(ctxWait(t))
		require.NoError(t, err)
	}
	require.Equal(t, []string{"c start", "w start", "w end", "c end"}, order)
}

// Close racing incoming connections neither hangs nor panics.
func TestCloseRacesAccept(t *testing.T) {
	for range 100 {
		reg, err := lcsock.NewRegistry(lcsock.Config{})
		require.NoError(t, err)
		port, err := reg.Accept(0, nil, "c")
		require.NoError(t, err)
		var mu sync.Mutex
		var conns []net.Conn
		var wg sync.WaitGroup
		stop := make(chan struct{})
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
					if err != nil {
						return
					}
					mu.Lock()
					conns = append(conns, c)
					mu.Unlock()
				}
			}()
		}
		ok := returnsWithin(5*time.Second, func() { reg.Close() })
		close(stop)
		wg.Wait()
		for _, c := range conns {
			c.Close()
		}
		require.True(t, ok, "Close hung while connections were being accepted")
	}
}

// Close is immediate even for a socket still flushing after CloseSocket.
func TestCloseAbortsFlushingSocket(t *testing.T) {
	p := newPeer(t)
	reg, rec := newReg(t, lcsock.Config{TimeoutInterval: time.Minute})
	id := p.id("")
	openConnected(t, reg, rec, p, id) // the peer never reads
	require.NoError(t, reg.WriteWithMessage(id, make([]byte, 12<<20), nil, "w"))
	require.NoError(t, reg.CloseSocket(id))
	require.True(t, returnsWithin(5*time.Second, func() { reg.Close() }))
}

// A handler panic on a socket with unread input still ends it with one
// socketError.
func TestPanicWithBufferedData(t *testing.T) {
	p := newPeer(t)
	rec := &lcsocktest.Recorder{}
	reg, err := lcsock.NewRegistry(lcsock.Config{Handler: lcsock.HandlerFunc(func(ev lcsock.Event) {
		rec.HandleEvent(ev)
		if ev.Kind == lcsock.EventRead {
			panic("boom")
		}
	})})
	require.NoError(t, err)
	defer reg.Close()
	id := p.id("")
	c := openConnected(t, reg, rec, p, id)
	c.Write([]byte("abc"))
	waitBuffered(t, reg, id, 3)
	require.NoError(t, reg.ReadWithMessage(id, lcsock.For(1, lcsock.Chars), nil, "got"))
	ev := rec.WaitFor(t, lcsock.EventError, id, wait)
	require.ErrorIs(t, ev.Err, lcsock.ErrHandlerPanic)
	require.NotContains(t, reg.OpenSockets(), id)
}

// A read fully satisfied before the end of stream does not report eof;
// until-EOF after a reset reports the reset.
func TestEOFFlagOnlyWhenEnded(t *testing.T) {
	p := newPeer(t)
	reg, rec := newReg(t, lcsock.Config{})
	id := p.id("")
	c := openConnected(t, reg, rec, p, id)
	c.Write([]byte("abcd"))
	c.Close()
	waitBuffered(t, reg, id, 4)
	require.NoError(t, reg.ReadWithMessage(id, lcsock.For(2, lcsock.Chars), nil, "full"))
	require.NoError(t, reg.ReadWithMessage(id, lcsock.For(5, lcsock.Chars), nil, "short"))
	full := rec.WaitFor(t, lcsock.EventRead, id, wait)
	short := rec.WaitFor(t, lcsock.EventRead, id, wait)
	require.False(t, full.EOF)
	require.Empty(t, full.Result())
	require.True(t, short.EOF)
	require.Equal(t, "eof", short.Result())

	id2 := p.id("reset")
	c2 := openConnected(t, reg, rec, p, id2)
	c2.Write([]byte("xy"))
	waitBuffered(t, reg, id2, 2)
	c2.(*net.TCPConn).SetLinger(0)
	c2.Close()
	data, err := reg.Read(ctxWait(t), id2, lcsock.UntilEOF())
	require.Error(t, err)
	require.NotErrorIs(t, err, lcsock.ErrTimeout)
	require.Equal(t, "xy", string(data))
}

// A Secure that cannot be queued (the write side is closed) leaves the
// socket's plaintext reads working.
func TestSecureAfterCloseWriteKeepsReads(t *testing.T) {
	p := newPeer(t)
	reg, rec := newReg(t, lcsock.Config{})
	id := p.id("")
	c := openConnected(t, reg, rec, p, id)
	require.NoError(t, reg.CloseWrite(id))
	require.Error(t, reg.Secure(id, lcsock.Verify(false)))
	c.Write([]byte("hello\n"))
	got, err := reg.Read(ctxWait(t), id, lcsock.Until("\n"))
	require.NoError(t, err)
	require.Equal(t, "hello\n", string(got))
}

// A write larger than the queue limit is refused whole: nothing is sent.
func TestOversizeWriteSendsNothing(t *testing.T) {
	p := newPeer(t)
	reg, rec := newReg(t, lcsock.Config{MaxWriteQueue: 1 << 20})
	id := p.id("")
	c := openConnected(t, reg, rec, p, id)
	require.ErrorIs(t, reg.WriteWithMessage(id, make([]byte, 4<<20), nil, "w"), lcsock.ErrBufferFull)
	require.NoError(t, reg.WriteWithMessage(id, []byte("ok"), nil, "w"))
	require.Equal(t, "ok", string(readN(t, c, 2))) // the first bytes the peer sees
}

// Secure refuses a socket whose input is being converted by InputEOL: the
// bytes before the upgrade (a ClientHello) would have been altered.
func TestSecureRefusesInputEOL(t *testing.T) {
	p := newPeer(t)
	reg, rec := newReg(t, lcsock.Config{})
	id := p.id("")
	require.NoError(t, reg.Open(id, nil, lcsock.WithMessage("up"), lcsock.InputEOL(lcsock.LF)))
	p.accept()
	rec.WaitFor(t, lcsock.EventConnected, id, wait)
	require.ErrorContains(t, reg.Secure(id, lcsock.Verify(false)), "InputEOL")
}

// A peer that floods a socket with no delimiter cannot grow memory past
// the configured bounds: the until-read fails with ErrBufferFull, the
// reader stops, TCP pushes back.
func TestHostileFloodMemoryBounded(t *testing.T) {
	p := newPeer(t)
	const limit = 256 << 10
	reg, rec := newReg(t, lcsock.Config{MaxReadBuffer: limit})
	id := p.id("")
	c := openConnected(t, reg, rec, p, id)
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	require.NoError(t, reg.ReadWithMessage(id, lcsock.Until("\n"), nil, "line"))
	flood := make(chan int64, 1)
	go func() { // the peer: 256 MiB without a line end, until it is stopped
		chunk := bytes.Repeat([]byte("z"), 64<<10)
		var sent int64
		c.SetWriteDeadline(time.Now().Add(2 * time.Second))
		for sent < 256<<20 {
			n, err := c.Write(chunk)
			sent += int64(n)
			if err != nil {
				break
			}
		}
		flood <- sent
	}()
	ev := rec.WaitFor(t, lcsock.EventRead, id, wait)
	require.ErrorIs(t, ev.Err, lcsock.ErrBufferFull)
	sent := <-flood // the peer's writes stalled: TCP pushed back
	require.Less(t, sent, int64(256<<20))
	st, err := reg.Stats(id)
	require.NoError(t, err)
	require.LessOrEqual(t, st.Buffered, limit+1)
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	require.Less(t, int64(after.HeapInuse)-int64(before.HeapInuse), int64(8<<20), "heap grew past the read buffer bound")
}

// Dispatch with a ctx that has already ended delivers the events already
// queued: only its waits end with ctx. It delivered them or returned
// ctx's error at random (a select between the free turn and the ended
// ctx), so an interpreter's "wait 0" skipped queued messages (review X).
func TestDispatchEndedCtxDeliversQueued(t *testing.T) {
	rec := &lcsocktest.Recorder{}
	reg, err := lcsock.NewRegistry(lcsock.Config{Dispatch: lcsock.DispatchPumped, Handler: rec})
	require.NoError(t, err)
	defer reg.Close()
	p := newPeer(t)
	id := p.id("")
	require.NoError(t, reg.Open(id, nil, lcsock.WithMessage("c")))
	p.accept()
	for rec.Count(lcsock.EventConnected, id) == 0 {
		_, err := reg.Dispatch(ctxWait(t))
		require.NoError(t, err)
	}
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	for i := range 50 {
		// Until("") completes at once: its event is queued before the call returns.
		require.NoError(t, reg.ReadWithMessage(id, lcsock.Until(""), nil, "r"))
		n, err := reg.Dispatch(ended)
		require.NoError(t, err, "round %d", i)
		require.Equal(t, 1, n, "round %d", i)
	}
	n, err := reg.Dispatch(ended) // nothing queued: the wait ends with ctx
	require.ErrorIs(t, err, context.Canceled)
	require.Zero(t, n)
}

// A Dispatch waiting for events returns ErrClosed when the registry
// closes, as does one called after: the doc said only that the wait ends.
func TestDispatchEndsWithErrClosed(t *testing.T) {
	reg, err := lcsock.NewRegistry(lcsock.Config{Dispatch: lcsock.DispatchPumped})
	require.NoError(t, err)
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	go func() {
		n, err := reg.Dispatch(context.Background())
		done <- result{n, err}
	}()
	require.NoError(t, reg.Close())
	select {
	case res := <-done:
		require.ErrorIs(t, res.err, lcsock.ErrClosed)
		require.Zero(t, res.n)
	case <-time.After(wait):
		t.Fatal("Dispatch still waiting after Close")
	}
	n, err := reg.Dispatch(context.Background())
	require.ErrorIs(t, err, lcsock.ErrClosed)
	require.Zero(t, n)
}
