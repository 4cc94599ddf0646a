package lcsock_test

// The soak test (issue 11, "Reliability"): for LCSOCK_SOAK (a Go duration
// such as "2m"), an Accept echo server in one registry and a client
// registry that keeps soakInFlight sockets busy. Each client socket opens,
// sends 1–4 frames — a header line "size sha256\n" and size random bytes
// (0–16 KiB) — reads each echo back with an until-read (the header) and a
// for-read (the payload), checks it byte for byte, closes, and is replaced
// by a new socket. At the end: no failure, no byte lost, every server
// socket ended with socketClosed, and the goroutines and file descriptors
// are back to what they were before. .ci/run runs it for 2 minutes under
// -race.
//
// In flight: 1,000 sockets (2,000 descriptors with the server's side), with
// or without -race: on 2 cores under -race the handlers (SHA-256, random
// payloads) keep both cores busy at that count and the run ends within a
// few seconds of LCSOCK_SOAK (the drain takes milliseconds), so nothing
// needs scaling down for -race. Where RLIMIT_NOFILE is too low and cannot
// be raised (raiseFDLimit, bench_unix_test.go), the count is scaled down
// to fit, and the test says so.

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lcsock/lcsock"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

const (
	soakInFlight   = 1000
	soakMaxPayload = 16 << 10
	soakMaxFrames  = 4
)

// soakConn is one client socket of the soak.
type soakConn struct {
	id      string
	frames  int    // frames still to send after the one in flight
	header  string // of the frame in flight
	payload []byte
}

// soak is the state of the soak test, shared by the two registries'
// handlers and the test goroutine.
type soak struct {
	port int
	cli  *lcsock.Registry
	srv  *lcsock.Registry

	mu       sync.Mutex
	chacha   *rand.ChaCha8
	rng      *rand.Rand
	conns    map[string]*soakConn
	seq      int
	stopping bool
	drained  chan struct{} // closed when stopping and no client socket is left

	opens, completed, frames int
	sent, verified           int64 // frame bytes written and echoed back intact, client side
	failures                 int
	reasons                  []string
	cliTimeouts, srvTimeouts int
	accepted, srvClosed      int
	echoed                   int64
	srvTarget                int           // accepted sockets the server must see close; -1 until known
	srvDrained               chan struct{} // closed when srvClosed reaches srvTarget
	srvDone                  bool          // srvDrained is closed
	abort                    chan struct{} // closed after too many failures
	aborted                  bool
}

// fail records a failure. Called with s.mu held.
func (s *soak) fail(format string, args ...any) {
	s.failures++
	if len(s.reasons) < 10 {
		s.reasons = append(s.reasons, fmt.Sprintf(format, args...))
	}
	if s.failures >= 100 && !s.aborted {
		s.aborted = true
		close(s.abort)
	}
}

// open starts a new client socket. Called with s.mu held.
func (s *soak) open() {
	s.seq++
	c := &soakConn{id: "127.0.0.1:" + strconv.Itoa(s.port) + "|soak" + strconv.Itoa(s.seq), frames: s.rng.IntN(soakMaxFrames)}
	if err := s.cli.Open(c.id, nil, lcsock.WithMessage("up")); err != nil {
		s.fail("open %s: %v", c.id, err)
		return
	}
	s.conns[c.id] = c
	s.opens++
}

// send writes the next frame of c and asks for its echo: the header line,
// then the payload. Called with s.mu held.
func (s *soak) send(c *soakConn) {
	c.payload = make([]byte, s.rng.IntN(soakMaxPayload+1))
	s.chacha.Read(c.payload)
	sum := sha256.Sum256(c.payload)
	c.header = strconv.Itoa(len(c.payload)) + " " + hex.EncodeToString(sum[:]) + "\n"
	frame := append([]byte(c.header), c.payload...)
	if err := s.cli.WriteWithMessage(c.id, frame, nil, ""); err != nil {
		s.fail("write %s: %v", c.id, err)
		s.drop(c, true)
		return
	}
	s.sent += int64(len(frame))
	if err := s.cli.ReadWithMessage(c.id, lcsock.Until("\n"), nil, "header"); err != nil {
		s.fail("read header %s: %v", c.id, err)
		s.drop(c, true)
		return
	}
	if err := s.cli.ReadWithMessage(c.id, lcsock.For(len(c.payload), lcsock.Chars), nil, "payload"); err != nil {
		s.fail("read payload %s: %v", c.id, err)
		s.drop(c, true)
	}
}

// drop forgets c, after closing it if abandon (the socket may have ended
// already: the error is of no interest), and replaces it unless the soak
// is stopping. Called with s.mu held.
func (s *soak) drop(c *soakConn, abandon bool) {
	if _, ok := s.conns[c.id]; !ok {
		return
	}
	delete(s.conns, c.id)
	if abandon {
		s.cli.CloseSocket(c.id)
	}
	switch {
	case !s.stopping:
		s.open()
	case len(s.conns) == 0:
		close(s.drained)
	}
}

// client handles the client registry's events.
func (s *soak) client(ev lcsock.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.conns[ev.Socket]
	if c == nil {
		if ev.Kind != lcsock.EventTimeout {
			s.fail("event for an unknown socket: %v", ev)
		}
		return
	}
	switch ev.Kind {
	case lcsock.EventConnected:
		s.send(c)
	case lcsock.EventRead:
		switch {
		case ev.Err != nil:
			s.fail("%s %s: %v", ev.Name, c.id, ev.Err)
			s.drop(c, true)
		case ev.Name == "header":
			if string(ev.Data) != c.header {
				s.fail("%s: header %q echoed as %q", c.id, c.header, ev.Data)
				s.drop(c, true)
			}
		case ev.Name == "payload":
			sum := sha256.Sum256(ev.Data)
			if !bytes.Equal(ev.Data, c.payload) || !strings.HasSuffix(c.header, " "+hex.EncodeToString(sum[:])+"\n") {
				s.fail("%s: %d-byte payload echoed as %d bytes that differ", c.id, len(c.payload), len(ev.Data))
				s.drop(c, true)
				return
			}
			s.frames++
			s.verified += int64(len(c.header) + len(c.payload))
			if c.frames > 0 {
				c.frames--
				s.send(c)
				return
			}
			if err := s.cli.CloseSocket(c.id); err != nil {
				s.fail("close %s: %v", c.id, err)
			}
			s.completed++
			s.drop(c, false)
		}
	case lcsock.EventTimeout:
		s.cliTimeouts++
	default: // socketClosed, socketError: the server never closes first
		s.fail("client %v", ev)
		s.drop(c, false)
	}
}

// checkServerDrained closes srvDrained once every connection the server
// is known to have accepted has closed. Called with s.mu held.
func (s *soak) checkServerDrained() {
	if !s.srvDone && s.srvTarget >= 0 && s.srvClosed >= s.srvTarget {
		s.srvDone = true
		close(s.srvDrained)
	}
}

// server handles the echo server's events.
func (s *soak) server(ev lcsock.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch ev.Kind {
	case lcsock.EventAccepted:
		s.accepted++
		if err := s.srv.ReadWithMessage(ev.Socket, lcsock.Available(), nil, "echo"); err != nil {
			s.fail("server read %s: %v", ev.Socket, err)
		}
	case lcsock.EventRead:
		if len(ev.Data) > 0 {
			if err := s.srv.WriteWithMessage(ev.Socket, ev.Data, nil, ""); err != nil {
				s.fail("server write %s: %v", ev.Socket, err)
			}
			s.echoed += int64(len(ev.Data))
		}
		switch {
		case ev.Err == nil:
			if err := s.srv.ReadWithMessage(ev.Socket, lcsock.Available(), nil, "echo"); err != nil {
				s.fail("server read %s: %v", ev.Socket, err)
			}
		case ev.Err != io.EOF:
			s.fail("server read %s: %v", ev.Socket, ev.Err)
		}
	case lcsock.EventClosed:
		s.srvClosed++
		s.checkServerDrained()
	case lcsock.EventTimeout:
		s.srvTimeouts++
	default:
		s.fail("server %v", ev)
	}
}

func TestSoak(t *testing.T) {
	spec := os.Getenv("LCSOCK_SOAK")
	if spec == "" {
		t.Skip("soak test: set LCSOCK_SOAK to a duration (for example LCSOCK_SOAK=2m) to run it")
	}
	dur, err := time.ParseDuration(spec)
	require.NoError(t, err, "LCSOCK_SOAK")
	require.Positive(t, dur, "LCSOCK_SOAK")

	warmNetpoll()
	baseFDs := openFDs()
	baseG := runtime.NumGoroutine()
	ignore := goleak.IgnoreCurrent()

	inFlight := soakInFlight
	const spare = 256 // the test binary's own descriptors, listeners, sockets closing
	want := uint64(2*soakInFlight + len(baseFDs) + spare)
	switch limit, lerr := raiseFDLimit(want); {
	case limit == 0:
		t.Logf("no RLIMIT_NOFILE here (%v): %d sockets in flight", lerr, inFlight)
	case limit < want:
		inFlight = max(10, (int(limit)-len(baseFDs)-spare)/2)
		t.Logf("RLIMIT_NOFILE is %d and cannot be raised to %d (%v): %d sockets in flight instead of %d",
			limit, want, lerr, inFlight, soakInFlight)
	}

	seed := uint64(time.Now().UnixNano())
	var seedBytes [32]byte
	copy(seedBytes[:], strconv.FormatUint(seed, 16))
	chacha := rand.NewChaCha8(seedBytes)
	s := &soak{chacha: chacha, rng: rand.New(chacha), conns: map[string]*soakConn{},
		drained: make(chan struct{}), srvDrained: make(chan struct{}), abort: make(chan struct{}), srvTarget: -1}
	s.srv, err = lcsock.NewRegistry(lcsock.Config{Handler: lcsock.HandlerFunc(s.server)})
	require.NoError(t, err)
	defer s.srv.Close()
	s.cli, err = lcsock.NewRegistry(lcsock.Config{Handler: lcsock.HandlerFunc(s.client)})
	require.NoError(t, err)
	defer s.cli.Close()
	s.port, err = s.srv.Accept(0, nil, "conn")
	require.NoError(t, err)

	start := time.Now()
	s.mu.Lock()
	for range inFlight {
		s.open()
	}
	s.mu.Unlock()
	timer := time.NewTimer(dur)
	select {
	case <-timer.C:
	case <-s.abort:
		timer.Stop()
	}

	// Stop replacing sockets and let those in flight finish.
	s.mu.Lock()
	s.stopping = true
	if len(s.conns) == 0 {
		close(s.drained)
	}
	s.mu.Unlock()
	select {
	case <-s.drained:
	case <-time.After(30 * time.Second):
		s.mu.Lock()
		var stuck []string
		for id := range s.conns {
			if len(stuck) < 10 {
				st, err := s.cli.Stats(id)
				stuck = append(stuck, fmt.Sprintf("%s %+v %v", id, st, err))
			}
		}
		n := len(s.conns)
		s.mu.Unlock()
		t.Fatalf("%d client sockets still busy 30 s after the soak ended, such as:\n%s", n, strings.Join(stuck, "\n"))
	}
	elapsed := time.Since(start)

	// Every connection the server accepted ends with its socketClosed.
	s.mu.Lock()
	s.srvTarget = s.accepted
	s.checkServerDrained()
	s.mu.Unlock()
	select {
	case <-s.srvDrained:
	case <-time.After(30 * time.Second):
		s.mu.Lock()
		accepted, closed := s.accepted, s.srvClosed
		s.mu.Unlock()
		t.Fatalf("the server accepted %d connections and saw %d close", accepted, closed)
	}

	require.NoError(t, s.cli.Close())
	require.NoError(t, s.srv.Close())
	s.mu.Lock()
	defer s.mu.Unlock()
	mb := float64(s.verified) / 1e6
	t.Logf("soak %v (%v with the drain), seed %#x: %d sockets in flight, %d opens (%.0f/s), %d frames, "+
		"%.1f MB echoed and verified (%.2f MB/s), %d failures, %d bytes lost, socketTimeouts %d client %d server",
		dur, elapsed.Round(time.Millisecond), seed, inFlight, s.opens, float64(s.opens)/elapsed.Seconds(), s.frames,
		mb, mb/elapsed.Seconds(), s.failures, s.sent-s.verified, s.cliTimeouts, s.srvTimeouts)
	require.Zero(t, s.failures, "failures, the first ones:\n%s", strings.Join(s.reasons, "\n"))
	require.Equal(t, s.sent, s.verified, "bytes lost")
	require.Equal(t, s.sent, s.echoed, "bytes the server echoed")
	require.Equal(t, s.opens, s.completed)
	require.Equal(t, s.opens, s.accepted)
	require.Equal(t, s.accepted, s.srvClosed)
	require.Positive(t, s.opens)

	// Nothing outlives the registries.
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > baseG && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond) // polling the goroutine count
	}
	require.LessOrEqual(t, runtime.NumGoroutine(), baseG, "goroutines after Close")
	goleak.VerifyNone(t, ignore)
	if baseFDs == nil {
		t.Log("no /proc/self/fd: file descriptor check skipped")
		return
	}
	waitFDs(t, baseFDs, 10*time.Second)
	t.Logf("goroutines back to %d, file descriptors back to %d", baseG, len(baseFDs))
}
