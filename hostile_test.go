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
	h := lcsock.HandlerFunc(func(ev lcsock.Event) {
		if ev.Kind != lcsock.EventDatagram {
			return
		}
		<-release
		got <- len(ev.Data)
	})
	reg, _ := newReg(t, lcsock.Config{MaxDatagramQueue: queue, Handler: h})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	t.Cleanup(unblock) // before the registry's Close, which waits for the handler
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
