package main

import (
	"context"
	"net"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lcsock/lcsock/examples/internal/extest"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	extest.RunChild(main) // when a test runs this binary as the program
	goleak.VerifyTestMain(m)
}

// responder starts "respond" with args and returns it and its port.
func responder(t *testing.T, args ...string) (*extest.Program, string) {
	p := extest.Start(t, run, append([]string{"respond"}, args...)...)
	return p, p.Stderr.WaitFor(t, `answering on port (\d+)\n`)[1]
}

func seeker(t *testing.T, args ...string) (stdout, stderr string, err error) {
	var out, errs extest.Output
	err = run(context.Background(), append([]string{"seek"}, args...), &out, &errs)
	return out.String(), errs.String(), err
}

func TestSeek(t *testing.T) {
	r, port := responder(t, "-port", "0", "-name", "alpha")
	stdout, stderr, err := seeker(t, "-port", port, "-n", "1", "-wait", "30s") // asks 127.0.0.1
	require.NoError(t, err, stderr)
	require.Equal(t, "alpha 127.0.0.1:"+port+"\n", stdout)
	r.Stderr.WaitFor(t, `127\.0\.0\.1:\d+ asked\n`)
	require.NoError(t, r.Stop(t))
}

// loopbackBroadcast reports whether this system delivers a datagram sent
// to 127.255.255.255 (a broadcast address on Linux's loopback) to a
// socket listening on every address.
func loopbackBroadcast(t *testing.T) bool {
	rcv, err := net.ListenPacket("udp4", "0.0.0.0:0")
	require.NoError(t, err)
	defer rcv.Close()
	snd, err := net.ListenPacket("udp4", "127.0.0.1:0") // Go allows broadcasts by default
	require.NoError(t, err)
	defer snd.Close()
	to := &net.UDPAddr{IP: net.IPv4(127, 255, 255, 255), Port: rcv.LocalAddr().(*net.UDPAddr).Port}
	if _, err := snd.WriteTo([]byte("?"), to); err != nil {
		return false
	}
	rcv.SetReadDeadline(time.Now().Add(time.Second))
	_, _, err = rcv.ReadFrom(make([]byte, 1))
	return err == nil
}

// Two responders share a port; one broadcast finds both. The broadcast
// address is loopback's, so nothing leaves the machine.
func TestSeekBroadcast(t *testing.T) {
	if !loopbackBroadcast(t) {
		t.Skip("this system does not broadcast on loopback")
	}
	if runtime.GOOS == "windows" {
		t.Skip("datagram listeners share a port on unix only")
	}
	_, port := responder(t, "-port", "0", "-name", "alpha")
	_, _ = responder(t, "-port", port, "-name", "beta")
	stdout, stderr, err := seeker(t, "-broadcast", "-to", "127.255.255.255", "-port", port, "-n", "2", "-wait", "30s")
	require.NoError(t, err, stderr)
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	slices.Sort(lines)
	require.Equal(t, []string{"alpha 127.0.0.1:" + port, "beta 127.0.0.1:" + port}, lines)

	// Without -broadcast the system refuses to send to a broadcast address.
	_, _, err = seeker(t, "-to", "127.255.255.255", "-port", port, "-wait", "30s")
	require.ErrorContains(t, err, "permission denied")
}

func TestNoAnswer(t *testing.T) {
	// Nobody on a unicast port: the system says so (ICMP port unreachable).
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	require.NoError(t, err)
	port := pc.LocalAddr().(*net.UDPAddr).Port
	pc.Close()
	_, _, err = seeker(t, "-port", strconv.Itoa(port), "-wait", "30s")
	require.Error(t, err)
	if runtime.GOOS == "linux" {
		require.ErrorContains(t, err, "connection refused")
	}

	// Nobody answers a broadcast: the wait ends it.
	if loopbackBroadcast(t) {
		_, _, err = seeker(t, "-broadcast", "-to", "127.255.255.255", "-port", strconv.Itoa(port), "-wait", "100ms")
		require.EqualError(t, err, "no answer within 100ms")
	}
}

func TestBadInput(t *testing.T) {
	extest.CheckBadInput(t, "udpdiscovery", [][]string{
		nil,
		{"find"},
		{"respond", "-port", "70000"},
		{"respond", "-name", "two words"},
		{"respond", "extra"},
		{"seek", "-port", "0"},
		{"seek", "-wait", "0s"},
		{"seek", "-n", "x"},
		{"seek", "-to", "a:b"},         // not a host: status 2 too (found in review)
		{"seek", "-to", "127.0.0.1|x"}, // a socket name, not a host: asked port 80, not -port
	})
	code, _, stderr := extest.RunMain(t, "-h")
	require.Zero(t, code)
	require.Contains(t, stderr, "udpdiscovery seek")
}
