package cli

import (
	"bytes"
	"errors"
	"flag"
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
