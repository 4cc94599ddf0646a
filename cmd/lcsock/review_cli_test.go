package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// startListen starts run(args) and returns the port it reports, a cancel
// func and the channel of its exit status.
func startListen(t *testing.T, args []string, errs *syncBuffer) (string, context.CancelFunc, chan int) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- run(ctx, args, nil, io.Discard, errs) }()
	var port string
	require.Eventually(t, func() bool {
		_, port, _ = strings.Cut(errs.String(), "listening on port ")
		port, _, _ = strings.Cut(port, "\n")
		return port != ""
	}, 5*time.Second, 10*time.Millisecond)
	return port, cancel, done
}

// listen -echo: a client that half-closes and goes away normally is no
// error. The tool echoed the empty end-of-stream read back; that empty
// write was queued and failed once socketClosed closed the socket, so
// every client that closed printed "lcsock: ID: socket is not open"
// (seen with nc -N, socat and lcsock connect as clients).
func TestListenEchoCleanCloseNoError(t *testing.T) {
	var errs syncBuffer
	port, cancel, done := startListen(t, []string{"listen", "-echo", "0"}, &errs)
	defer cancel()
	const clients = 20
	for range clients {
		c, err := net.Dial("tcp", "127.0.0.1:"+port)
		require.NoError(t, err)
		require.NoError(t, c.SetDeadline(time.Now().Add(5*time.Second)))
		_, err = c.Write([]byte("ping\n"))
		require.NoError(t, err)
		require.NoError(t, c.(*net.TCPConn).CloseWrite())
		got, err := io.ReadAll(c) // until the tool closes
		require.NoError(t, err)
		require.Equal(t, "ping\n", string(got))
		c.Close()
	}
	cancel()
	require.Equal(t, 0, <-done, errs.String())
	require.Equal(t, clients, strings.Count(errs.String(), " closed\n"), errs.String())
	require.NotContains(t, errs.String(), "not open")
}

// udp send reads stdin line by line; Ctrl-C (ctx) must end it while it
// waits for the next line, as it ends connect and listen. The scan loop
// never looked at ctx: an interactive "udp send" ignored Ctrl-C until
// stdin ended (reproduced with kill -INT on the built binary).
func TestUDPSendInterruptWhileReadingStdin(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	defer pc.Close()
	stdin, feed := io.Pipe()
	defer feed.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errs syncBuffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"udp", "send", pc.LocalAddr().String()}, stdin, &out, &errs) }()
	_, err = feed.Write([]byte("one\n"))
	require.NoError(t, err)
	buf := make([]byte, 64)
	require.NoError(t, pc.SetReadDeadline(time.Now().Add(5*time.Second)))
	n, _, err := pc.ReadFrom(buf)
	require.NoError(t, err)
	require.Equal(t, "one", string(buf[:n]))
	cancel() // stdin stays open, as a terminal's does
	select {
	case code := <-done:
		require.Equal(t, 0, code, errs.String())
	case <-time.After(5 * time.Second):
		t.Fatal("udp send ignored the interrupt while waiting for stdin")
	}
}

// demo prints the same transcript every run, but for the port numbers.
// It printed each event as its handler ran, and the client's and the
// server's events race: "client connected" / "server newConnection" /
// "client sent", and each "client sent" / "server gotLine", came out in
// either order (three runs of go run ./cmd/lcsock demo, three orders).
func TestDemoDeterministic(t *testing.T) {
	ports := regexp.MustCompile(`[0-9]{4,}`)
	want := `accept connections on port 0 with message "newConnection" -> it = P
open socket to "127.0.0.1:P|demo" with message "connected"
client connected     "127.0.0.1:P|demo"
server newConnection "127.0.0.1:P", "P"
client sent          "127.0.0.1:P|demo"
server gotLine       "127.0.0.1:P", "hello\n"
client gotEcho       "127.0.0.1:P|demo", "hello\n"
client sent          "127.0.0.1:P|demo"
server gotLine       "127.0.0.1:P", "from\n"
client gotEcho       "127.0.0.1:P|demo", "from\n"
client sent          "127.0.0.1:P|demo"
server gotLine       "127.0.0.1:P", "lcsock\n"
client gotEcho       "127.0.0.1:P|demo", "lcsock\n"
server gotLine       "127.0.0.1:P", ""   (the result: eof)
server socketClosed  "127.0.0.1:P"
openSockets: "P"
`
	for range 30 {
		var out, errs bytes.Buffer
		require.Equal(t, 0, run(context.Background(), []string{"demo"}, nil, &out, &errs), errs.String())
		require.Equal(t, want, ports.ReplaceAllString(out.String(), "P"))
	}
}
