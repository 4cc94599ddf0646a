package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// udp send to a port nobody listens on: the socketError (ICMP port
// unreachable) is a failure, exit status 1, not 0.
func TestUDPSendRefused(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("relies on Linux reporting ICMP port unreachable on a connected UDP socket")
	}
	probe, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	port := probe.LocalAddr().(*net.UDPAddr).Port
	probe.Close()
	var out, errs syncBuffer
	// Several lines: a write after the failure must still report the
	// socket's error, not "socket is not open" (found in review).
	code := run(context.Background(), []string{"udp", "send", "127.0.0.1:" + strconv.Itoa(port)}, strings.NewReader("one\ntwo\nthree\nfour\nfive\n"), &out, &errs)
	require.Equal(t, 1, code, errs.String())
	require.Contains(t, errs.String(), "refused")
	require.Empty(t, out.String())
}

// A negative or zero -timeout is bad input: status 2, like every other
// bad flag. Zero quietly meant the 10 s default (review X).
func TestNegativeTimeout(t *testing.T) {
	for _, d := range []string{"-1s", "0"} {
		var errs syncBuffer
		code := run(context.Background(), []string{"connect", "-timeout", d, "127.0.0.1:1"}, strings.NewReader(""), &errs, &errs)
		require.Equal(t, 2, code, errs.String())
		require.Contains(t, errs.String(), "must be positive")
	}
}

// -h, alone or after a verb, prints the usage to stderr and succeeds.
func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"help"}, {"connect", "-h"}, {"udp", "listen", "-h"}, {"udp", "-h"}, {"udp", "help"}} {
		var out, errs syncBuffer
		code := run(context.Background(), args, strings.NewReader(""), &out, &errs)
		require.Equal(t, 0, code, args)
		require.Contains(t, errs.String(), "usage:", args)
		require.Empty(t, out.String(), args)
	}
}

// A flag the verb does not take is bad input, not silently ignored.
func TestMisplacedFlags(t *testing.T) {
	for _, args := range [][]string{
		{"connect", "-cert", "c.pem", "-key", "k.pem", "127.0.0.1:1"},
		{"listen", "-tls", "0"},
		{"udp", "send", "-echo", "127.0.0.1:1"},
		{"demo", "-until", "x"},
	} {
		var out, errs syncBuffer
		code := run(context.Background(), args, strings.NewReader(""), &out, &errs)
		require.Equal(t, 2, code, args)
		require.Contains(t, errs.String(), "does not take", args)
		require.Equal(t, 1, strings.Count(errs.String(), "\n"), "one line: %q", errs.String())
	}
}

// The TLS client flags without -tls are bad input, not silently ignored
// (found in review).
func TestTLSFlagsNeedTLS(t *testing.T) {
	for _, args := range [][]string{
		{"connect", "-insecure", "127.0.0.1:1"},
		{"connect", "-ca", "/nonexistent", "127.0.0.1:1"},
		{"connect", "-verify-host", "x", "127.0.0.1:1"},
	} {
		var out, errs syncBuffer
		code := run(context.Background(), args, strings.NewReader(""), &out, &errs)
		require.Equal(t, 2, code, args)
		require.Contains(t, errs.String(), "go with -tls", args)
	}
}

// connect -until whose delimiter never comes within the read buffer
// fails with the read's error; it waited silently for good (found in
// review).
func TestConnectUntilBufferFull(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	served := make(chan struct{})
	defer func() { <-served }()
	go func() {
		defer close(served)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.Write(bytes.Repeat([]byte("a"), 4<<20)) // no X: more than the read buffer
		io.Copy(io.Discard, c)                    // until the tool closes
	}()
	stdin, typing := io.Pipe() // no input, until the test ends
	defer typing.Close()
	var out, errs syncBuffer
	code := run(context.Background(), []string{"connect", "-until", "X", ln.Addr().String()}, stdin, &out, &errs)
	require.Equal(t, 1, code, errs.String())
	require.Contains(t, errs.String(), "buffer")
}

// A command line with an unknown command or the wrong number of
// arguments is bad input like any other: status 2 and a one-line error
// that says what is wrong. It printed the whole usage, which names no
// problem — not even that flags go before the arguments (found in
// review).
func TestBadArgumentsOneLineError(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"nope"}, `unknown command "nope"`},
		{[]string{"nope", "-echo"}, `unknown command "nope"`},
		{[]string{"udp"}, `udp needs "send" or "listen"`},
		{[]string{"udp", "foo", "1"}, `unknown command "udp foo"`},
		{[]string{"demo", "extra"}, "demo takes no argument"},
		{[]string{"connect"}, "connect takes one argument, ID"},
		{[]string{"connect", "127.0.0.1:1", "127.0.0.1:2"}, "connect takes one argument, ID"},
		{[]string{"listen"}, "listen takes one argument, PORT"},
		{[]string{"listen", "0", "-echo"}, "flags go before"},
		{[]string{"udp", "send"}, "udp send takes one argument, ID"},
		{[]string{"udp", "listen", "1", "2"}, "udp listen takes one argument, PORT"},
	} {
		var out, errs syncBuffer
		code := run(context.Background(), tc.args, strings.NewReader(""), &out, &errs)
		require.Equal(t, 2, code, "%q", tc.args)
		require.Empty(t, out.String(), "%q", tc.args)
		require.Contains(t, errs.String(), tc.want, "%q", tc.args)
		require.True(t, strings.HasPrefix(errs.String(), "lcsock: "), "%q: %q", tc.args, errs.String())
		require.Equal(t, 1, strings.Count(errs.String(), "\n"), "%q: one line: %q", tc.args, errs.String())
	}
}

// zeros is an endless stdin.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// connect to a peer that reads nothing: once a write of stdin times out,
// the rest of stdin would never be sent, so the tool fails with the
// write's error instead of carrying on as if all was sent.
func TestConnectWriteTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c // read nothing
		}
		close(accepted)
	}()
	defer func() {
		if c := <-accepted; c != nil {
			c.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second) // bounds a failing test
	defer cancel()
	var out, errs syncBuffer
	code := run(ctx, []string{"connect", "-timeout", "200ms", ln.Addr().String()}, zeros{}, &out, &errs)
	require.NoError(t, ctx.Err(), "connect kept running after its write failed; stderr: %s", errs.String())
	require.Equal(t, 1, code, errs.String())
	require.Contains(t, errs.String(), "timeout")
}
