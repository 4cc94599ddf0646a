package main

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"os"
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

// start runs the server on a free port and returns its address.
func start(t *testing.T) (*extest.Program, string) {
	p := extest.Start(t, run, "-port", "0")
	port := p.Stderr.WaitFor(t, `listening on port (\d+)\n`)[1]
	return p, "127.0.0.1:" + port
}

func dial(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	require.NoError(t, c.SetDeadline(time.Now().Add(extest.Wait)))
	return c, bufio.NewReader(c)
}

func readLine(t *testing.T, r *bufio.Reader) string {
	line, err := r.ReadString('\n')
	require.NoError(t, err)
	return line
}

func TestEcho(t *testing.T) {
	p, addr := start(t)
	a, ra := dial(t, addr)
	b, rb := dial(t, addr)
	io.WriteString(a, "hello\n")
	io.WriteString(b, "from b\r\n") // line ends come back as sent
	require.Equal(t, "hello\n", readLine(t, ra))
	require.Equal(t, "from b\r\n", readLine(t, rb))
	io.WriteString(a, "one\ntwo\n")
	require.Equal(t, "one\n", readLine(t, ra))
	require.Equal(t, "two\n", readLine(t, ra))

	// A last line without a line end is echoed when the client ends its
	// side of the stream; then the server closes.
	io.WriteString(b, "tail")
	require.NoError(t, b.(*net.TCPConn).CloseWrite())
	rest, err := io.ReadAll(rb)
	require.NoError(t, err)
	require.Equal(t, "tail", string(rest))
	p.Stderr.WaitFor(t, `closed\n`)

	require.NoError(t, p.Stop(t))
	out := p.Stdout.String()
	for _, want := range []string{" hello\n", " from b\n", " one\n", " two\n", " tail\n"} {
		require.Contains(t, out, want)
	}
	require.Contains(t, p.Stderr.String(), "shutting down")
}

// A "line" longer than lcsock's read buffer (1 MiB) closes the connection.
func TestLineTooLong(t *testing.T) {
	p, addr := start(t)
	c, _ := dial(t, addr)
	go c.Write(make([]byte, 2<<20)) // ends with an error when the server closes
	_, err := io.ReadAll(c)
	require.NotErrorIs(t, err, os.ErrDeadlineExceeded)
	p.Stderr.WaitFor(t, `: buffer full: no match in \d+ buffered bytes`)
}

// A client that sends far more than it reads fills its write queue
// (Config.MaxWriteQueue, 16 MiB): the server must say so and close the
// connection, not drop lines silently and carry on.
func TestClientThatDoesNotRead(t *testing.T) {
	p, addr := start(t)
	c, _ := dial(t, addr)
	line := append(bytes.Repeat([]byte("x"), 64<<10-1), '\n')
	const lines = 640 // 40 MiB
	wrote := make(chan struct{})
	go func() { // reads nothing until it has written everything
		defer close(wrote)
		for range lines {
			if _, err := c.Write(line); err != nil {
				return // the server closed the connection
			}
		}
		c.(*net.TCPConn).CloseWrite()
	}()
	<-wrote
	echoed, _ := io.ReadAll(c)
	require.Less(t, len(echoed), lines*len(line), "the write queue never filled")
	require.NoError(t, p.Stop(t))
	require.Contains(t, p.Stderr.String(), ": buffer full: ", "lines were dropped silently")
}

func TestBadInput(t *testing.T) {
	extest.CheckBadInput(t, "echo", [][]string{
		{"-port", "70000"},
		{"-port", "x"},
		{"-nope"},
		{"extra"},
	})
	code, _, stderr := extest.RunMain(t, "-h")
	require.Zero(t, code)
	require.Contains(t, stderr, "usage: echo [-port PORT]")
	require.Contains(t, stderr, "-port port")
}
