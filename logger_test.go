package lcsock_test

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/lcsock/lcsock"
	"github.com/lcsock/lcsock/lcsocktest"
	"github.com/stretchr/testify/require"
)

// Config.Logger gets a debug record for each state change of a socket
// (listening, opening, accepted, connected, closing, finished) and an
// error record for a panicking handler; at a level above debug it gets
// only the error.
func TestLoggerRecords(t *testing.T) {
	for _, level := range []slog.Level{slog.LevelDebug, slog.LevelInfo} {
		t.Run(level.String(), func(t *testing.T) {
			var out lockedBuffer
			logger := slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: level}))
			rec := &lcsocktest.Recorder{}
			reg, _ := newReg(t, lcsock.Config{Logger: logger, Handler: rec})
			panicky := lcsock.HandlerFunc(func(ev lcsock.Event) {
				if ev.Kind == lcsock.EventAccepted {
					panic("boom")
				}
			})
			port, err := reg.Accept(0, panicky, "newConn")
			require.NoError(t, err)
			id := "127.0.0.1:" + itoa(port) + "|logged"
			require.NoError(t, reg.Open(id, nil, lcsock.WithMessage("connected")))
			rec.WaitFor(t, lcsock.EventConnected, id, wait)
			// The server's handler panicked on accept: its socket is closed,
			// and the client sees the connection end.
			rec.WaitFor(t, lcsock.EventClosed, id, wait)
			_ = reg.CloseSocket(id)
			reg.Close()

			text := out.String()
			require.Contains(t, text, "level=ERROR")
			require.Contains(t, text, "handler panicked")
			debug := []string{"lcsock: listening", "lcsock: opening", "lcsock: accepted", "lcsock: connected", "lcsock: finished"}
			for _, msg := range debug {
				if level == slog.LevelDebug {
					require.Contains(t, text, msg)
				} else {
					require.NotContains(t, text, msg)
				}
			}
			require.Equal(t, level != slog.LevelDebug, !strings.Contains(text, "level=DEBUG"))
		})
	}
}
