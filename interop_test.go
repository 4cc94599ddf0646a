package lcsock_test

import (
	"bytes"
	"context"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/lcsock/lcsock"
	"github.com/stretchr/testify/require"
)

// tool returns the path of an interop peer, skipping with a clear message
// where it cannot be had (.ci/run installs socat and netcat-openbsd).
func tool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("interop peer %s is not installed (apt-get install socat netcat-openbsd)", name)
	}
	return path
}

// socat and nc drive an lcsock echo server and read back what they sent.
func TestInteropEchoServer(t *testing.T) {
	reg, _ := newReg(t, lcsock.Config{})
	port, srv := echoServer(t, reg)
	input := "hello\nfrom a real peer\n" + strings.Repeat("0123456789", 10000) + "\n"
	for _, peer := range []struct {
		name string
		args []string
	}{
		{"socat", []string{"-t", "5", "-", "TCP:127.0.0.1:" + itoa(port)}},
		{"nc", []string{"-N", "127.0.0.1", itoa(port)}},
	} {
		t.Run(peer.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, tool(t, peer.name), peer.args...)
			cmd.Stdin = strings.NewReader(input)
			var out, errs bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &errs
			// The peer half-closes at the end of its input; the echo server
			// sees end of stream after echoing everything and closes.
			require.NoError(t, cmd.Run(), errs.String())
			require.Equal(t, input, out.String())
			srv.WaitFor(t, lcsock.EventClosed, "", wait)
		})
	}
}

// An lcsock client talks to a socat listener that answers in upper case.
func TestInteropClientToSocat(t *testing.T) {
	path := tool(t, "socat")
	probe, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := probe.Addr().(*net.TCPAddr).Port
	probe.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, "TCP-LISTEN:"+itoa(port)+",bind=127.0.0.1,reuseaddr", "EXEC:tr a-z A-Z")
	require.NoError(t, cmd.Start())
	defer cmd.Wait()
	defer cmd.Process.Kill()

	reg, rec := newReg(t, lcsock.Config{})
	id := "127.0.0.1:" + itoa(port) + "|socat"
	// socat may not be listening yet: retry the open on connection refused.
	for {
		require.NoError(t, reg.Open(id, nil, lcsock.WithMessage("up")))
		if _, ok := rec.Next(lcsock.EventConnected, id, 200*time.Millisecond); ok {
			break
		}
		rec.WaitFor(t, lcsock.EventError, id, wait)
		require.NoError(t, ctx.Err())
	}
	// tr answers only at the end of its input: half-close to send it.
	require.NoError(t, reg.WriteWithMessage(id, []byte("line one\nline two\n"), nil, ""))
	require.NoError(t, reg.CloseWrite(id))
	got, err := reg.Read(ctxWait(t), id, lcsock.UntilEOF())
	require.NoError(t, err)
	require.Equal(t, "LINE ONE\nLINE TWO\n", string(got))
	rec.WaitFor(t, lcsock.EventClosed, id, wait)
}
