package main

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/lcsock/lcsock"
	"github.com/lcsock/lcsock/examples/internal/extest"
	"github.com/lcsock/lcsock/lcsocktest"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	extest.RunChild(main) // when a test runs this binary as the program
	goleak.VerifyTestMain(m)
}

func TestSecureClient(t *testing.T) {
	srv := lcsocktest.TLSServer(t, lcsocktest.NewCA(t), "localhost") // an echo server
	for _, args := range [][]string{
		{"-addr", srv.Addr(), "-verify-host", "localhost"}, // 127.0.0.1:port, checked for localhost
		{"-addr", "localhost:" + strconv.Itoa(srv.Port())}, // the name comes from the address
	} {
		var stdout, stderr extest.Output
		args = append(args, "-ca", srv.CAFile(), "-line", "secret")
		err := run(context.Background(), args, &stdout, &stderr)
		require.NoError(t, err, stderr.String())
		require.Equal(t, "secret\n", stdout.String())
		require.Regexp(t, `^secureclient: connected to \S+\|secure \(TLS 1\.[23], certificate verified\)\n$`, stderr.String())
	}

	// The program itself: status 0, the reply on stdout.
	code, stdout, stderr := extest.RunMain(t, "-addr", srv.Addr(), "-ca", srv.CAFile(), "-verify-host", "localhost", "-line", "hi")
	require.Zero(t, code, stderr)
	require.Equal(t, "hi\n", stdout)
}

func TestCertificateRefused(t *testing.T) {
	srv := lcsocktest.TLSServer(t, lcsocktest.NewCA(t), "localhost")

	// A certificate for another host.
	err := run(context.Background(), []string{"-addr", srv.Addr(), "-ca", srv.CAFile(), "-verify-host", "wrong.example"}, &extest.Output{}, &extest.Output{})
	require.ErrorIs(t, err, lcsock.ErrHandshake)
	require.ErrorContains(t, err, "certificate is valid for localhost, not wrong.example")

	// A CA nobody trusts.
	err = run(context.Background(), []string{"-addr", srv.Addr(), "-verify-host", "localhost"}, &extest.Output{}, &extest.Output{})
	require.ErrorIs(t, err, lcsock.ErrHandshake)
	require.ErrorContains(t, err, "certificate signed by unknown authority")

	// What the user sees: status 1, one line naming the certificate failure.
	code, stdout, stderr := extest.RunMain(t, "-addr", srv.Addr(), "-ca", srv.CAFile(), "-verify-host", "wrong.example")
	require.Equal(t, 1, code, stderr)
	require.Empty(t, stdout)
	require.True(t, strings.HasPrefix(stderr, "secureclient: "), stderr)
	require.Contains(t, stderr, "TLS handshake failed")
	require.Contains(t, stderr, "certificate is valid for localhost, not wrong.example")
	require.Equal(t, 1, strings.Count(stderr, "\n"), "one line: %q", stderr)
}

func TestBadInput(t *testing.T) {
	extest.CheckBadInput(t, "secureclient", [][]string{
		nil,                          // no -addr
		{"-addr", "localhost"},       // no port
		{"-addr", "127.0.0.1:99999"}, // a bad port: status 2 too (found in review)
		{"-addr", "127.0.0.1:0"},     // port 0: no server is there
		{"-addr", "a:1", "extra"},
		{"-verify-host"},
	})
	code, _, stderr := extest.RunMain(t, "-addr", "127.0.0.1:1", "-ca", "/nonexistent/ca.pem")
	require.Equal(t, 1, code, stderr)
	require.Contains(t, stderr, "error loading certificates")
	require.Equal(t, 1, strings.Count(stderr, "\n"), "one line: %q", stderr)
}

// A reply line longer than the read buffer is reported as such; it was
// reported as the server closing without replying (review X).
func TestReplyTooLong(t *testing.T) {
	srv := lcsocktest.TLSServer(t, lcsocktest.NewCA(t), "localhost") // an echo server
	var stdout, stderr extest.Output
	long := strings.Repeat("x", lcsock.DefaultMaxReadBuffer+10)
	err := run(context.Background(), []string{"-addr", srv.Addr(), "-verify-host", "localhost", "-ca", srv.CAFile(), "-line", long}, &stdout, &stderr)
	require.ErrorIs(t, err, lcsock.ErrBufferFull)
	require.Empty(t, stdout.String())
}
