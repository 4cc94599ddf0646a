package lcsock_test

// Fault injection (issue 11, "Reliability"): lcsock sockets talking
// through a loopback proxy that delays, trickles, pauses, half-closes,
// cuts and resets the connection. Each test checks the guarantees of the
// README's "Events and dispatch": every socket ends in exactly one
// socketError or socketClosed, data received before the fault reaches the
// pending reads first, byte-exact and in order, and nothing leaks — no
// goroutine, no file descriptor (see leakCheck).

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/lcsock/lcsock"
	"github.com/lcsock/lcsock/lcsocktest"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// --- the fault-injection proxy ---------------------------------------------

// fault is what the proxy does to a whole link.
type fault uint8

const (
	faultNone  fault = iota
	faultCut         // close both sides cleanly: FIN each way
	faultReset       // SetLinger(0) and Close both sides: RST each way
)

// faultProxy is a TCP proxy on 127.0.0.1 that forwards each connection
// it accepts (a link) to target and injects faults. up (client → target)
// and down (target → client) are controlled separately; cut and reset act
// on whole links. Controls apply to every link, current and future.
type faultProxy struct {
	ln     net.Listener
	target string
	up     *faultDir
	down   *faultDir

	mu     sync.Mutex
	cond   sync.Cond // broadcast on every control change and when a link ends
	links  []*proxyLink
	closed bool
	wg     sync.WaitGroup
}

// faultDir is one direction of the proxy. Its fields are guarded by the
// proxy's mu.
type faultDir struct {
	p       *faultProxy
	half    int           // 0: up, 1: down
	delay   time.Duration // wait before forwarding each chunk read
	trickle time.Duration // > 0: forward one byte at a time, pausing this long between bytes
	paused  bool          // neither read nor forward: the sender's writes back up
	shut    bool          // half-closed: FIN sent onward, later bytes dropped
	after   int64         // with afterDo: apply it once this many bytes were forwarded on a link
	afterDo fault
	writes  int   // writes made to the destination (one per byte while trickling)
	bytes   int64 // bytes forwarded
}

// proxyLink is one proxied connection. conns[0] faces the client,
// conns[1] the target; direction h reads conns[h] and writes conns[1-h].
type proxyLink struct {
	conns [2]*net.TCPConn
	done  chan struct{} // closed when the link is reset or the proxy closes
	ended bool
	shut  [2]bool  // direction h sent FIN onward and drops what it reads
	sent  [2]int64 // bytes forwarded per direction
}

func newFaultProxy(t *testing.T, target string) *faultProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &faultProxy{ln: ln, target: target}
	p.cond.L = &p.mu
	p.up, p.down = &faultDir{p: p, half: 0}, &faultDir{p: p, half: 1}
	p.wg.Add(1)
	go p.acceptLoop()
	t.Cleanup(p.close)
	return p
}

// id returns a socket ID that connects through the proxy.
func (p *faultProxy) id(label string) string {
	return p.ln.Addr().String() + "|" + label
}

func (p *faultProxy) acceptLoop() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.DialTimeout("tcp", p.target, wait)
		if err != nil {
			c.Close()
			continue
		}
		l := &proxyLink{conns: [2]*net.TCPConn{c.(*net.TCPConn), s.(*net.TCPConn)}, done: make(chan struct{})}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			c.Close()
			s.Close()
			return
		}
		p.links = append(p.links, l)
		for h, d := range p.dirs() {
			if d.shut {
				p.shutLocked(l, h)
			}
		}
		p.wg.Add(1)
		p.mu.Unlock()
		go p.serve(l)
	}
}

func (p *faultProxy) dirs() [2]*faultDir { return [2]*faultDir{p.up, p.down} }

// serve runs both directions of a link and closes it when both ended.
func (p *faultProxy) serve(l *proxyLink) {
	defer p.wg.Done()
	var wg sync.WaitGroup
	for h, d := range p.dirs() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.pump(l, d, h)
		}()
	}
	wg.Wait()
	l.conns[0].Close()
	l.conns[1].Close()
}

// pump forwards direction h of l until its source ends, passing the end
// of stream on as a FIN.
func (p *faultProxy) pump(l *proxyLink, d *faultDir, h int) {
	src, dst := l.conns[h], l.conns[1-h]
	buf := make([]byte, 32<<10)
	for {
		if !p.waitRunning(l, d, h) {
			return
		}
		n, err := src.Read(buf)
		if n > 0 && !p.forward(l, d, h, dst, buf[:n]) {
			return
		}
		if err != nil {
			p.mu.Lock()
			p.shutLocked(l, h)
			p.mu.Unlock()
			return
		}
	}
}

// waitRunning waits while d is paused; it reports false once l ended.
func (p *faultProxy) waitRunning(l *proxyLink, d *faultDir, h int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for d.paused && !l.shut[h] && !l.ended {
		p.cond.Wait()
	}
	return !l.ended
}

// forward sends data to dst as d says: after its delay, whole or one byte
// at a time, then applies d's fault if its byte count was reached. It
// reports false when the link has ended.
func (p *faultProxy) forward(l *proxyLink, d *faultDir, h int, dst *net.TCPConn, data []byte) bool {
	p.mu.Lock()
	for d.paused && !l.shut[h] && !l.ended {
		p.cond.Wait()
	}
	if l.ended {
		p.mu.Unlock()
		return false
	}
	if l.shut[h] {
		p.mu.Unlock()
		return true // half-closed: drain the source, drop the bytes
	}
	delay, trickle, then := d.delay, d.trickle, faultNone
	if d.afterDo != faultNone {
		if left := d.after - l.sent[h]; left <= int64(len(data)) {
			data, then = data[:max(left, 0)], d.afterDo
		}
	}
	p.mu.Unlock()
	if delay > 0 && !l.sleep(delay) {
		return false
	}
	for len(data) > 0 {
		step := len(data)
		if trickle > 0 {
			step = 1
		}
		// Counted before the write, so that a test seeing the bytes also
		// sees them counted; corrected after a short write.
		p.mu.Lock()
		d.writes++
		d.bytes += int64(step)
		l.sent[h] += int64(step)
		p.mu.Unlock()
		n, err := dst.Write(data[:step])
		p.mu.Lock()
		d.bytes -= int64(step - n)
		l.sent[h] -= int64(step - n)
		if err != nil {
			// The destination is gone: keep draining the source.
			l.shut[h] = true
			p.mu.Unlock()
			return true
		}
		p.mu.Unlock()
		data = data[n:]
		if trickle > 0 && len(data) > 0 && !l.sleep(trickle) {
			return false
		}
	}
	if then != faultNone {
		p.apply(l, then)
		return then != faultReset
	}
	return true
}

func (l *proxyLink) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-l.done:
		return false
	}
}

// shutLocked half-closes direction h of l: FIN to its destination.
// Called with p.mu held.
func (p *faultProxy) shutLocked(l *proxyLink, h int) {
	if !l.shut[h] && !l.ended {
		l.shut[h] = true
		l.conns[1-h].CloseWrite()
	}
	p.cond.Broadcast()
}

// endLocked ends l at once; with rst, each side gets a RST. Called with
// p.mu held.
func (p *faultProxy) endLocked(l *proxyLink, rst bool) {
	if l.ended {
		return
	}
	l.ended = true
	close(l.done)
	for _, c := range l.conns {
		if rst {
			c.SetLinger(0)
		}
		c.Close()
	}
	p.cond.Broadcast()
}

func (p *faultProxy) apply(l *proxyLink, f fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch f {
	case faultCut:
		p.shutLocked(l, 0)
		p.shutLocked(l, 1)
	case faultReset:
		p.endLocked(l, true)
	}
}

// cut closes every link cleanly, both ways (FIN); the proxy then drains
// and drops what either side still sends.
func (p *faultProxy) cut() { p.each(faultCut) }

// reset resets every link: both sides get a RST.
func (p *faultProxy) reset() { p.each(faultReset) }

func (p *faultProxy) each(f fault) {
	p.mu.Lock()
	links := append([]*proxyLink(nil), p.links...)
	p.mu.Unlock()
	for _, l := range links {
		p.apply(l, f)
	}
}

func (p *faultProxy) close() {
	p.mu.Lock()
	p.closed = true
	p.ln.Close()
	for _, l := range p.links {
		p.endLocked(l, false)
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (d *faultDir) set(f func()) {
	d.p.mu.Lock()
	defer d.p.mu.Unlock()
	f()
	d.p.cond.Broadcast()
}

func (d *faultDir) setDelay(v time.Duration)   { d.set(func() { d.delay = v }) }
func (d *faultDir) setTrickle(v time.Duration) { d.set(func() { d.trickle = v }) }
func (d *faultDir) pause()                     { d.set(func() { d.paused = true }) }
func (d *faultDir) resume()                    { d.set(func() { d.paused = false }) }

// faultAfter applies f to a link once n bytes went this way on it.
func (d *faultDir) faultAfter(n int64, f fault) { d.set(func() { d.after, d.afterDo = n, f }) }

// cut half-closes this direction on every link: its destination reads
// end of stream while the other direction keeps flowing.
func (d *faultDir) cut() {
	d.set(func() {
		d.shut = true
		for _, l := range d.p.links {
			d.p.shutLocked(l, d.half)
		}
	})
}

// counts returns the writes made and the bytes forwarded this way.
func (d *faultDir) counts() (writes int, n int64) {
	d.p.mu.Lock()
	defer d.p.mu.Unlock()
	return d.writes, d.bytes
}

// --- leak checks ------------------------------------------------------------

// openFDs returns the process's open file descriptors and what each
// refers to, or nil where there is no /proc/self/fd (not Linux).
func openFDs() map[string]string {
	if runtime.GOOS != "linux" {
		return nil
	}
	des, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return nil
	}
	fds := make(map[string]string, len(des))
	for _, de := range des {
		target, _ := os.Readlink("/proc/self/fd/" + de.Name())
		fds[de.Name()] = target
	}
	return fds
}

// newFDs lists the descriptors of now that were not open (to the same
// thing) in before.
func newFDs(before, now map[string]string) []string {
	var list []string
	for fd, target := range now {
		if prev, ok := before[fd]; !ok || prev != target {
			list = append(list, fd+" -> "+target)
		}
	}
	sort.Strings(list)
	return list
}

// waitFDs waits until no descriptor is open that was not open in before —
// closes finish asynchronously — and fails the test if one stays. A
// descriptor of before that was closed meanwhile is not an error: an
// earlier test's connection finishing its close, or one of the pipes Go
// keeps in a pool for splice (io.Copy between TCP connections), which a
// garbage collection closes. So the count is back to the baseline or
// below it, never above.
func waitFDs(t testing.TB, before map[string]string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		now := openFDs()
		extra := newFDs(before, now)
		if len(extra) == 0 {
			if gone := newFDs(now, before); len(gone) > 0 {
				t.Logf("descriptors open at the start and closed since (not by this test): %v", gone)
			}
			return
		}
		if time.Now().After(deadline) {
			require.Empty(t, extra, "file descriptors leaked: %d open at the start, %d now", len(before), len(now))
			return
		}
		time.Sleep(5 * time.Millisecond) // polling the fd table, not waiting for an event
	}
}

// warmNetpoll makes the runtime create its network poller descriptors,
// which stay open for the life of the process, before a baseline is taken.
func warmNetpoll() {
	if ln, err := net.Listen("tcp", "127.0.0.1:0"); err == nil {
		ln.Close()
	}
}

// leakCheck takes a snapshot of the goroutines and file descriptors now
// and checks, after the test and all its other cleanups (registries,
// peers, proxies) are done, that every one started since has ended.
// Call it first in a test.
func leakCheck(t *testing.T) {
	t.Helper()
	warmNetpoll()
	fds := openFDs()
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() {
		goleak.VerifyNone(t, ignore)
		if fds == nil {
			t.Log("no /proc/self/fd: file descriptor check skipped")
			return
		}
		waitFDs(t, fds, wait)
	})
}

// --- helpers ---------------------------------------------------------------

// requireOneEnd checks, once every event posted so far has been delivered
// (barrier), that socket id ended in exactly one event of kind end
// (EventError or EventClosed) and none of the other, and left OpenSockets.
func requireOneEnd(t *testing.T, reg *lcsock.Registry, rec *lcsocktest.Recorder, id string, end lcsock.EventKind) {
	t.Helper()
	barrier(t, reg, rec)
	other := lcsock.EventClosed
	if end == lcsock.EventClosed {
		other = lcsock.EventError
	}
	require.Equal(t, 1, rec.Count(end, id), "%v events for %s: %v", end, id, rec.Events())
	require.Zero(t, rec.Count(other, id), "%v events for %s: %v", other, id, rec.Events())
	require.NotContains(t, reg.OpenSockets(), id)
}

// pattern returns n bytes that differ from those of every other seed, so
// that a chunk lost, repeated or reordered shows.
func pattern(seed, n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(uint64(seed), 11))
	for i := 0; i < n; i += 8 {
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], r.Uint64())
		copy(b[i:], w[:])
	}
	return b
}

// readAllFrom reads c until end of stream.
func readAllFrom(t *testing.T, c net.Conn) []byte {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(wait))
	got, err := io.ReadAll(c)
	require.NoError(t, err)
	return got
}

// --- tests -----------------------------------------------------------------

// The peer resets the connection while an until-read waits with part of
// a line in: on both ends (an lcsock client through the proxy and the
// lcsock server's accepted socket) the read gets the bytes that arrived,
// marked as ended by the reset, then exactly one socketError.
func TestFaultResetMidRead(t *testing.T) {
	leakCheck(t)
	const fromServer, fromClient = "partial answer, no line end", "partial request"
	srv, srvRec := newReg(t, lcsock.Config{})
	srvRec.OnEvent = func(ev lcsock.Event) {
		if ev.Kind == lcsock.EventAccepted {
			srv.ReadWithMessage(ev.Socket, lcsock.Until("\n"), nil, "request")
			srv.WriteWithMessage(ev.Socket, []byte(fromServer), nil, "")
		}
	}
	port, err := srv.Accept(0, nil, "conn")
	require.NoError(t, err)
	px := newFaultProxy(t, "127.0.0.1:"+itoa(port))
	cli, cliRec := newReg(t, lcsock.Config{})
	id := px.id("rst")
	require.NoError(t, cli.Open(id, nil, lcsock.WithMessage("up")))
	cliRec.WaitFor(t, lcsock.EventConnected, id, wait)
	require.NoError(t, cli.ReadWithMessage(id, lcsock.Until("\n"), nil, "line"))
	require.NoError(t, cli.WriteWithMessage(id, []byte(fromClient), nil, ""))
	acc := srvRec.WaitFor(t, lcsock.EventAccepted, "", wait).Socket
	waitBuffered(t, cli, id, len(fromServer))
	waitBuffered(t, srv, acc, len(fromClient))

	px.reset()

	for _, side := range []struct {
		reg  *lcsock.Registry
		rec  *lcsocktest.Recorder
		id   string
		data string
	}{{cli, cliRec, id, fromServer}, {srv, srvRec, acc, fromClient}} {
		ev := side.rec.WaitFor(t, lcsock.EventRead, side.id, wait)
		require.Equal(t, side.data, string(ev.Data), "the bytes before the reset, byte-exact")
		require.True(t, ev.EOF)
		require.Error(t, ev.Err)
		require.NotErrorIs(t, ev.Err, io.EOF, "a reset is not a clean end of stream")
		if runtime.GOOS == "linux" { // which errno elsewhere is not checked here
			requireReset(t, ev.Err)
		}
		end := side.rec.WaitFor(t, lcsock.EventError, side.id, wait)
		require.NotEmpty(t, end.Params()[1])
		requireOneEnd(t, side.reg, side.rec, side.id, lcsock.EventError)
		requireOrder(t, side.rec, side.id, lcsock.EventRead, lcsock.EventError)
	}
}

// The peer half-closes while writes wait in the socket's queue (the proxy
// holds the other direction): the socket gets one socketClosed, may still
// write from its handler (README, Differences from LiveCode), and
// everything queued before and written in the handler reaches the peer in
// order before the connection closes; afterwards the ID is gone.
func TestFaultPeerHalfCloseWithQueuedWrite(t *testing.T) {
	leakCheck(t)
	p := newPeer(t)
	px := newFaultProxy(t, p.ln.Addr().String())
	reg, rec := newReg(t, lcsock.Config{})
	id := px.id("half")
	type inHandler struct {
		queued int
		err    error
	}
	handled := make(chan inHandler, 1)
	rec.OnEvent = func(ev lcsock.Event) {
		if ev.Kind == lcsock.EventClosed && ev.Socket == id {
			st, err := reg.Stats(id)
			if err == nil {
				err = reg.WriteWithMessage(id, []byte("goodbye\n"), nil, "bye")
			}
			handled <- inHandler{st.QueuedWrites, err}
		}
	}
	require.NoError(t, reg.Open(id, nil, lcsock.WithMessage("up")))
	c := p.accept()
	rec.WaitFor(t, lcsock.EventConnected, id, wait)

	px.up.pause()
	var sent []byte
	writes := 0
	write := func() {
		data := pattern(writes, 256<<10)
		require.NoError(t, reg.WriteWithMessage(id, data, nil, "w"+itoa(writes)))
		sent = append(sent, data...)
		writes++
	}
	for {
		write()
		st, err := reg.Stats(id)
		require.NoError(t, err)
		if st.QueuedWrites > 0 {
			break
		}
		require.Less(t, writes, 200, "the kernel took 50 MiB past a paused proxy")
	}
	for range 8 { // 2 MiB more, all queued in lcsock
		write()
	}

	px.down.cut() // the peer's FIN reaches the socket
	rec.WaitFor(t, lcsock.EventClosed, id, wait)
	var got inHandler
	select {
	case got = <-handled:
	case <-time.After(wait):
		t.Fatal("the socketClosed handler did not run")
	}
	require.Positive(t, got.queued, "writes were queued when socketClosed came")
	require.NoError(t, got.err, "a write from the socketClosed handler is accepted")

	px.up.resume()
	want := append(sent, "goodbye\n"...)
	all := readAllFrom(t, c) // the queue flushed, then the connection closed
	require.Equal(t, len(want), len(all))
	require.True(t, bytes.Equal(want, all), "every byte, in order, exactly once")
	requireOneEnd(t, reg, rec, id, lcsock.EventClosed)
	require.Equal(t, writes+1, rec.Count(lcsock.EventWritten, id), "the written events of the flushed writes fire")
	require.ErrorIs(t, reg.WriteWithMessage(id, []byte("late"), nil, ""), lcsock.ErrSocketNotOpen)
}

// A reader that stops reading (the proxy paused) cannot make the socket
// queue more than Config.MaxWriteQueue: WriteWithMessage fails with
// ErrBufferFull and queues nothing; once the reader resumes, every byte
// accepted arrives exactly once, in order, and none of the refused ones.
func TestFaultSlowReaderWriteQueueBound(t *testing.T) {
	leakCheck(t)
	const maxQueue, chunk = 64 << 10, 4 << 10
	p := newPeer(t)
	px := newFaultProxy(t, p.ln.Addr().String())
	reg, rec := newReg(t, lcsock.Config{MaxWriteQueue: maxQueue})
	id := px.id("slow")
	c := openConnected(t, reg, rec, p, id)
	px.up.pause()

	var accepted []byte
	n := 0
	var err error
	for ; n < 1<<16; n++ { // 256 MiB: far more than the kernel and the proxy hold
		data := pattern(n, chunk)
		if err = reg.WriteWithMessage(id, data, nil, "w"); err != nil {
			break
		}
		accepted = append(accepted, data...)
	}
	require.ErrorIs(t, err, lcsock.ErrBufferFull)
	st, err := reg.Stats(id)
	require.NoError(t, err)
	inQueue := len(accepted) - int(st.BytesOut)
	t.Logf("%d writes accepted (%d KiB), %d KiB handed to the kernel, %d writes (%d KiB) queued at ErrBufferFull",
		n, len(accepted)>>10, st.BytesOut>>10, st.QueuedWrites, inQueue>>10)
	require.LessOrEqual(t, inQueue, maxQueue, "bytes held by lcsock stay within MaxWriteQueue")
	require.Positive(t, st.QueuedWrites)
	require.LessOrEqual(t, st.QueuedWrites, maxQueue/chunk)
	for i := range 3 { // still full: refused whole, nothing queued
		require.ErrorIs(t, reg.WriteWithMessage(id, pattern(-1-i, chunk), nil, "refused"), lcsock.ErrBufferFull)
	}
	again, err := reg.Stats(id)
	require.NoError(t, err)
	require.Equal(t, st.QueuedWrites, again.QueuedWrites)

	px.up.resume()
	got := readN(t, c, len(accepted))
	require.True(t, bytes.Equal(accepted, got), "every accepted byte, in order, exactly once")
	c.(*net.TCPConn).CloseWrite() // the peer is done: the socket sees end of stream
	rec.WaitFor(t, lcsock.EventClosed, id, wait)
	requireOneEnd(t, reg, rec, id, lcsock.EventClosed)
	require.Empty(t, readAllFrom(t, c), "nothing after the accepted bytes: the refused writes never went out")
	require.Equal(t, n, rec.Count(lcsock.EventWritten, id))
}

// Bytes trickling in one at a time (a TCP segment each) complete an
// until-CRLF read — the delimiter split across segments — and a
// for-N-chars read, in order, byte-exact; a blocking read behind them too.
func TestFaultTrickleReads(t *testing.T) {
	leakCheck(t)
	const line, chars, tail = "HELLO from a slow peer\r\n", "0123456789", "tail line\r\n"
	p := newPeer(t)
	px := newFaultProxy(t, p.ln.Addr().String())
	px.down.setTrickle(time.Millisecond)
	reg, rec := newReg(t, lcsock.Config{})
	id := px.id("trickle")
	c := openConnected(t, reg, rec, p, id)
	require.NoError(t, reg.ReadWithMessage(id, lcsock.Until("\r\n"), nil, "line"))
	require.NoError(t, reg.ReadWithMessage(id, lcsock.For(len(chars), lcsock.Chars), nil, "chars"))
	_, err := c.Write([]byte(line + chars + tail))
	require.NoError(t, err)
	got, err := reg.Read(ctxWait(t), id, lcsock.Until("\r\n"))
	require.NoError(t, err)
	require.Equal(t, tail, string(got))
	ev := rec.WaitFor(t, lcsock.EventRead, id, wait)
	require.Equal(t, "line", ev.Name)
	require.Equal(t, line, string(ev.Data))
	require.NoError(t, ev.Err)
	ev = rec.WaitFor(t, lcsock.EventRead, id, wait)
	require.Equal(t, "chars", ev.Name)
	require.Equal(t, chars, string(ev.Data))
	require.NoError(t, ev.Err)
	writes, n := px.down.counts()
	require.EqualValues(t, len(line+chars+tail), n)
	require.Equal(t, int(n), writes, "the proxy forwarded one byte per write")

	c.Close()
	rec.WaitFor(t, lcsock.EventClosed, id, wait)
	requireOneEnd(t, reg, rec, id, lcsock.EventClosed)
}

// While the proxy holds the data back longer than the timeout interval,
// socketTimeout events fire for the waiting read; the socket stays open,
// the read completes once the data comes, and the chunks arrive in order.
func TestFaultDelayTimeouts(t *testing.T) {
	leakCheck(t)
	p := newPeer(t)
	px := newFaultProxy(t, p.ln.Addr().String())
	reg, rec := newReg(t, lcsock.Config{TimeoutInterval: 50 * time.Millisecond})
	id := px.id("delay")
	c := openConnected(t, reg, rec, p, id)
	px.down.setDelay(400 * time.Millisecond)
	require.NoError(t, reg.ReadWithMessage(id, lcsock.For(10, lcsock.Chars), nil, "got"))
	_, err := c.Write([]byte("01234"))
	require.NoError(t, err)
	ev := rec.WaitFor(t, lcsock.EventTimeout, id, wait) // the read waits, the proxy delays
	require.Equal(t, lcsock.OpRead, ev.Op)
	_, err = c.Write([]byte("56789"))
	require.NoError(t, err)
	ev = rec.WaitFor(t, lcsock.EventRead, id, wait)
	require.Equal(t, "0123456789", string(ev.Data))
	require.NoError(t, ev.Err)
	requireOrder(t, rec, id, lcsock.EventTimeout, lcsock.EventRead)
	require.Equal(t, []string{id}, reg.OpenSockets(), "timeouts do not close the socket")

	c.Close()
	rec.WaitFor(t, lcsock.EventClosed, id, wait)
	requireOneEnd(t, reg, rec, id, lcsock.EventClosed)
}

// The server goes away during the TLS handshake of OpenSecure: it closes
// or resets the connection after the ClientHello, the proxy cuts or
// resets it in the middle of the server's first flight, or it goes silent
// after the ClientHello (HandshakeTimeout ends the open). The TCP connect
// succeeded each time, so the sentinel is ErrHandshake (tls.go: handshake
// wraps every failure of HandshakeContext in it), never ErrConnect; the
// socket gets exactly one socketError, no connected event, no
// socketClosed, and leaves OpenSockets.
func TestFaultTLSHandshakeServerVanishes(t *testing.T) {
	ca := lcsocktest.NewCA(t)
	cert, key := ca.Issue(t, "localhost")
	caPath := caFile(t, ca)

	// rawServer accepts one connection, reads the ClientHello record and
	// then closes it, with a RST if rst.
	rawServer := func(t *testing.T, rst bool) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		done := make(chan struct{})
		t.Cleanup(func() { ln.Close(); <-done })
		go func() {
			defer close(done)
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
			c.SetReadDeadline(time.Now().Add(wait))
			var hdr [5]byte // TLS record header: type, version, length
			if _, err := io.ReadFull(c, hdr[:]); err != nil {
				return
			}
			io.CopyN(io.Discard, c, int64(binary.BigEndian.Uint16(hdr[3:])))
			if rst {
				c.(*net.TCPConn).SetLinger(0)
			}
		}()
		return ln.Addr().String()
	}
	// tlsServer is an lcsock AcceptSecure server behind a fault proxy.
	tlsServer := func(t *testing.T) *faultProxy {
		srv, _ := newReg(t, lcsock.Config{})
		port, err := srv.AcceptSecure(0, nil, "conn", string(cert), string(key))
		require.NoError(t, err)
		return newFaultProxy(t, "127.0.0.1:"+itoa(port))
	}

	for _, tc := range []struct {
		name    string
		target  func(t *testing.T) string
		timeout time.Duration
		wantErr error // besides ErrHandshake
	}{
		{name: "close after ClientHello", target: func(t *testing.T) string { return rawServer(t, false) }},
		{name: "reset after ClientHello", target: func(t *testing.T) string { return rawServer(t, true) }},
		{name: "cut in server flight", target: func(t *testing.T) string {
			px := tlsServer(t)
			px.down.faultAfter(100, faultCut)
			return px.ln.Addr().String()
		}},
		{name: "reset in server flight", target: func(t *testing.T) string {
			px := tlsServer(t)
			px.down.faultAfter(100, faultReset)
			return px.ln.Addr().String()
		}},
		{name: "silent after ClientHello", timeout: 150 * time.Millisecond, wantErr: context.DeadlineExceeded,
			target: func(t *testing.T) string {
				px := tlsServer(t)
				px.down.pause() // the server's answer never comes through
				return px.ln.Addr().String()
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			leakCheck(t)
			reg, rec := newReg(t, lcsock.Config{Certificates: []string{caPath}})
			id := tc.target(t) + "|tls"
			opts := []lcsock.Option{lcsock.WithMessage("up"), lcsock.VerifyHost("localhost")}
			if tc.timeout > 0 {
				opts = append(opts, lcsock.HandshakeTimeout(tc.timeout))
			}
			require.NoError(t, reg.OpenSecure(id, nil, opts...))
			ev := rec.WaitFor(t, lcsock.EventError, id, wait)
			require.ErrorIs(t, ev.Err, lcsock.ErrHandshake)
			require.NotErrorIs(t, ev.Err, lcsock.ErrConnect)
			if tc.wantErr != nil {
				require.ErrorIs(t, ev.Err, tc.wantErr)
			}
			require.Contains(t, ev.Params()[1], lcsock.ErrHandshake.Error())
			requireOneEnd(t, reg, rec, id, lcsock.EventError)
			require.Zero(t, rec.Count(lcsock.EventConnected, id))
		})
	}

	// The control: through the same proxy, untouched, the handshake works.
	t.Run("no fault", func(t *testing.T) {
		leakCheck(t)
		reg, rec := newReg(t, lcsock.Config{Certificates: []string{caPath}})
		id := tlsServer(t).id("tls")
		require.NoError(t, reg.OpenSecure(id, nil, lcsock.WithMessage("up"), lcsock.VerifyHost("localhost")))
		rec.WaitFor(t, lcsock.EventConnected, id, wait)
		require.NoError(t, reg.CloseSocket(id))
	})
}

// Registry.Close with hundreds of operations pending across 50 sockets —
// connected sockets with pending async and blocking reads, blocking
// writes stuck on a peer that never reads, full async write queues, and
// sockets still connecting (a name that never resolves, a TLS server that
// never answers) — returns promptly; every blocking call returns an error
// wrapping ErrClosed; no event is delivered after Close; nothing leaks.
// (TestRegistryCloseWithPending covers 20 sockets with one read each.)
func TestFaultRegistryCloseWithPendingOps(t *testing.T) {
	leakCheck(t)
	dns := newFakeDNS(t)
	silent := newPeer(t) // accepts, never reads or writes
	tlsSilent := newPeer(t)
	reg, rec := newReg(t, lcsock.Config{MaxWriteQueue: 256 << 10, Resolver: dns.resolver()})

	type result struct {
		what string
		err  error
	}
	results := make(chan result, 256)
	blocking, ops := 0, 0
	goRead := func(id string) {
		blocking++
		go func() {
			_, err := reg.Read(context.Background(), id, lcsock.Until("\n"))
			results <- result{"read " + id, err}
		}()
	}
	goWrite := func(id string, data []byte) {
		blocking++
		go func() {
			_, err := reg.Write(context.Background(), id, data)
			results <- result{"write " + id, err}
		}()
	}
	asyncReads := func(id string, n int) {
		for range n {
			require.NoError(t, reg.ReadWithMessage(id, lcsock.Until("\n"), nil, "never"))
		}
		ops += n
	}
	type expect struct {
		id            string
		reads, writes int // writes < 0: not checked
	}
	var expects []expect

	big := make([]byte, 8<<20) // more than the kernel takes from a peer that never reads (about 4 MiB here)
	for i := range 20 {
		id := silent.id("stuck-write-" + itoa(i))
		openConnected(t, reg, rec, silent, id)
		asyncReads(id, 3)
		goRead(id)
		goRead(id)
		goWrite(id, big)
		ops += 3
		expects = append(expects, expect{id, 5, 1})
	}
	chunk := make([]byte, 32<<10)
	for i := range 20 {
		id := silent.id("full-queue-" + itoa(i))
		openConnected(t, reg, rec, silent, id)
		var err error
		for n := 0; err == nil; n++ {
			require.Less(t, n, 1000, "the write queue never filled")
			err = reg.WriteWithMessage(id, chunk, nil, "w")
		}
		require.ErrorIs(t, err, lcsock.ErrBufferFull)
		st, err := reg.Stats(id)
		require.NoError(t, err)
		ops += st.QueuedWrites
		asyncReads(id, 3)
		goRead(id)
		ops++
		expects = append(expects, expect{id, 4, -1})
	}
	connecting := func(id string) {
		for range 2 {
			require.NoError(t, reg.WriteWithMessage(id, []byte("queued\n"), nil, "w"))
		}
		asyncReads(id, 2)
		goRead(id)
		goWrite(id, []byte("blocking\n"))
		ops += 4
		expects = append(expects, expect{id, 3, 3})
	}
	for i := range 5 {
		// A name each: Go's resolver shares a lookup of one name between
		// callers and lets it run on, uncancelled, past their contexts.
		dns.hangName("hang" + itoa(i) + ".test.")
		id := "hang" + itoa(i) + ".test:80|resolving"
		require.NoError(t, reg.Open(id, nil))
		connecting(id)
	}
	for i := range 5 {
		id := tlsSilent.id("handshaking-" + itoa(i))
		require.NoError(t, reg.OpenSecure(id, nil, lcsock.Verify(false)))
		tlsSilent.accept()
		connecting(id)
	}

	// Every blocking call is queued in its socket before Close.
	for _, e := range expects {
		deadline := time.Now().Add(wait)
		for {
			st, err := reg.Stats(e.id)
			require.NoError(t, err)
			if st.PendingReads == e.reads && (e.writes < 0 || st.QueuedWrites == e.writes) {
				break
			}
			require.True(t, time.Now().Before(deadline), "%s: %+v, want %d reads and %d writes pending", e.id, st, e.reads, e.writes)
			runtime_Gosched()
		}
	}
	require.Len(t, reg.OpenSockets(), 50)
	require.GreaterOrEqual(t, ops, 300)

	start := time.Now()
	require.NoError(t, reg.Close())
	took := time.Since(start)
	delivered := len(rec.Events())
	t.Logf("Close with %d operations pending (%d blocking calls) on 50 sockets took %v", ops, blocking, took)
	require.Less(t, took, 2*time.Second, "Close returns promptly")

	timeout := time.After(wait)
	for range blocking {
		select {
		case res := <-results:
			require.ErrorIs(t, res.err, lcsock.ErrClosed, res.what)
		case <-timeout:
			t.Fatal("blocking calls still waiting after Close")
		}
	}
	require.Empty(t, reg.OpenSockets())
	require.Equal(t, delivered, len(rec.Events()), "no event after Close returned")
	require.Zero(t, rec.Count(lcsock.EventError, ""), "Close is local: no socketError")
	require.Zero(t, rec.Count(lcsock.EventClosed, ""), "Close is local: no socketClosed")
	require.ErrorIs(t, reg.Open(silent.id("after"), nil), lcsock.ErrClosed)
	_, err := reg.Read(ctxWait(t), silent.id("stuck-write-0"), lcsock.Until("\n"))
	require.ErrorIs(t, err, lcsock.ErrClosed)
}
