package cli

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParse(t *testing.T) {
	newFS := func() (*flag.FlagSet, *int) {
		fs := flag.NewFlagSet("x", flag.ContinueOnError)
		return fs, fs.Int("port", 0, "the `port`")
	}
	tests := []struct {
		args    []string
		usage   bool // a usage error
		help    bool
		wantErr string
	}{
		{args: []string{"-port", "7"}},
		{args: []string{"-h"}, help: true},
		{args: []string{"-nope"}, usage: true, wantErr: "flag provided but not defined: -nope"},
		{args: []string{"extra"}, usage: true, wantErr: `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		fs, _ := newFS()
		var stderr bytes.Buffer
		err := Parse(fs, tt.args, "usage: x\n", &stderr)
		switch {
		case tt.help:
			require.ErrorIs(t, err, flag.ErrHelp)
			require.Contains(t, stderr.String(), "usage: x\n")
			require.Contains(t, stderr.String(), "-port port")
		case tt.wantErr != "":
			require.EqualError(t, err, tt.wantErr)
			require.Equal(t, tt.usage, errors.As(err, new(usageError)))
			require.Empty(t, stderr.String(), "errors are left to Main")
		default:
			require.NoError(t, err)
		}
	}
}

func TestPort(t *testing.T) {
	require.NoError(t, Port(0, 0))
	require.NoError(t, Port(65535, 1))
	require.EqualError(t, Port(0, 1), "-port 0: not a port number (1-65535)")
	require.EqualError(t, Port(65536, 0), "-port 65536: not a port number (0-65535)")
	require.True(t, errors.As(Port(-1, 0), new(usageError)))
}

// report: the exit statuses and one-line messages of Main. A client that
// Ctrl-C cut short said "context canceled" (found by the examples review).
func TestReport(t *testing.T) {
	live := context.Background()
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		ctx  context.Context
		err  error
		line string
		code int
	}{
		{live, nil, "", 0},
		{live, fmt.Errorf("x: %w", flag.ErrHelp), "", 0},
		{live, Usagef("-port %d: bad", 99999), "prog: -port 99999: bad", 2},
		{live, errors.New("refused"), "prog: refused", 1},
		{live, errors.Join(errors.New("tls"), errors.New("cause")), "prog: tls; cause", 1},
		{ended, fmt.Errorf("greeting: %w", context.Canceled), "prog: interrupted", 1},
		{live, context.Canceled, "prog: context canceled", 1}, // not Ctrl-C's
		{ended, errors.New("refused"), "prog: refused", 1},
	}
	for _, tt := range tests {
		line, code := report(tt.ctx, "prog", tt.err)
		require.Equal(t, tt.line, line, "%v", tt.err)
		require.Equal(t, tt.code, code, "%v", tt.err)
	}
}

func TestAddr(t *testing.T) {
	require.NoError(t, Addr("127.0.0.1:25"))
	require.NoError(t, Addr("[::1]:25"))
	require.EqualError(t, Addr("nope"), `-addr "nope": want host:port`)
	require.EqualError(t, Addr("127.0.0.1:0"), `-addr "127.0.0.1:0": port 0 cannot be connected to`)
	require.True(t, errors.As(Addr("a:99999"), new(usageError)))
}
