package lcsock

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// With LendReadData, a buffer that fills while part of it is lent and a
// large read is pending must not be replaced by one twice its size each
// time: the lent bytes stay behind, so the new buffer needs room only for
// the unread bytes. Otherwise the read buffer of a busy socket doubles
// without bound, far past MaxReadBuffer.
func TestLendBufferGrowth(t *testing.T) {
	reg, id, c := openToPeer(t, Config{LendReadData: true, Dispatch: DispatchPumped})

	const size, reads = 200_000, 100
	got := 0
	h := HandlerFunc(func(ev Event) { got += len(ev.Data) })
	for range reads {
		require.NoError(t, reg.ReadWithMessage(id, For(size, Chars), h, "chunk"))
	}
	go c.Write(make([]byte, size*reads+1))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// A blocking read behind them completes once every async read has.
	_, err := reg.Read(ctx, id, For(1, Chars))
	require.NoError(t, err)

	s, err := reg.lookup("test", id)
	require.NoError(t, err)
	s.mu.Lock()
	biggest := cap(s.buf)
	for b := range s.oldLoans {
		biggest = max(biggest, cap(*b))
	}
	s.mu.Unlock()
	for got < size*reads {
		_, err := reg.Dispatch(ctx)
		require.NoError(t, err)
	}
	limit := reg.cfg.MaxReadBuffer + 1 + readChunkMax
	require.LessOrEqual(t, biggest, limit, "read buffer of %d bytes (MaxReadBuffer %d)", biggest, reg.cfg.MaxReadBuffer)
}

// The same in the default serial mode, with one handler at a time: the
// handler asks for the next chunk, then reads a byte with a blocking Read,
// which returns only once that next chunk has arrived while the handler's
// own data is still lent. The buffer must stay within its limit.
func TestLendBufferGrowthSerial(t *testing.T) {
	reg, id, c := openToPeer(t, Config{LendReadData: true})
	s, err := reg.lookup("test", id)
	require.NoError(t, err)

	const size, rounds = 200_000, 60
	biggest, n := 0, 0
	done := make(chan error, 1)
	var h Handler
	h = HandlerFunc(func(ev Event) {
		s.mu.Lock()
		biggest = max(biggest, cap(s.buf))
		s.mu.Unlock()
		if n++; n == rounds || ev.Err != nil {
			done <- ev.Err
			return
		}
		if err := reg.ReadWithMessage(id, For(size, Chars), h, "chunk"); err != nil {
			done <- err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := reg.Read(ctx, id, For(1, Chars)); err != nil {
			done <- err
		}
	})
	require.NoError(t, reg.ReadWithMessage(id, For(size, Chars), h, "chunk"))
	go c.Write(make([]byte, (size+1)*rounds))
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(20 * time.Second):
		t.Fatal("stuck")
	}
	limit := reg.cfg.MaxReadBuffer + 1 + readChunkMax
	require.LessOrEqual(t, biggest, limit, "read buffer of %d bytes (MaxReadBuffer %d)", biggest, reg.cfg.MaxReadBuffer)
}

// openToPeer opens a socket of a new registry made with cfg to a plain
// listener on loopback and returns the registry, the socket's ID and the
// listener's side of the connection, all closed at cleanup.
func openToPeer(t *testing.T, cfg Config, opts ...Option) (*Registry, string, net.Conn) {
	t.Helper()
	reg, err := NewRegistry(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { reg.Close() })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	id := ln.Addr().String()
	require.NoError(t, reg.Open(id, nil, opts...))
	c, err := ln.Accept()
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return reg, id, c
}

// openToEndedPeer opens a socket (openToPeer) to a peer that sends data
// and closes, and waits until the socket holds data and has seen the end
// of the stream.
func openToEndedPeer(t *testing.T, cfg Config, data string) (*Registry, string) {
	t.Helper()
	reg, id, peer := openToPeer(t, cfg)
	s, err := reg.lookup("test", id)
	require.NoError(t, err)
	_, err = peer.Write([]byte(data))
	require.NoError(t, err)
	require.NoError(t, peer.Close())
	waitState(t, s, func() bool { return s.eof && len(s.unread()) == len(data) })
	return reg, id
}

// CloseSocket on a socket whose reader waits in a read leaves the close
// of the connection to the reader: closing it under the blocked read
// would make CloseSocket (usually the dispatcher) wait for the reader
// goroutine to be scheduled. The peer still sees a clean end of stream,
// as cases 62 and 63 (local close) require.
func TestCloseLeftToBlockedReader(t *testing.T) {
	reg, id, peer := openToPeer(t, Config{})
	s, err := reg.lookup("test", id)
	require.NoError(t, err)
	waitState(t, s, func() bool { return s.state == stateOpen && s.inRead })
	require.NoError(t, reg.CloseSocket(id))
	s.mu.Lock()
	handed := s.readerCloses
	s.mu.Unlock()
	require.True(t, handed, "the blocked reader should close the connection")
	peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := peer.Read(make([]byte, 1))
	require.Zero(t, n)
	require.ErrorIs(t, err, io.EOF)
	<-s.finished
}

// waitState waits until cond, evaluated with s.mu held, is true.
func waitState(t *testing.T, s *socket, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s.mu.Lock()
		ok := cond()
		s.mu.Unlock()
		if ok {
			return
		}
		require.True(t, time.Now().Before(deadline), "condition not reached")
		runtime.Gosched()
	}
}

// A close handed to the reader must survive a TLS upgrade waiting for the
// reader to park: the upgrade used to clear the read deadline as it gave
// up, and a reader not yet woken by it then waited on, the connection
// never closed (found in review).
func TestCloseHandedToReaderSurvivesUpgrade(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1)) // the reader cannot run before the upgrade gives up
	reg, id, peer := openToPeer(t, Config{})
	s, err := reg.lookup("test", id)
	require.NoError(t, err)
	waitState(t, s, func() bool { return s.state == stateOpen && s.inRead && s.raw != nil })
	s.mu.Lock()
	s.finish() // as Registry.Close's abort does
	require.True(t, s.readerCloses)
	require.Error(t, s.doUpgrade(&upgrade{cfg: &tls.Config{}}))
	s.mu.Unlock()
	peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := peer.Read(make([]byte, 1))
	require.Zero(t, n)
	require.ErrorIs(t, err, io.EOF)
}

// Socket goroutines are reused: a worker whose work ends waits for the
// next, at most maxIdleWorkers of them, and Close ends them all.
func TestWorkersAreReusedAndBounded(t *testing.T) {
	reg, err := NewRegistry(Config{})
	require.NoError(t, err)

	// One piece of work after another runs on few goroutines (a worker
	// that has not yet started to wait can be missed, so not always one).
	seen := map[string]bool{}
	for range 100 {
		done := make(chan string)
		reg.wg.Add(1)
		reg.spawn(func() { done <- goroutineID() })
		seen[<-done] = true
		waitIdle(t, reg, func(n int32) bool { return n >= 1 })
	}
	require.Less(t, len(seen), 10, "goroutines used for 100 pieces of work in a row")

	// Of many workers ending at once, maxIdleWorkers stay.
	release := make(chan struct{})
	for range maxIdleWorkers + 6 {
		reg.wg.Add(1)
		reg.spawn(func() { <-release })
	}
	close(release)
	waitIdle(t, reg, func(n int32) bool { return n == maxIdleWorkers })

	require.NoError(t, reg.Close()) // returns once every worker has left
	require.Zero(t, reg.idle.Load())
}

// goroutineID returns the calling goroutine's number, from its stack trace.
func goroutineID() string {
	buf := make([]byte, 64)
	buf = buf[:runtime.Stack(buf, false)]
	id, _, _ := bytes.Cut(bytes.TrimPrefix(buf, []byte("goroutine ")), []byte(" "))
	return string(id)
}

// waitIdle waits until ok holds for the number of reg's idle workers.
func waitIdle(t *testing.T, reg *Registry, ok func(int32) bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !ok(reg.idle.Load()) {
		require.True(t, time.Now().Before(deadline), "%d idle workers", reg.idle.Load())
		runtime.Gosched()
	}
}

// A socketClosed waiting in the queue when the socket is closed locally
// is not delivered: a local close has none (case 62), and the socket was
// still open — listed, closable — until the event was handled (found in
// review).
func TestQueuedSocketClosedDroppedByLocalClose(t *testing.T) {
	h := holdFirstRead(t, 8)
	require.NoError(t, h.peer.Close())
	<-h.inHandler
	waitState(t, h.s, func() bool { return h.s.finalPosted }) // socketClosed is queued
	close(h.proceed)
	require.NoError(t, <-h.closeErr)
	requireNoneBeforeMarker(t, h.reg, h.events, func(ev Event) bool { return ev.Kind == EventClosed }, "socketClosed after the local close")
}

// heldClose is a socket to a peer whose handler, given the socket's read
// named "first" (one char, which the peer has sent), holds until proceed
// is closed, then closes the socket and sends CloseSocket's error on
// closeErr. The socket's other events go to events.
type heldClose struct {
	reg       *Registry
	id        string
	peer      net.Conn
	s         *socket
	events    chan Event
	inHandler chan struct{} // closed when the handler holds
	proceed   chan struct{} // to close: the handler goes on
	closeErr  chan error
}

func holdFirstRead(t *testing.T, events int) *heldClose {
	t.Helper()
	h := &heldClose{events: make(chan Event, events), inHandler: make(chan struct{}), proceed: make(chan struct{}), closeErr: make(chan error, 1)}
	handler := HandlerFunc(func(ev Event) {
		if ev.Kind == EventRead && ev.Name == "first" {
			close(h.inHandler)
			<-h.proceed
			h.closeErr <- h.reg.CloseSocket(h.id)
			return
		}
		h.events <- ev
	})
	h.reg, h.id, h.peer = openToPeer(t, Config{Handler: handler})
	var err error
	h.s, err = h.reg.lookup("test", h.id)
	require.NoError(t, err)
	require.NoError(t, h.reg.ReadWithMessage(h.id, For(1, Chars), nil, "first"))
	_, err = h.peer.Write([]byte("x"))
	require.NoError(t, err)
	return h
}

// requireNoneBeforeMarker queues a marker event behind everything queued
// now (a read on another socket that completes at once) and fails with
// msg if an event matching bad arrives on events before it.
func requireNoneBeforeMarker(t *testing.T, reg *Registry, events chan Event, bad func(Event) bool, msg string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	other := ln.Addr().String()
	require.NoError(t, reg.Open(other, nil))
	c, err := ln.Accept()
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, reg.ReadWithMessage(other, Until(""), nil, "marker"))
	for {
		ev := nextEvent(t, events)
		require.False(t, bad(ev), msg)
		if ev.Name == "marker" {
			return
		}
	}
}

// Discarding unread input under a read that has already scanned it (a
// panicking handler's socket, a Secure upgrade) restarts its matching:
// the matcher's position pointed past the end of the buffer, and the
// next match panicked with s.mu held, crashing the program (found in
// review).
func TestDiscardUnreadRestartsPendingReads(t *testing.T) {
	t.Run("handler panic", func(t *testing.T) {
		inHandler, proceed := make(chan struct{}), make(chan struct{})
		h := HandlerFunc(func(ev Event) {
			if ev.Name == "first" {
				close(inHandler)
				<-proceed
				panic("handler fails")
			}
		})
		reg, id, peer := openToPeer(t, Config{Handler: h})
		s, err := reg.lookup("test", id)
		require.NoError(t, err)
		require.NoError(t, reg.ReadWithMessage(id, Available(), nil, "first"))
		_, err = peer.Write([]byte("x"))
		require.NoError(t, err)
		<-inHandler
		res := make(chan error, 1)
		go func() {
			_, err := reg.Read(context.Background(), id, Until("\n"))
			res <- err
		}()
		waitState(t, s, func() bool { return len(s.reads) == 1 })
		_, err = peer.Write([]byte("abc")) // scanned by the blocking read
		require.NoError(t, err)
		waitState(t, s, func() bool { return len(s.unread()) == 3 })
		close(proceed)
		require.ErrorIs(t, <-res, ErrHandlerPanic)
	})
	t.Run("secure", func(t *testing.T) {
		events := make(chan Event, 8)
		reg, id, peer := openToPeer(t, Config{Handler: HandlerFunc(func(ev Event) { events <- ev })})
		s, err := reg.lookup("test", id)
		require.NoError(t, err)
		require.NoError(t, reg.ReadWithMessage(id, Until("\n"), nil, "line"))
		_, err = peer.Write([]byte("abcdefgh")) // scanned by the read
		require.NoError(t, err)
		waitState(t, s, func() bool { return len(s.unread()) == 8 })
		require.NoError(t, reg.Secure(id, Verify(false)))
		// The handshake fails on the plaintext: the read ends with the
		// socket, not with a panic.
		for ev := range events {
			if ev.Kind == EventError {
				require.ErrorIs(t, ev.Err, ErrHandshake)
				break
			}
		}
	})
}

// nextEvent returns the next event from events.
func nextEvent(t *testing.T, events <-chan Event) Event {
	t.Helper()
	select {
	case ev := <-events:
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no event")
		return Event{}
	}
}

// Shutdown returns when a handler closes the registry while Shutdown
// waits for the events of its flush: Close dropped the marker Shutdown
// waited for, and it waited until its ctx ended (found in review).
func TestShutdownWhenAHandlerCloses(t *testing.T) {
	inHandler, proceed := make(chan struct{}), make(chan struct{})
	var reg *Registry
	h := HandlerFunc(func(ev Event) {
		if ev.Kind == EventWritten {
			close(inHandler)
			<-proceed
			reg.Close()
		}
	})
	reg, id, peer := openToPeer(t, Config{Handler: h})
	_ = peer
	require.NoError(t, reg.WriteWithMessage(id, []byte("x"), nil, "w"))
	<-inHandler
	done := make(chan error, 1)
	go func() { done <- reg.Shutdown(context.Background()) }()
	deadline := time.Now().Add(5 * time.Second)
	for reg.disp.queued.Load() == 0 { // Shutdown's marker, behind the handler
		require.True(t, time.Now().Before(deadline), "Shutdown queued nothing")
		runtime.Gosched()
	}
	close(proceed)
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("Shutdown still waiting after the handler closed the registry")
	}
}

// With no read pending, the reader stops once half a chunk of input waits
// and the buffer has no room left for a read: it grew the buffer to twice
// its size instead (and the grown array is not pooled), a fresh 128 KiB
// every few chunks of a bulk stream in LendReadData mode, where the
// handler's next read comes after the reader has moved on (BENCHMARKS.md,
// session 7). A pending read still lets it read on and grow.
func TestBufferFullWithoutReads(t *testing.T) {
	const k = 1 << 10
	for _, tc := range []struct {
		name          string
		len, cap, pos int
		reads         bool
		full          bool
	}{
		{"empty", 0, 0, 0, false, false},
		{"room for a read", 40 * k, 64 * k, 0, false, false},
		{"little unread, no room", 62 * k, 64 * k, 40 * k, false, false},
		{"half a chunk, no room", 62 * k, 64 * k, 0, false, true},
		{"half a chunk, no room, read pending", 62 * k, 64 * k, 0, true, false},
		{"a chunk", 64 * k, 128 * k, 0, false, true},
		{"a chunk, read pending", 64 * k, 128 * k, 0, true, false},
		// A read pending at the limit may take one byte more, which tells
		// the end of the stream from an overflow (TestReadBufferLimitThenEOF).
		{"MaxReadBuffer, read pending", 1 << 20, 2 << 20, 0, true, false},
		{"MaxReadBuffer", 1 << 20, 2 << 20, 0, false, true},
		{"MaxReadBuffer + 1, read pending", 1<<20 + 1, 2 << 20, 0, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &socket{reg: &Registry{cfg: Config{MaxReadBuffer: 1 << 20}}}
			s.buf, s.rpos = make([]byte, tc.len, tc.cap), tc.pos
			if tc.reads {
				s.reads = []*readReq{{}}
			}
			require.Equal(t, tc.full, s.bufferFull())
		})
	}
}

// resolveLocal keeps an IPv6 literal's zone: a link-local From address
// or default interface binds on the interface it names (found in
// session 8: net.ParseIP refused "fe80::1%eth0" and the lookup that
// followed dropped the zone, so the bind failed with EINVAL).
func TestResolveLocalKeepsZone(t *testing.T) {
	for _, tc := range []struct {
		host string
		want net.IPAddr
	}{
		{"", net.IPAddr{}},
		{"127.0.0.1", net.IPAddr{IP: net.IPv4(127, 0, 0, 1).To4()}},
		{"::1", net.IPAddr{IP: net.IPv6loopback}},
		{"fe80::1%eth0", net.IPAddr{IP: net.ParseIP("fe80::1"), Zone: "eth0"}},
		{"fe80::1%2", net.IPAddr{IP: net.ParseIP("fe80::1"), Zone: "2"}},
	} {
		got, err := resolveLocal(context.Background(), net.DefaultResolver, tc.host, func() bool { return true })
		require.NoError(t, err, tc.host)
		require.True(t, got.IP.Equal(tc.want.IP), "%s: %v", tc.host, got.IP)
		require.Equal(t, tc.want.Zone, got.Zone, tc.host)
	}
}

// Until("") on a socket whose peer has closed, with nothing left to
// read, ends with io.EOF (LiveCode: the result "eof", read_done's fd == 0
// rule). It returned no data and no error, so a loop polling with until
// empty — LiveCode's idiom, run by an interpreter on one goroutine with
// DispatchPumped, where the socketClosed that ends the socket waits for
// the loop — never saw the end of the stream (found in review).
func TestUntilEmptyAfterPeerEOF(t *testing.T) {
	reg, id := openToEndedPeer(t, Config{Handler: HandlerFunc(func(Event) {}), Dispatch: DispatchPumped}, "xyz")
	got, err := reg.Read(context.Background(), id, Until(""))
	require.NoError(t, err)
	require.Equal(t, "xyz", string(got))
	for range 3 { // the socket stays listed until its socketClosed is dispatched
		got, err = reg.Read(context.Background(), id, Until(""))
		require.Equal(t, io.EOF, err)
		require.Empty(t, got)
	}
}

// The read buffer of a socket whose pending read finds no match grows
// only up to what the socket may hold — MaxReadBuffer, and the one byte
// more that tells an overflow from the end of the stream (readLimit) —
// with one read chunk to spare. It doubled: the default limit of 1 MiB
// reached a 2 MiB buffer for its +1 byte.
func TestReadBufferGrowsToLimitOnly(t *testing.T) {
	for _, limit := range []int{100_000, 2 * readChunkMax, 3*readChunkMax + 7, 1 << 20} {
		t.Run(strconv.Itoa(limit), func(t *testing.T) {
			reg, id, peer := openToPeer(t, Config{MaxReadBuffer: limit, Dispatch: DispatchPumped})
			s, err := reg.lookup("test", id)
			require.NoError(t, err)
			errs := make(chan error, 1)
			biggest := 0
			h := HandlerFunc(func(ev Event) {
				s.mu.Lock()
				biggest = cap(s.buf)
				s.mu.Unlock()
				errs <- ev.Err
			})
			require.NoError(t, reg.ReadWithMessage(id, Until("\n"), h, "line"))
			go peer.Write(bytes.Repeat([]byte("x"), limit+1))
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			_, err = reg.Dispatch(ctx)
			require.NoError(t, err)
			require.ErrorIs(t, <-errs, ErrBufferFull)
			require.LessOrEqual(t, biggest, limit+1+readChunkMax, "read buffer of %d bytes", biggest)
			// Nothing buffered is lost: the bytes wait for a read that takes them.
			got, err := reg.Read(ctx, id, For(limit, Chars))
			require.NoError(t, err)
			require.Len(t, got, limit)
		})
	}
}

// A socket with no read pending holds at most one read chunk of unread
// input (README, Limits). A buffer grown by an earlier long read kept
// its room, and the reader filled it with a whole chunk on top of what
// was already unread: 3 bytes left after a 300 KB line, then 64 KiB
// more, with nobody reading.
func TestNoReadPendingHoldsOneChunk(t *testing.T) {
	reg, id, peer := openToPeer(t, Config{})
	line := append(bytes.Repeat([]byte("x"), 300_000), '\n')
	go peer.Write(append(line, "abc"...))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	got, err := reg.Read(ctx, id, Until("\n"))
	require.NoError(t, err)
	require.Equal(t, line, got)
	buffered := func() int {
		st, err := reg.Stats(id)
		require.NoError(t, err)
		return st.Buffered
	}
	require.Eventually(t, func() bool { return buffered() == 3 }, 10*time.Second, time.Millisecond)
	rest := bytes.Repeat([]byte("0123456789"), 20_000)
	go peer.Write(rest)
	require.Eventually(t, func() bool { return buffered() >= readChunkMax }, 10*time.Second, time.Millisecond)
	require.LessOrEqual(t, buffered(), readChunkMax, "unread input with no read pending")
	// Nothing is lost: the bytes come out in order.
	got, err = reg.Read(ctx, id, For(3+len(rest), Chars))
	require.NoError(t, err)
	require.Equal(t, append([]byte("abc"), rest...), got)
}

// With no read pending the reader does not grow the buffer for nobody
// (BENCHMARKS.md, session 7): under half a chunk unread, not at the
// front, and no room behind it, the bytes move to the front of the
// pooled buffer. readSpace made a new 128 KiB array (not pooled) when
// the consumed bytes in front were fewer than half the buffer.
func TestNoReadPendingDoesNotGrow(t *testing.T) {
	const k = 1 << 10
	s := &socket{reg: &Registry{cfg: Config{MaxReadBuffer: 1 << 20}}}
	b := make([]byte, readChunkMax)
	for i := range b {
		b[i] = byte(i)
	}
	s.bufp = &b
	s.buf, s.rpos = b[:61*k], 30*k
	want := append([]byte(nil), s.unread()...)
	require.False(t, s.bufferFull())
	space := s.readSpace()
	require.Equal(t, readChunkMax, cap(s.buf), "grown with no read pending")
	require.Equal(t, want, s.unread())
	require.Len(t, space, readChunkMax-len(want))
}

// Error texts are one line: an interpreter puts ErrorText in LiveCode's
// "the result", which a script compares or shows as one line. The
// sentinels given a detail with errors.Join read "buffer full\nno match
// in ..." (found by the Differences audit); they read "sentinel: detail"
// now, as the other errors with a cause do, and still match both.
func TestErrorTextsAreOneLine(t *testing.T) {
	// A read past MaxReadBuffer.
	reg, id, peer := openToPeer(t, Config{MaxReadBuffer: 100, Dispatch: DispatchPumped})
	errs := make(chan error, 1)
	require.NoError(t, reg.ReadWithMessage(id, Until("\n"), HandlerFunc(func(ev Event) { errs <- ev.Err }), "line"))
	_, err := peer.Write(bytes.Repeat([]byte("x"), 200))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = reg.Dispatch(ctx)
	require.NoError(t, err)
	readErr := <-errs
	require.ErrorIs(t, readErr, ErrBufferFull)

	// A write past MaxWriteQueue, a write after CloseWrite, a listener's
	// net.Conn view and write, TLSState before a handshake, Adopt of a
	// non-TCP connection without an ID.
	reg2, id2, _ := openToPeer(t, Config{MaxWriteQueue: 10})
	queueErr := reg2.WriteWithMessage(id2, make([]byte, 11), nil, "")
	require.ErrorIs(t, queueErr, ErrBufferFull)
	require.NoError(t, reg2.CloseWrite(id2))
	closedErr := reg2.WriteWithMessage(id2, []byte("x"), nil, "")
	require.ErrorIs(t, closedErr, ErrClosed)
	port, err := reg2.Accept(0, nil, "conn")
	require.NoError(t, err)
	_, viewErr := reg2.Conn(strconv.Itoa(port))
	require.ErrorIs(t, viewErr, ErrNotReadable)
	listenerWriteErr := reg2.CloseWrite(strconv.Itoa(port))
	require.ErrorIs(t, listenerWriteErr, ErrNotWritable)
	_, stateErr := reg2.TLSState(id2)
	require.ErrorIs(t, stateErr, ErrNotSecure)
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	_, adoptErr := reg2.Adopt("", a, nil)
	require.ErrorIs(t, adoptErr, ErrBadID)

	for _, err := range []error{readErr, queueErr, closedErr, viewErr, listenerWriteErr, stateErr, adoptErr} {
		require.NotContains(t, err.Error(), "\n", "%q", err.Error())
		require.NotContains(t, ErrorText(err), "\n", "%q", ErrorText(err))
	}
}

// monoNow is time.Now read from the monotonic clock only: it carries a
// monotonic reading (so comparisons and subtractions with time.Now's
// values use it) and keeps up with time.Now.
func TestMonoNowIsMonotonicNow(t *testing.T) {
	before := time.Now()
	m := monoNow()
	after := time.Now()
	require.NotEqual(t, m, m.Round(0), "no monotonic reading")
	require.False(t, m.Before(before))
	require.False(t, m.After(after))
	require.Less(t, time.Since(m), time.Second)
}
