package lcsock_test

// Benchmarks comparing lcsock with plain net on loopback, in the same
// `go test -bench` run (issue 10). Each pair does the same work: the raw
// side with goroutines and blocking calls on net.Conn, the lcsock side
// through a Registry, its default (serial) dispatcher and handlers that
// chain the next request from the completion event. See BENCHMARKS.md.
//
//	go test -run '^$' -bench . -benchtime 2s -count 3
//
// Timing lives here only; the unit tests have no timing asserts.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lcsock/lcsock"
)

const (
	lineLen    = 64       // bytes per request/response line, "\n" included
	rtConns    = 50       // connections of BenchmarkRoundTrip
	bulkChunk  = 64 << 10 // bytes per write of BenchmarkBulk
	bulkWindow = 4        // async writes in flight in BenchmarkBulk
	idleN      = 5000     // sockets of BenchmarkIdleSocketMemory
	scaleN     = 10000    // sockets of BenchmarkScale10k
	benchWait  = 2 * time.Minute
)

var line64 = append(bytes.Repeat([]byte("x"), lineLen-1), '\n')

// --- helpers -------------------------------------------------------------

// failure records the first error seen by a handler or goroutine.
type failure struct {
	once sync.Once
	ch   chan struct{}
	err  error
}

func newFailure() *failure { return &failure{ch: make(chan struct{})} }

func (f *failure) set(err error) {
	f.once.Do(func() { f.err = err; close(f.ch) })
}

// wait waits for done, failing b on an error or after benchWait.
func (f *failure) wait(b *testing.B, done <-chan struct{}) {
	b.Helper()
	select {
	case <-done:
	case <-f.ch:
		b.Fatal(f.err)
	case <-time.After(benchWait):
		b.Fatal("benchmark did not finish in time")
	}
}

// waitN receives n values from ch.
func (f *failure) waitN(b *testing.B, ch <-chan struct{}, n int) {
	b.Helper()
	timeout := time.After(benchWait)
	for range n {
		select {
		case <-ch:
		case <-f.ch:
			b.Fatal(f.err)
		case <-timeout:
			b.Fatal("benchmark setup did not finish in time")
		}
	}
}

func newBenchReg(b testing.TB, cfg lcsock.Config) *lcsock.Registry {
	b.Helper()
	reg, err := lcsock.NewRegistry(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { reg.Close() })
	return reg
}

func reportRate(b *testing.B, n int, unit string) {
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(n)/s, unit)
	}
}

func needFDs(b *testing.B, want uint64) {
	b.Helper()
	got, err := raiseFDLimit(want)
	if got < want {
		b.Skipf("needs RLIMIT_NOFILE >= %d; it is %d and could not be raised (%v)", want, got, err)
	}
}

// rawServer is a plain net listener on loopback that runs serve on each
// accepted connection (or just holds it when serve is nil).
type rawServer struct {
	ln     net.Listener
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

// startRawServer listens on every interface, as Accept does without a
// DefaultInterface: on Linux both are then a dual-stack IPv6 socket, whose
// accepted connections cost the kernel a little more than an IPv4-only
// listener's (2.7% of a connection in BenchmarkConnect/lcsock-server), so
// raw and lcsock servers are compared on the same footing.
func startRawServer(b *testing.B, serve func(net.Conn)) *rawServer {
	b.Helper()
	ln, err := net.Listen("tcp", ":0")
	if err != nil {
		b.Fatal(err)
	}
	s := &rawServer{ln: ln, conns: make(map[net.Conn]struct{})}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				time.Sleep(5 * time.Millisecond) // EMFILE and the like
				continue
			}
			s.mu.Lock()
			if s.closed {
				s.mu.Unlock()
				c.Close()
				continue
			}
			s.conns[c] = struct{}{}
			if serve != nil {
				s.wg.Add(1)
				go func() {
					defer s.wg.Done()
					serve(c)
					s.drop(c)
				}()
			}
			s.mu.Unlock()
		}
	}()
	b.Cleanup(s.close)
	return s
}

func (s *rawServer) addr() string { return "127.0.0.1:" + strconv.Itoa(s.port()) }
func (s *rawServer) port() int    { return s.ln.Addr().(*net.TCPAddr).Port }

func (s *rawServer) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

func (s *rawServer) drop(c net.Conn) {
	c.Close()
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// closeConns closes the accepted connections, keeping the listener.
func (s *rawServer) closeConns() {
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
		delete(s.conns, c)
	}
	s.mu.Unlock()
}

func (s *rawServer) close() {
	s.ln.Close()
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.closeConns()
	s.wg.Wait()
}

// serveLineEcho is the raw echo server: bufio line read, write it back.
func serveLineEcho(c net.Conn) {
	br := bufio.NewReaderSize(c, 4096)
	for {
		l, err := br.ReadSlice('\n')
		if err != nil {
			return
		}
		if _, err := c.Write(l); err != nil {
			return
		}
	}
}

// startLcsockEcho starts the lcsock echo server: a registry of its own
// (its own dispatcher, as a separate server process would have) accepting
// on loopback; each accepted socket reads spec with message and writes
// what it read back with WriteWithMessage.
func startLcsockEcho(b testing.TB, spec lcsock.ReadSpec) int {
	b.Helper()
	srv := newBenchReg(b, lcsock.Config{})
	var h lcsock.Handler
	h = lcsock.HandlerFunc(func(ev lcsock.Event) {
		switch ev.Kind {
		case lcsock.EventAccepted:
			srv.ReadWithMessage(ev.Socket, spec, h, "line")
		case lcsock.EventRead:
			if len(ev.Data) > 0 {
				srv.WriteWithMessage(ev.Socket, ev.Data, h, "")
			}
			if ev.Err == nil {
				srv.ReadWithMessage(ev.Socket, spec, h, "line")
			}
		}
	})
	port, err := srv.Accept(0, h, "accepted")
	if err != nil {
		b.Fatal(err)
	}
	return port
}

// lcsockClients runs request/response round trips over n lcsock client
// sockets of one registry, all in handlers: each round trip is a
// WriteWithMessage of line64 and a ReadWithMessage(Until("\n")), the next
// one issued from the read event. setup opens and connects the sockets
// and does one untimed round trip on each; run does total round trips.
type lcsockClients struct {
	reg       *lcsock.Registry
	ids       []string
	h         lcsock.Handler
	f         *failure
	connected chan struct{}
	remaining atomic.Int64
	completed atomic.Int64
	target    int64
	done      chan struct{}
}

func newLcsockClients(b *testing.B, port, n int) *lcsockClients {
	b.Helper()
	c := &lcsockClients{reg: newBenchReg(b, lcsock.Config{}), f: newFailure(), connected: make(chan struct{}, n)}
	c.h = lcsock.HandlerFunc(c.handle)
	const batch = 500 // below the listen backlog
	for i := 0; i < n; i += batch {
		m := min(batch, n-i)
		for j := i; j < i+m; j++ {
			id := "127.0.0.1:" + strconv.Itoa(port) + "|c" + strconv.Itoa(j)
			c.ids = append(c.ids, id)
			if err := c.reg.Open(id, c.h, lcsock.WithMessage("connected")); err != nil {
				b.Fatal(err)
			}
		}
		c.f.waitN(b, c.connected, m)
	}
	c.run(b, n) // one round trip on every socket
	return c
}

func (c *lcsockClients) issue(id string) {
	if c.remaining.Add(-1) < 0 {
		return
	}
	if err := c.reg.WriteWithMessage(id, line64, c.h, ""); err != nil {
		c.f.set(err)
		return
	}
	if err := c.reg.ReadWithMessage(id, lcsock.Until("\n"), c.h, "echo"); err != nil {
		c.f.set(err)
	}
}

func (c *lcsockClients) handle(ev lcsock.Event) {
	switch ev.Kind {
	case lcsock.EventConnected:
		c.connected <- struct{}{}
	case lcsock.EventRead:
		if ev.Err != nil || len(ev.Data) != lineLen {
			c.f.set(fmt.Errorf("read event: %d bytes, %v", len(ev.Data), ev.Err))
			return
		}
		if c.completed.Add(1) == c.target {
			close(c.done)
		}
		c.issue(ev.Socket)
	default:
		c.f.set(fmt.Errorf("unexpected event %v (%v)", ev, ev.Err))
	}
}

// run does total round trips spread over the sockets and waits for them.
func (c *lcsockClients) run(b *testing.B, total int) {
	b.Helper()
	c.done = make(chan struct{})
	c.completed.Store(0)
	c.target = int64(total)
	c.remaining.Store(int64(total))
	for _, id := range c.ids {
		c.issue(id)
	}
	c.f.wait(b, c.done)
}

// --- request/response ----------------------------------------------------

// BenchmarkRoundTrip: 50 connections each doing 64-byte line round trips
// against an echo server. One op is one round trip.
func BenchmarkRoundTrip(b *testing.B) {
	b.Run("raw", func(b *testing.B) {
		b.ReportAllocs()
		srv := startRawServer(b, serveLineEcho)
		conns := make([]net.Conn, rtConns)
		for i := range conns {
			c, err := net.Dial("tcp", srv.addr())
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			conns[i] = c
		}
		var remaining atomic.Int64
		remaining.Store(int64(b.N))
		f := newFailure()
		var wg sync.WaitGroup
		b.ResetTimer()
		for _, c := range conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				br := bufio.NewReaderSize(c, 4096)
				for remaining.Add(-1) >= 0 {
					if _, err := c.Write(line64); err != nil {
						f.set(err)
						return
					}
					l, err := br.ReadSlice('\n')
					if err != nil || len(l) != lineLen {
						f.set(fmt.Errorf("read %d bytes: %v", len(l), err))
						return
					}
				}
			}()
		}
		wg.Wait()
		b.StopTimer()
		if f.err != nil {
			b.Fatal(f.err)
		}
		reportRate(b, b.N, "roundtrips/s")
	})
	b.Run("lcsock", func(b *testing.B) {
		b.ReportAllocs()
		port := startLcsockEcho(b, lcsock.Until("\n"))
		c := newLcsockClients(b, port, rtConns)
		b.ResetTimer()
		c.run(b, b.N)
		b.StopTimer()
		reportRate(b, b.N, "roundtrips/s")
	})
}

// --- bulk ----------------------------------------------------------------

// BenchmarkBulk streams b.N × 64 KiB over one connection (run with
// -benchtime 16384x for 1 GiB). One op is one 64 KiB chunk, received.
//
//	raw:         net.Conn writes → net.Conn reads
//	lcsock:      lcsock WriteWithMessage (4 in flight) → lcsock Accept side, ReadWithMessage(Available) chained
//	lcsock-send: lcsock writes → raw reads
//	lcsock-recv: raw writes → lcsock reads
func BenchmarkBulk(b *testing.B) {
	chunk := bytes.Repeat([]byte("0123456789abcdef"), bulkChunk/16)

	// With owned, every read goes to a new buffer the reader keeps, as
	// each Data of lcsock's default mode is the handler's: what that
	// contract costs raw net.
	rawSink := func(b *testing.B, total int64, f *failure, done chan struct{}, owned bool) *rawServer {
		return startRawServer(b, func(c net.Conn) {
			buf := make([]byte, bulkChunk)
			var got int64
			for got < total {
				if owned {
					buf = make([]byte, bulkChunk)
				}
				n, err := c.Read(buf)
				if owned {
					bulkKept = buf[:n]
				}
				got += int64(n)
				if err != nil {
					f.set(err)
					return
				}
			}
			close(done)
		})
	}
	lcsockSink := func(b *testing.B, total int64, f *failure, done chan struct{}, lend bool) int {
		srv := newBenchReg(b, lcsock.Config{LendReadData: lend})
		var got, events int64
		b.Cleanup(func() { b.ReportMetric(float64(events)/float64(b.N), "events/op") })
		var h lcsock.Handler
		h = lcsock.HandlerFunc(func(ev lcsock.Event) {
			switch ev.Kind {
			case lcsock.EventAccepted:
				srv.ReadWithMessage(ev.Socket, lcsock.Available(), h, "data")
			case lcsock.EventRead:
				events++
				got += int64(len(ev.Data))
				if got >= total {
					close(done)
					return
				}
				if ev.Err != nil {
					f.set(ev.Err)
					return
				}
				srv.ReadWithMessage(ev.Socket, lcsock.Available(), h, "data")
			}
		})
		port, err := srv.Accept(0, h, "accepted")
		if err != nil {
			b.Fatal(err)
		}
		return port
	}
	rawSource := func(b *testing.B, addr string, f *failure) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		var wg sync.WaitGroup
		b.Cleanup(func() { c.Close(); wg.Wait() })
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range b.N {
				if _, err := c.Write(chunk); err != nil {
					f.set(err)
					return
				}
			}
		}()
	}
	lcsockSource := func(b *testing.B, port int, f *failure) {
		cli := newBenchReg(b, lcsock.Config{})
		id := "127.0.0.1:" + strconv.Itoa(port) + "|bulk"
		remaining := b.N
		var h lcsock.Handler
		next := func() {
			if remaining == 0 {
				return
			}
			remaining--
			if err := cli.WriteWithMessage(id, chunk, h, "sent"); err != nil {
				f.set(err)
			}
		}
		h = lcsock.HandlerFunc(func(ev lcsock.Event) {
			switch ev.Kind {
			case lcsock.EventConnected:
				for range bulkWindow {
					next()
				}
			case lcsock.EventWritten:
				next()
			default:
				f.set(fmt.Errorf("unexpected event %v", ev))
			}
		})
		if err := cli.Open(id, h, lcsock.WithMessage("connected")); err != nil {
			b.Fatal(err)
		}
	}

	run := func(name string, lcsockSends, lcsockReceives, lend, owned bool) {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(bulkChunk)
			total := int64(b.N) * bulkChunk
			f := newFailure()
			done := make(chan struct{})
			var port int
			if lcsockReceives {
				port = lcsockSink(b, total, f, done, lend)
			} else {
				port = rawSink(b, total, f, done, owned).port()
			}
			b.ResetTimer()
			if lcsockSends {
				lcsockSource(b, port, f)
			} else {
				rawSource(b, "127.0.0.1:"+strconv.Itoa(port), f)
			}
			f.wait(b, done)
			b.StopTimer()
		})
	}
	run("raw", false, false, false, false)
	run("raw-owned", false, false, false, true)
	run("lcsock", true, true, false, false)
	run("lcsock-send", true, false, false, false)
	run("lcsock-recv", false, true, false, false)
	run("lcsock-lend", true, true, true, false)
	run("lcsock-recv-lend", false, true, true, false)
}

// bulkKept is where the raw-owned sink keeps its buffers, so that they
// are allocated on the heap as lcsock's Data are.
var bulkKept []byte

// --- connection rate -----------------------------------------------------

// BenchmarkConnect: sequentially connect, one 64-byte echo, close. One op
// is one connection. The lcsock side opens the next socket (same ID) from
// the read event of the previous one, against an lcsock echo server;
// lcsock-client and lcsock-server put lcsock on one side only.
//
// Each also reports where a connection's time goes, on the client:
// connect-ns (Dial, or Open until the connected event), echo-ns (the
// write until the echo is read) and close-ns (Close, or CloseSocket).
func BenchmarkConnect(b *testing.B) {
	rawClient := func(b *testing.B, addr string) {
		b.ReportAllocs()
		buf := make([]byte, lineLen)
		var ph phases
		b.ResetTimer()
		for range b.N {
			t0 := time.Now()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				b.Fatal(err)
			}
			t1 := time.Now()
			if _, err := c.Write(line64); err != nil {
				b.Fatal(err)
			}
			if _, err := io.ReadFull(c, buf); err != nil {
				b.Fatal(err)
			}
			t2 := time.Now()
			c.Close()
			ph.add(t0, t1, t2, time.Now())
		}
		b.StopTimer()
		reportRate(b, b.N, "conns/s")
		ph.report(b)
	}
	lcsockClient := func(b *testing.B, port int) {
		b.ReportAllocs()
		cli := newBenchReg(b, lcsock.Config{})
		id := "127.0.0.1:" + strconv.Itoa(port) + "|conn"
		f := newFailure()
		done := make(chan struct{})
		remaining := b.N
		var h lcsock.Handler
		var ph phases
		var t0, t1 time.Time // Open called; connected event
		open := func() {
			remaining--
			t0 = time.Now()
			if err := cli.Open(id, h, lcsock.WithMessage("connected")); err != nil {
				f.set(err)
			}
		}
		h = lcsock.HandlerFunc(func(ev lcsock.Event) {
			switch ev.Kind {
			case lcsock.EventConnected:
				t1 = time.Now()
				if err := cli.WriteWithMessage(id, line64, h, ""); err != nil {
					f.set(err)
				}
				if err := cli.ReadWithMessage(id, lcsock.Until("\n"), h, "echo"); err != nil {
					f.set(err)
				}
			case lcsock.EventRead:
				if ev.Err != nil || len(ev.Data) != lineLen {
					f.set(fmt.Errorf("read event: %d bytes, %v", len(ev.Data), ev.Err))
					return
				}
				t2 := time.Now()
				cli.CloseSocket(id)
				ph.add(t0, t1, t2, time.Now())
				if remaining == 0 {
					close(done)
					return
				}
				open()
			default:
				f.set(fmt.Errorf("unexpected event %v (%v)", ev, ev.Err))
			}
		})
		b.ResetTimer()
		open()
		f.wait(b, done)
		b.StopTimer()
		reportRate(b, b.N, "conns/s")
		ph.report(b)
	}
	b.Run("raw", func(b *testing.B) {
		rawClient(b, startRawServer(b, serveLineEcho).addr())
	})
	b.Run("lcsock", func(b *testing.B) {
		lcsockClient(b, startLcsockEcho(b, lcsock.Until("\n")))
	})
	// One side lcsock, the other raw: which side costs what.
	b.Run("lcsock-client", func(b *testing.B) {
		lcsockClient(b, startRawServer(b, serveLineEcho).port())
	})
	b.Run("lcsock-server", func(b *testing.B) {
		rawClient(b, "127.0.0.1:"+strconv.Itoa(startLcsockEcho(b, lcsock.Until("\n"))))
	})
}

// phases sums the client-side phases of BenchmarkConnect's connections.
type phases struct {
	n                     int
	connect, echo, closed time.Duration
}

// add records one connection: started, connected, echo read, closed.
func (p *phases) add(t0, t1, t2, t3 time.Time) {
	p.n++
	p.connect += t1.Sub(t0)
	p.echo += t2.Sub(t1)
	p.closed += t3.Sub(t2)
}

func (p *phases) report(b *testing.B) {
	if p.n == 0 {
		return
	}
	n := float64(p.n)
	b.ReportMetric(float64(p.connect)/n, "connect-ns")
	b.ReportMetric(float64(p.echo)/n, "echo-ns")
	b.ReportMetric(float64(p.closed)/n, "close-ns")
}

// --- memory --------------------------------------------------------------

// inUse returns heap + goroutine stack bytes in use after a full GC.
func inUse() int64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapInuse + ms.StackInuse)
}

// waitAccepted waits until srv holds n accepted connections.
func waitAccepted(b *testing.B, srv *rawServer, n int) {
	b.Helper()
	deadline := time.Now().Add(benchWait)
	for srv.count() < n {
		if time.Now().After(deadline) {
			b.Fatalf("server accepted %d of %d connections", srv.count(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// openIdleRaw dials n plain connections to srv; with reader, each gets a
// goroutine blocked in Read on a 4 KiB buffer (goroutine-per-connection
// style, what lcsock's model does). It returns a function that closes all.
func openIdleRaw(b *testing.B, srv *rawServer, n int, reader bool) func() {
	conns := make([]net.Conn, 0, n)
	var wg sync.WaitGroup
	for range n {
		c, err := net.Dial("tcp", srv.addr())
		if err != nil {
			b.Fatal(err)
		}
		conns = append(conns, c)
		if reader {
			wg.Add(1)
			go func() {
				defer wg.Done()
				buf := make([]byte, 4096)
				for {
					if _, err := c.Read(buf); err != nil {
						return
					}
				}
			}()
		}
	}
	waitAccepted(b, srv, n)
	return func() {
		for _, c := range conns {
			c.Close()
		}
		wg.Wait()
	}
}

// openIdleLcsock opens n lcsock client sockets to srv on one registry and
// waits until all are connected.
func openIdleLcsock(b *testing.B, srv *rawServer, n int) func() {
	reg, err := lcsock.NewRegistry(lcsock.Config{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { reg.Close() })
	f := newFailure()
	connected := make(chan struct{}, n)
	h := lcsock.HandlerFunc(func(ev lcsock.Event) {
		if ev.Kind == lcsock.EventConnected {
			connected <- struct{}{}
		} else {
			f.set(fmt.Errorf("unexpected event %v (%v)", ev, ev.Err))
		}
	})
	const batch = 500
	for i := 0; i < n; i += batch {
		m := min(batch, n-i)
		for j := i; j < i+m; j++ {
			if err := reg.Open(srv.addr()+"|idle"+strconv.Itoa(j), h, lcsock.WithMessage("connected")); err != nil {
				b.Fatal(err)
			}
		}
		f.waitN(b, connected, m)
	}
	waitAccepted(b, srv, n)
	if got := len(reg.OpenSockets()); got != n {
		b.Fatalf("%d sockets open, want %d", got, n)
	}
	return func() { reg.Close() }
}

// BenchmarkIdleSocketMemory measures heap + goroutine stacks per idle
// open socket with 5,000 sockets connected to a raw loopback listener in
// the same process. "B/socket+peer" is the whole delta per socket,
// including the listener's accepted net.Conn; "B/socket" subtracts the
// peer's share, measured in the same run as half the cost of a plain
// net.Conn pair. One op opens and closes all 5,000.
func BenchmarkIdleSocketMemory(b *testing.B) {
	needFDs(b, 2*idleN+1000)
	measure := func(b *testing.B, srv *rawServer, open func() func()) float64 {
		before := inUse()
		closeAll := open()
		time.Sleep(20 * time.Millisecond) // let every reader reach its blocking Read
		after := inUse()
		closeAll()
		srv.closeConns()
		for srv.count() > 0 {
			time.Sleep(time.Millisecond)
		}
		return float64(after-before) / idleN
	}
	variants := []struct {
		name string
		open func(*testing.B, *rawServer) func()
	}{
		{"raw", func(b *testing.B, srv *rawServer) func() { return openIdleRaw(b, srv, idleN, false) }},
		{"raw+reader", func(b *testing.B, srv *rawServer) func() { return openIdleRaw(b, srv, idleN, true) }},
		{"lcsock", func(b *testing.B, srv *rawServer) func() { return openIdleLcsock(b, srv, idleN) }},
	}
	for _, v := range variants {
		b.Run(v.name, func(b *testing.B) {
			b.ReportAllocs()
			srv := startRawServer(b, nil)
			var pair, total float64
			for range b.N {
				pair += measure(b, srv, func() func() { return openIdleRaw(b, srv, idleN, false) })
				total += measure(b, srv, func() func() { return v.open(b, srv) })
			}
			peer := pair / 2 / float64(b.N)
			total /= float64(b.N)
			b.ReportMetric(total, "B/socket+peer")
			b.ReportMetric(total-peer, "B/socket")
		})
	}
}

// --- scale ---------------------------------------------------------------

// BenchmarkScale10k keeps 10,000 lcsock client sockets open on one
// registry against an lcsock echo server, does one echo on each during
// setup, then b.N echo round trips spread over all of them. Any
// socketError, socketClosed or socketTimeout fails it. One op is one
// round trip. The echo server (an lcsock registry accepting, as in
// BenchmarkRoundTrip) runs in a child process — this test binary re-run
// as TestBenchEchoProcess — so that each process needs only ~10,000
// descriptors; "B/socket" is heap + stacks per client socket.
func BenchmarkScale10k(b *testing.B) {
	needFDs(b, scaleN+1000)
	b.ReportAllocs()
	port := startEchoProcess(b)
	before := inUse()
	c := newLcsockClients(b, port, scaleN)
	perSocket := float64(inUse()-before) / scaleN
	b.ResetTimer()
	c.run(b, b.N)
	b.StopTimer()
	if got := len(c.reg.OpenSockets()); got != scaleN {
		b.Fatalf("%d sockets open after the run, want %d", got, scaleN)
	}
	reportRate(b, b.N, "roundtrips/s")
	b.ReportMetric(perSocket, "B/socket")
}

const echoProcessEnv = "LCSOCK_BENCH_ECHO_PROCESS"

// TestBenchEchoProcess is the child process of BenchmarkScale10k: an
// lcsock echo server that prints its port and runs until stdin closes.
func TestBenchEchoProcess(t *testing.T) {
	if os.Getenv(echoProcessEnv) != "1" {
		t.Skip("helper process for BenchmarkScale10k")
	}
	if got, err := raiseFDLimit(scaleN + 1000); got < scaleN+1000 {
		t.Fatalf("RLIMIT_NOFILE %d: %v", got, err)
	}
	port := startLcsockEcho(t, lcsock.Until("\n"))
	fmt.Printf("PORT %d\n", port)
	io.Copy(io.Discard, os.Stdin)
}

// startEchoProcess starts TestBenchEchoProcess and returns its port; the
// child ends at cleanup.
func startEchoProcess(b *testing.B) int {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestBenchEchoProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), echoProcessEnv+"=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	drained := make(chan struct{})
	b.Cleanup(func() {
		stdin.Close()
		<-drained
		cmd.Wait()
	})
	br := bufio.NewReader(stdout)
	first, err := br.ReadString('\n')
	go func() {
		defer close(drained)
		io.Copy(io.Discard, br)
	}()
	var port int
	if _, serr := fmt.Sscanf(first, "PORT %d", &port); serr != nil {
		b.Fatalf("echo process: %q: %v %v", first, err, serr)
	}
	return port
}

// --- small writes --------------------------------------------------------

// BenchmarkSmallWrite: 64-byte writes to a raw peer that discards. One op
// is one write.
//
//	raw:             net.Conn.Write
//	lcsock-blocking: Registry.Write
//	lcsock-async:    WriteWithMessage with a message, 16 in flight, next issued from EventWritten
func BenchmarkSmallWrite(b *testing.B) {
	discard := func(c net.Conn) { io.Copy(io.Discard, c) }
	b.Run("raw", func(b *testing.B) {
		b.ReportAllocs()
		srv := startRawServer(b, discard)
		c, err := net.Dial("tcp", srv.addr())
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		b.ResetTimer()
		for range b.N {
			if _, err := c.Write(line64); err != nil {
				b.Fatal(err)
			}
		}
	})
	connect := func(b *testing.B, h lcsock.Handler) (*lcsock.Registry, string) {
		srv := startRawServer(b, discard)
		reg := newBenchReg(b, lcsock.Config{})
		id := srv.addr() + "|w"
		ctx, cancel := context.WithTimeout(context.Background(), benchWait)
		defer cancel()
		if err := reg.Open(id, h); err != nil {
			b.Fatal(err)
		}
		if _, err := reg.Write(ctx, id, line64); err != nil { // waits for the connection
			b.Fatal(err)
		}
		return reg, id
	}
	b.Run("lcsock-blocking", func(b *testing.B) {
		b.ReportAllocs()
		reg, id := connect(b, nil)
		ctx := context.Background()
		b.ResetTimer()
		for range b.N {
			if _, err := reg.Write(ctx, id, line64); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("lcsock-async", func(b *testing.B) {
		b.ReportAllocs()
		f := newFailure()
		done := make(chan struct{})
		var reg *lcsock.Registry
		var id string
		remaining, completed := b.N, 0
		var h lcsock.Handler
		next := func() {
			if remaining == 0 {
				return
			}
			remaining--
			if err := reg.WriteWithMessage(id, line64, h, "w"); err != nil {
				f.set(err)
			}
		}
		h = lcsock.HandlerFunc(func(ev lcsock.Event) {
			switch ev.Kind {
			case lcsock.EventWritten:
				completed++
				if completed == b.N {
					close(done)
					return
				}
				next()
			case lcsock.EventRead:
				next() // the kick-off, below
			default:
				f.set(fmt.Errorf("unexpected event %v", ev))
			}
		})
		reg, id = connect(b, h)
		b.ResetTimer()
		// Start 16 chains from the dispatcher goroutine, where the handler
		// runs, so that remaining needs no lock.
		for range 16 {
			reg.ReadWithMessage(id, lcsock.Until(""), h, "kick")
		}
		f.wait(b, done)
	})
}

// --- dispatch ------------------------------------------------------------

// dispatchRig is one connected socket whose ReadWithMessage(Until(""))
// completes at once (LiveCode's "until empty" with nothing buffered): an
// event that costs no I/O, so the benchmark measures the request + event
// path and the dispatcher alone.
type dispatchRig struct {
	reg    *lcsock.Registry
	id     string
	stop   func()
	pumped bool
}

func newDispatchRig(b *testing.B, mode lcsock.DispatchMode) *dispatchRig {
	srv := startRawServer(b, nil)
	reg := newBenchReg(b, lcsock.Config{Dispatch: mode})
	id := srv.addr() + "|d"
	if err := reg.Open(id, nil); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), benchWait)
	defer cancel()
	if _, err := reg.Write(ctx, id, nil); err != nil { // waits for the connection
		b.Fatal(err)
	}
	r := &dispatchRig{reg: reg, id: id, stop: func() {}, pumped: mode == lcsock.DispatchPumped}
	if r.pumped {
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { // the host's "wait for messages" loop
			defer wg.Done()
			for ctx.Err() == nil {
				reg.Dispatch(ctx)
			}
		}()
		r.stop = func() { cancel(); wg.Wait() }
		b.Cleanup(r.stop)
	}
	return r
}

// BenchmarkDispatch measures the event path of the serial (default) and
// pumped dispatchers.
//
//	max:       64 chains of request → event → next request from the
//	           handler; one op is one event; reports events/s.
//	load=20k:  an outside goroutine offers 20,000 events/s; reports the
//	           latency from the ReadWithMessage call to the handler
//	           (p50, p99) and the delivered rate.
func BenchmarkDispatch(b *testing.B) {
	// The baseline of the latency figures: the same offered load handed to
	// a goroutine over a buffered channel, no lcsock.
	chanLoad := func(b *testing.B, timer bool) {
		b.ReportAllocs()
		if timer {
			// One pending timer in the process, as an lcsock socket with
			// a read pending has (its timeout): on this VM it alone makes
			// goroutine wake-ups several times slower.
			t := time.AfterFunc(time.Hour, func() {})
			defer t.Stop()
		}
		const rate = 20000
		interval := time.Second / rate
		lat := make([]time.Duration, 0, b.N)
		ch := make(chan time.Time, 1024)
		done := make(chan struct{})
		go func() {
			defer close(done)
			for t := range ch {
				lat = append(lat, time.Since(t))
			}
		}()
		b.ResetTimer()
		start := time.Now()
		for i := range b.N {
			if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
				time.Sleep(d)
			}
			ch <- time.Now()
		}
		close(ch)
		<-done
		b.StopTimer()
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
		b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
		reportRate(b, b.N, "events/s")
	}
	b.Run("chan/load=20k", func(b *testing.B) { chanLoad(b, false) })
	b.Run("chan+timer/load=20k", func(b *testing.B) { chanLoad(b, true) })
	for _, mode := range []struct {
		name string
		m    lcsock.DispatchMode
	}{{"serial", lcsock.DispatchSerial}, {"pumped", lcsock.DispatchPumped}} {
		b.Run(mode.name+"/max", func(b *testing.B) {
			b.ReportAllocs()
			r := newDispatchRig(b, mode.m)
			done := make(chan struct{})
			f := newFailure()
			remaining, completed := b.N, 0
			var h lcsock.Handler
			next := func() {
				if remaining > 0 {
					remaining--
					if err := r.reg.ReadWithMessage(r.id, lcsock.Until(""), h, "e"); err != nil {
						f.set(err)
					}
				}
			}
			h = lcsock.HandlerFunc(func(ev lcsock.Event) {
				if ev.Name == "kick" {
					// Start the chains on the dispatching goroutine, so
					// that remaining and completed need no lock.
					for range 64 {
						next()
					}
					return
				}
				completed++
				if completed == b.N {
					close(done)
				}
				next()
			})
			b.ResetTimer()
			if err := r.reg.ReadWithMessage(r.id, lcsock.Until(""), h, "kick"); err != nil {
				b.Fatal(err)
			}
			f.wait(b, done)
			b.StopTimer()
			reportRate(b, b.N, "events/s")
		})
		b.Run(mode.name+"/load=20k", func(b *testing.B) {
			b.ReportAllocs()
			const rate = 20000
			interval := time.Second / rate
			r := newDispatchRig(b, mode.m)
			issued := make([]time.Time, b.N)
			lat := make([]time.Duration, b.N)
			done := make(chan struct{})
			f := newFailure()
			n := 0
			h := lcsock.HandlerFunc(func(ev lcsock.Event) {
				// Reads on one socket complete in order: this is event n.
				lat[n] = time.Since(issued[n])
				n++
				if n == b.N {
					close(done)
				}
			})
			b.ResetTimer()
			start := time.Now()
			for i := range b.N {
				if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
					time.Sleep(d)
				}
				issued[i] = time.Now()
				if err := r.reg.ReadWithMessage(r.id, lcsock.Until(""), h, "e"); err != nil {
					b.Fatal(err)
				}
			}
			f.wait(b, done)
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
			b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
			reportRate(b, b.N, "events/s")
		})
	}
}
