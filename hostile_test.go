package lcsock_test

import (
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/lcsock/lcsock"
	"github.com/stretchr/testify/require"
)

// heapInUse returns the heap in use after a full collection.
func heapInUse() int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapInuse)
}

// 100,000 one-byte TCP segments with no delimiter (issue 11's "tiny
// packets"): the pending until-read keeps waiting, the bytes are all
// there, in order, and memory stays within the read buffer's bound.
func TestHostileTinyPackets(t *testing.T) {
	p := newPeer(t)
	reg, rec := newReg(t, lcsock.Config{})
	id := p.id("")
	c := openConnected(t, reg, rec, p, id)
	c.(*net.TCPConn).SetNoDelay(true)
	before := heapInUse()
	require.NoError(t, reg.ReadWithMessage(id, lcsock.Until("\n"), nil, "line"))
	const n = 100_000
	one := []byte{'z'}
	for range n {
		_, err := c.Write(one)
		require.NoError(t, err)
	}
	_, err := c.Write([]byte("\n"))
	require.NoError(t, err)
	ev := rec.WaitFor(t, lcsock.EventRead, id, 4*wait)
	require.NoError(t, ev.Err)
	require.Len(t, ev.Data, n+1)
	require.Less(t, heapInUse()-before, int64(8<<20))
}

// 100,000 tiny datagrams at a listener whose handler is stuck: the queue
// of undelivered events holds at most Config.MaxDatagramQueue, the rest
// are dropped and counted, memory stays bounded, and delivery resumes
// when the handler does.
func TestHostileTinyDatagrams(t *testing.T) {
	const queue = 64
	release := make(chan struct{})
	got := make(chan int, queue+2)
	done := make(chan struct{}) // the test has taken what it checks
	h := lcsock.HandlerFunc(func(ev lcsock.Event) {
		if ev.Kind != lcsock.EventDatagram {
			return
		}
		<-release
		// More than queue+2 may come: what the kernel still held when
		// the handler was released (a loaded machine reads the flood
		// late). A send that blocked there hung Close.
		select {
		case got <- len(ev.Data):
		case <-done:
		}
	})
	reg, _ := newReg(t, lcsock.Config{MaxDatagramQueue: queue, Handler: h})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	t.Cleanup(func() { unblock(); close(done) }) // before the registry's Close, which waits for the handler
	port, err := reg.AcceptDatagram(0, nil, "dg")
	require.NoError(t, err)
	c, err := net.Dial("udp", "127.0.0.1:"+itoa(port))
	require.NoError(t, err)
	defer c.Close()
	before := heapInUse()
	const n = 100_000
	for range n {
		if _, err := c.Write([]byte{'x'}); err != nil {
			break // the kernel may refuse for a moment; the flood goes on
		}
	}
	// The listener counts what it dropped (the kernel may drop some too).
	require.Eventually(t, func() bool {
		st, err := reg.Stats(itoa(port))
		return err == nil && st.Dropped > 0
	}, 4*wait, time.Millisecond)
	require.Less(t, heapInUse()-before, int64(8<<20))
	unblock()
	for range queue {
		select {
		case size := <-got:
			require.Equal(t, 1, size)
		case <-time.After(wait):
			t.Fatal("queued datagrams not delivered once the handler returned")
		}
	}
}

// With no read pending, a socket keeps at most one read chunk (64 KiB)
// of input; the rest waits in the kernel and is all there, in order, for
// the read that comes later (README: "Input waits in the kernel").
func TestInputWaitsInKernelWithoutReads(t *testing.T) {
	p := newPeer(t)
	reg, rec := newReg(t, lcsock.Config{})
	id := p.id("")
	c := openConnected(t, reg, rec, p, id)
	want := randomStream(1<<20, 7)
	sent := make(chan error, 1)
	go func() {
		_, err := c.Write(want)
		sent <- err
	}()
	require.Eventually(t, func() bool {
		st, err := reg.Stats(id)
		return err == nil && st.Buffered >= 64<<10
	}, wait, time.Millisecond)
	st, err := reg.Stats(id)
	require.NoError(t, err)
	require.Equal(t, 64<<10, st.Buffered, "no read pending: one chunk, no more")
	got, err := reg.Read(ctxWait(t), id, lcsock.For(len(want), lcsock.Chars))
	require.NoError(t, err)
	require.Equal(t, want, got)
	require.NoError(t, <-sent)
}

// Dispatch belongs to pumped registries; a serial one says so with a
// sentinel an embedding host can test for.
func TestDispatchNeedsPumped(t *testing.T) {
	reg, _ := newReg(t, lcsock.Config{})
	require.Equal(t, lcsock.DispatchSerial, reg.DispatchMode())
	_, err := reg.Dispatch(ctxWait(t))
	require.ErrorIs(t, err, lcsock.ErrNotPumped)
}
