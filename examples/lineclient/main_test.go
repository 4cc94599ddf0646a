package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
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

// smtpServer serves one connection with an SMTP-like dialogue: it sends
// greeting, answers each command with replies[verb] ("500 unknown
// command" if there is none; an empty reply never answers, hangUp closes
// the connection at once), takes the
// lines after a 354 reply to DATA up to a lone ".", and ends after QUIT
// or when the client closes. It returns the server's address and a
// channel that gets the lines the client sent, without line ends, at the
// end.
func smtpServer(t *testing.T, greeting string, replies map[string]string) (string, <-chan []string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	got := make(chan []string, 1)
	go func() {
		var lines []string
		defer func() { got <- lines }()
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(extest.Wait))
		fmt.Fprintf(c, "%s\r\n", greeting)
		r := bufio.NewReader(c)
		inData := false
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			line = strings.TrimSuffix(line, "\r\n")
			lines = append(lines, line)
			if inData {
				if line == "." {
					inData = false
					io.WriteString(c, "250 queued as 42\r\n")
				}
				continue
			}
			verb, _, _ := strings.Cut(line, " ")
			reply, ok := replies[verb]
			if !ok {
				reply = "500 unknown command"
			}
			if reply == hangUp {
				return
			}
			if reply != "" {
				fmt.Fprintf(c, "%s\r\n", reply)
			}
			inData = verb == "DATA" && strings.HasPrefix(reply, "354")
			if verb == "QUIT" || strings.HasPrefix(reply, "421") {
				return
			}
		}
	}()
	return ln.Addr().String(), got
}

const hangUp = "(hang up)"

var friendly = map[string]string{
	"HELO": "250-test.example greets you\r\n250-8BITMIME\r\n250 HELP", // a multi-line reply
	"MAIL": "250 sender ok",
	"RCPT": "250 recipient ok",
	"DATA": "354 end with <CRLF>.<CRLF>",
	"QUIT": "221 bye",
}

func TestSend(t *testing.T) {
	addr, got := smtpServer(t, "220 test.example ready", friendly)
	var stdout, stderr extest.Output
	err := run(context.Background(), []string{
		"-addr", addr, "-helo", "client.example", "-from", "a@example.org", "-to", "b@example.org",
		"-body", "Hi Bob,\r\n.dotted line\nbye",
	}, &stdout, &stderr)
	require.NoError(t, err, stderr.String())
	require.Equal(t, `S: 220 test.example ready
C: HELO client.example
S: 250-test.example greets you
S: 250-8BITMIME
S: 250 HELP
C: MAIL FROM:<a@example.org>
S: 250 sender ok
C: RCPT TO:<b@example.org>
S: 250 recipient ok
C: DATA
S: 354 end with <CRLF>.<CRLF>
C: From: <a@example.org>
C: To: <b@example.org>
C: Subject: lcsock
C: 
C: Hi Bob,
C: ..dotted line
C: bye
C: .
S: 250 queued as 42
C: QUIT
S: 221 bye
`, stdout.String())
	require.Equal(t, "lineclient: message sent\n", stderr.String())
	require.Equal(t, []string{
		"HELO client.example", "MAIL FROM:<a@example.org>", "RCPT TO:<b@example.org>", "DATA",
		"From: <a@example.org>", "To: <b@example.org>", "Subject: lcsock", "",
		"Hi Bob,", "..dotted line", "bye", ".", "QUIT",
	}, <-got)
}

func TestRefused(t *testing.T) {
	replies := map[string]string{"HELO": "250 hi", "MAIL": "250 ok", "RCPT": "550 no such user here"}
	addr, got := smtpServer(t, "220 ready", replies)
	var stdout, stderr extest.Output
	err := run(context.Background(), []string{"-addr", addr}, &stdout, &stderr)
	require.EqualError(t, err, `RCPT: the server replied "550 no such user here"`)
	require.True(t, strings.HasSuffix(stdout.String(), "C: RCPT TO:<bob@example.org>\nS: 550 no such user here\n"), stdout.String())
	require.Len(t, <-got, 3) // HELO, MAIL, RCPT: nothing after the refusal
}

func TestGreetingRefused(t *testing.T) {
	addr, _ := smtpServer(t, "554-not today\r\n554 go away", nil)
	err := run(context.Background(), []string{"-addr", addr}, io.Discard, io.Discard)
	require.EqualError(t, err, `greeting: the server replied "554 go away"`)
}

func TestServerCloses(t *testing.T) {
	addr, _ := smtpServer(t, "220 ready", map[string]string{"HELO": "250 hi", "MAIL": hangUp})
	var stdout extest.Output
	err := run(context.Background(), []string{"-addr", addr}, &stdout, io.Discard)
	require.EqualError(t, err, "MAIL: the server closed the connection")
	require.True(t, strings.HasSuffix(stdout.String(), "C: MAIL FROM:<alice@example.org>\n"), stdout.String())
}

// A server that stops answering: the socketTimeout event ends the dialogue.
func TestTimeout(t *testing.T) {
	addr, got := smtpServer(t, "220 ready", map[string]string{"HELO": ""})
	start := time.Now()
	err := run(context.Background(), []string{"-addr", addr, "-timeout", "100ms"}, io.Discard, io.Discard)
	require.EqualError(t, err, "HELO: no reply within 100ms")
	require.GreaterOrEqual(t, time.Since(start), 100*time.Millisecond)
	require.Equal(t, []string{"HELO localhost"}, <-got) // the server saw the client close
}

func TestBadInput(t *testing.T) {
	extest.CheckBadInput(t, "lineclient", [][]string{
		nil,                          // no -addr
		{"-addr", "localhost"},       // no port
		{"-addr", "127.0.0.1:99999"}, // a bad port: status 2 too (found in review)
		{"-addr", "127.0.0.1:0"},     // port 0: no server is there
		{"-addr", "127.0.0.1:25", "-timeout", "0s"},
		{"-addr", "127.0.0.1:25", "extra"},
		{"-bogus"},
	})

	// Nobody listening: exit status 1 and the reason, on one line.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	code, stdout, stderr := extest.RunMain(t, "-addr", addr)
	require.Equal(t, 1, code, stderr)
	require.Empty(t, stdout)
	require.Contains(t, stderr, "can't connect to host")
	require.Equal(t, 1, strings.Count(stderr, "\n"), "one line: %q", stderr)
}

// A reply line longer than lcsock's read buffer (1 MiB) ends the
// dialogue with that reason: the server did not close the connection,
// as the error said.
func TestReplyTooLong(t *testing.T) {
	addr, _ := smtpServer(t, "220 "+strings.Repeat("x", 2<<20), nil)
	p := extest.Start(t, run, "-addr", addr)
	require.ErrorContains(t, p.Wait(t), "greeting: buffer full")
}
