package main

import (
	"context"
	"net"
	"runtime"
	"strconv"
	"strings"
	"testing"

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
	code := run(context.Background(), []string{"udp", "send", "127.0.0.1:" + strconv.Itoa(port)}, strings.NewReader("one\n"), &out, &errs)
	require.Equal(t, 1, code, errs.String())
	require.Contains(t, errs.String(), "refused")
	require.Empty(t, out.String())
}

// A negative -timeout is bad input: status 2, like every other bad flag.
func TestNegativeTimeout(t *testing.T) {
	var errs syncBuffer
	code := run(context.Background(), []string{"connect", "-timeout", "-1s", "127.0.0.1:1"}, strings.NewReader(""), &errs, &errs)
	require.Equal(t, 2, code, errs.String())
}

// -h, alone or after a verb, prints the usage to stderr and succeeds.
func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"help"}, {"connect", "-h"}, {"udp", "listen", "-h"}} {
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
