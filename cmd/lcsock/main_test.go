package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lcsock/lcsock/lcsocktest"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// syncBuffer is a bytes.Buffer safe for one writer and one reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestDemo(t *testing.T) {
	var out, errs bytes.Buffer
	require.Equal(t, 0, run(context.Background(), []string{"demo"}, nil, &out, &errs), errs.String())
	s := out.String()
	for _, want := range []string{
		"client connected",
		"server newConnection",
		`client gotEcho       "127.0.0.1:`,
		`"hello\n"`, `"from\n"`, `"lcsock\n"`,
		"server socketClosed",
		"(the result: eof)",
	} {
		require.Contains(t, s, want)
	}
}

func TestBadInput(t *testing.T) {
	for _, args := range [][]string{
		nil,
		{"nope"},
		{"connect"},
		{"connect", "host:99999"},
		{"connect", "[::1:80"},
		{"listen", "abc"},
		{"connect", "-until", `\q`, "a:1"},
		{"demo", "-bogus"},
		// A port is digits: "+0" listened on a port the system picked.
		{"listen", "+0"},
		{"udp", "listen", "+0"},
		{"listen", "-0"},
		{"listen", " 0"},
		{"listen", "99999999999999999999"},
	} {
		var out, errs bytes.Buffer
		require.Equal(t, 2, run(context.Background(), args, nil, &out, &errs), "%q", args)
		require.NotEmpty(t, errs.String())
		require.Empty(t, out.String())
	}
}

// connect sends stdin and prints what the peer sends back.
func TestConnect(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		data, _ := io.ReadAll(c) // until the tool half-closes at end of stdin
		c.Write(bytes.ToUpper(data))
	}()
	var out, errs syncBuffer
	code := run(context.Background(), []string{"connect", "-until", `\n`, ln.Addr().String() + "|t"},
		strings.NewReader("one\ntwo\n"), &out, &errs)
	require.Equal(t, 0, code, errs.String())
	require.Equal(t, "ONE\nTWO\n", out.String())
	require.Contains(t, errs.String(), "closed by peer")
}

// listen prints what clients send, or echoes it.
func TestListen(t *testing.T) {
	for _, echo := range []bool{false, true} {
		probe, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		port := probe.Addr().(*net.TCPAddr).Port
		probe.Close()
		ctx, cancel := context.WithCancel(context.Background())
		var out, errs syncBuffer
		done := make(chan int)
		args := []string{"listen", strconv.Itoa(port)}
		if echo {
			args = []string{"listen", "-echo", strconv.Itoa(port)}
		}
		go func() { done <- run(ctx, args, nil, &out, &errs) }()
		var c net.Conn
		require.Eventually(t, func() bool {
			c, err = net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
			return err == nil
		}, 5*time.Second, 10*time.Millisecond)
		c.Write([]byte("ping"))
		if echo {
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			buf := make([]byte, 4)
			_, err := io.ReadFull(c, buf)
			require.NoError(t, err)
			require.Equal(t, "ping", string(buf))
		} else {
			require.Eventually(t, func() bool { return out.String() == "ping" }, 5*time.Second, 10*time.Millisecond)
		}
		c.Close()
		cancel()
		require.Equal(t, 0, <-done, errs.String())
		require.Contains(t, errs.String(), "listening on port")
	}
}

// udp listen -echo answers udp send.
func TestUDP(t *testing.T) {
	probe, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	port := probe.LocalAddr().(*net.UDPAddr).Port
	probe.Close()
	ctx, cancel := context.WithCancel(context.Background())
	var lerr syncBuffer
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"udp", "listen", "-echo", strconv.Itoa(port)}, nil, io.Discard, &lerr)
	}()
	require.Eventually(t, func() bool { return strings.Contains(lerr.String(), "receiving datagrams") }, 5*time.Second, 10*time.Millisecond)
	var out, errs syncBuffer
	code := run(context.Background(), []string{"udp", "send", "127.0.0.1:" + strconv.Itoa(port)}, strings.NewReader("one\ntwo\n"), &out, &errs)
	require.Equal(t, 0, code, errs.String())
	require.Equal(t, "one\ntwo\n", out.String())
	cancel()
	require.Equal(t, 0, <-done)
}

// connect -tls against listen -cert/-key, verified with -ca and -verify-host.
func TestTLSConnectListen(t *testing.T) {
	ca := lcsocktest.NewCA(t)
	cert, key := ca.Issue(t, "localhost")
	dir := t.TempDir()
	certFile := lcsocktest.WriteFile(t, dir, "cert.pem", cert)
	keyFile := lcsocktest.WriteFile(t, dir, "key.pem", key)
	caFile := lcsocktest.WriteFile(t, dir, "ca.pem", ca.CertPEM)
	probe, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := strconv.Itoa(probe.Addr().(*net.TCPAddr).Port)
	probe.Close()
	ctx, cancel := context.WithCancel(context.Background())
	var lerr syncBuffer
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"listen", "-echo", "-cert", certFile, "-key", keyFile, port}, nil, io.Discard, &lerr)
	}()
	require.Eventually(t, func() bool { return strings.Contains(lerr.String(), "listening on port") }, 5*time.Second, 10*time.Millisecond)
	var out, errs syncBuffer
	code := run(context.Background(), []string{"connect", "-tls", "-ca", caFile, "-verify-host", "localhost", "127.0.0.1:" + port},
		strings.NewReader("secret line\n"), &out, &errs)
	require.Equal(t, 0, code, errs.String())
	require.Equal(t, "secret line\n", out.String())
	// Without the CA the certificate is refused.
	code = run(context.Background(), []string{"connect", "-tls", "127.0.0.1:" + port}, strings.NewReader("x\n"), io.Discard, &errs)
	require.Equal(t, 1, code)
	require.Contains(t, errs.String(), "TLS handshake failed")
	cancel()
	require.Equal(t, 0, <-done)
}

// listen -echo with a client that sends far more than it reads: once the
// client's write queue (Config.MaxWriteQueue, 16 MiB) is full, the tool
// says so and closes the connection instead of dropping data silently.
func TestListenEchoClientThatDoesNotRead(t *testing.T) {
	var errs syncBuffer
	port, cancel, done := startListen(t, []string{"listen", "-echo", "0"}, &errs)
	c, err := net.Dial("tcp", "127.0.0.1:"+port)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.SetDeadline(time.Now().Add(30*time.Second)))
	chunk := bytes.Repeat([]byte("x"), 64<<10)
	const chunks = 640 // 40 MiB
	for range chunks { // read nothing until everything is written
		if _, err := c.Write(chunk); err != nil {
			break // the tool closed the connection
		}
	}
	c.(*net.TCPConn).CloseWrite()
	echoed, _ := io.ReadAll(c)
	require.Less(t, len(echoed), chunks*len(chunk), "the write queue never filled")
	cancel()
	require.Equal(t, 0, <-done, errs.String())
	require.Contains(t, errs.String(), ": buffer full: ", "data was dropped silently")
}

// -until takes Go escapes, and any other character as itself: a
// delimiter typed literally (a newline from the shell's $'\n', a double
// quote) was refused, since the flag went through strconv.Unquote as the
// inside of a Go string literal.
func TestUnquoteUntil(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		bad      bool
	}{
		{in: "", want: ""},
		{in: `\n`, want: "\n"},
		{in: `\r\n`, want: "\r\n"},
		{in: "\n", want: "\n"},
		{in: "\r\n", want: "\r\n"},
		{in: `"`, want: `"`},
		{in: `a"b`, want: `a"b`},
		{in: `\"`, want: `"`},
		{in: `\\`, want: `\`},
		{in: `\x00`, want: "\x00"},
		{in: "\t|", want: "\t|"},
		{in: "é", want: "é"},
		{in: "END\n", want: "END\n"},
		{in: `\q`, bad: true},
		{in: `\`, bad: true},
	} {
		got, err := unquote(tc.in)
		if tc.bad {
			require.Error(t, err, "%q", tc.in)
			continue
		}
		require.NoError(t, err, "%q", tc.in)
		require.Equal(t, tc.want, got, "%q", tc.in)
	}
}

// FuzzUnquoteUntil: -until never panics; without a backslash the flag is
// the delimiter as typed; with escapes it agrees with Go's string
// literals wherever the flag is a valid literal's inside.
func FuzzUnquoteUntil(f *testing.F) {
	for _, s := range []string{"", `\n`, "\n", `"`, `\"`, `\\`, `\`, `\x41`, `\u00e9`, "a\"b\nc", `\q`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := unquote(s)
		if !strings.Contains(s, `\`) {
			require.NoError(t, err)
			require.Equal(t, s, got)
			return
		}
		if want, werr := strconv.Unquote(`"` + s + `"`); werr == nil {
			require.NoError(t, err)
			require.Equal(t, want, got)
		}
	})
}

// demo interrupted (Ctrl-C ends ctx) says so in one line and exits 1; it
// said "context canceled".
func TestDemoInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out, errs bytes.Buffer
	require.Equal(t, 1, run(ctx, []string{"demo"}, nil, &out, &errs))
	require.Equal(t, "lcsock: interrupted\n", errs.String())
}
