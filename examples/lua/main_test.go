package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// runScript runs the command with args and returns its status, stdout and stderr.
func runScript(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// The embedded demo: a server and a client in one script, over loopback.
func TestDemo(t *testing.T) {
	code, stdout, stderr := runScript(t)
	require.Equal(t, 0, code, stderr)
	require.Equal(t, `server: listening
client: connected
client: got HELLO
client: got LIVECODE SOCKETS
client: got FROM LUA
server: the client closed the connection
open sockets: 0
`, stdout)
	require.Equal(t, "lua: running demo.lua\nlua: demo.lua finished\n", stderr)
}

// http_get.lua: an HTTP/1.0 server and a client fetching from it.
func TestHTTPGet(t *testing.T) {
	code, stdout, stderr := runScript(t, "http_get.lua")
	require.Equal(t, 0, code, stderr)
	require.Equal(t, `GET /hello: 200 OK
Hello from Lua over lcsock!
GET /missing: 404 Not Found
not found
`, stdout)
	require.Equal(t, "lua: running http_get.lua\nlua: http_get.lua finished\n", stderr)
}

func TestScriptArguments(t *testing.T) {
	path := writeScript(t, `print(arg[0]:match("[^/]*$"), arg[1], arg[2], #arg)`)
	code, stdout, stderr := runScript(t, path, "one", "two")
	require.Equal(t, 0, code, stderr)
	require.Equal(t, "script.lua\tone\ttwo\t2\n", stdout)
}

func TestFailures(t *testing.T) {
	for _, tc := range []struct {
		name   string
		script string // "" means a file that does not exist
		code   int
		stderr string
	}{
		{"missing file", "", 2, "no such file or directory"},
		{"syntax error", "socket.open(", 1, "script.lua"},
		{"runtime error", `error("it failed")`, 1, "script.lua:1: it failed"},
		{"callback error", `
local port = socket.accept(0, "conn")
function conn() error("conn failed") end
socket.open("127.0.0.1:" .. port)
socket.wait(5)`, 1, "error in conn"},
		{"sockets left open", `socket.accept(0, "conn")`, 0, "left open"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "missing.lua")
			if tc.script != "" {
				path = writeScript(t, tc.script)
			}
			code, _, stderr := runScript(t, path)
			require.Equal(t, tc.code, code, stderr)
			require.Contains(t, stderr, tc.stderr)
		})
	}
}

// An interrupt (the context) stops a script waiting for messages.
func TestInterrupt(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	var stdout, stderr bytes.Buffer
	code := run(ctx, []string{writeScript(t, `socket.wait()`)}, &stdout, &stderr)
	require.Equal(t, 1, code)
	require.Contains(t, stderr.String(), "context canceled")
}

func writeScript(t *testing.T, src string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "script.lua")
	require.NoError(t, os.WriteFile(path, []byte(src), 0o600))
	return path
}
