package main

import (
	"bufio"
	"io"
	"net"
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

// client is one chat user, on a plain net connection.
type client struct {
	net.Conn
	r *bufio.Reader
}

func join(t *testing.T, addr string) *client {
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	require.NoError(t, c.SetDeadline(time.Now().Add(extest.Wait)))
	return &client{c, bufio.NewReader(c)}
}

func (c *client) say(line string) { io.WriteString(c, line) }

func (c *client) hear(t *testing.T) string {
	line, err := c.r.ReadString('\n')
	require.NoError(t, err)
	return line
}

func TestChat(t *testing.T) {
	p := extest.Start(t, run, "-port", "0")
	addr := "127.0.0.1:" + p.Stderr.WaitFor(t, `listening on port (\d+)\n`)[1]
	alice, bob, carol := join(t, addr), join(t, addr), join(t, addr)
	p.Stderr.WaitFor(t, `\(3 connected\)`) // every member is known: none misses a line

	alice.say("alice: hi all\n")
	require.Equal(t, "alice: hi all\n", bob.hear(t))
	require.Equal(t, "alice: hi all\n", carol.hear(t))
	bob.say("bob: hello alice\r\n")
	require.Equal(t, "bob: hello alice\n", alice.hear(t)) // her own line did not come back
	require.Equal(t, "bob: hello alice\n", carol.hear(t))

	carol.say("no name\n") // only carol is told
	require.Equal(t, "chat: send lines of the form \"name: text\"\n", carol.hear(t))

	carol.Close()
	p.Stderr.WaitFor(t, `left \(2 connected\)`)
	alice.say("alice: carol left\n")
	require.Equal(t, "alice: carol left\n", bob.hear(t))

	require.NoError(t, p.Stop(t))
	require.Equal(t, "alice: hi all\nbob: hello alice\nalice: carol left\n", p.Stdout.String())
}

// A last line without a line end, sent as the client ends its side of
// the stream, still goes to the others (the read that the end of the
// stream completes carries it), before the client leaves.
func TestChatLastLineWithoutLineEnd(t *testing.T) {
	p := extest.Start(t, run, "-port", "0")
	addr := "127.0.0.1:" + p.Stderr.WaitFor(t, `listening on port (\d+)\n`)[1]
	alice, bob := join(t, addr), join(t, addr)
	p.Stderr.WaitFor(t, `\(2 connected\)`)

	alice.say("alice: bye")
	require.NoError(t, alice.Conn.(*net.TCPConn).CloseWrite())
	// Events come one at a time, in order: the line is said before
	// alice's socketClosed makes her leave.
	p.Stderr.WaitFor(t, `left \(1 connected\)`)
	require.Equal(t, "alice: bye\n", p.Stdout.String())
	require.Equal(t, "alice: bye\n", bob.hear(t))
	require.NoError(t, p.Stop(t))
}

func TestBadInput(t *testing.T) {
	extest.CheckBadInput(t, "chat", [][]string{{"-port", "-1"}, {"-port"}, {"extra"}})
}
