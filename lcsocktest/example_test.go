package lcsocktest_test

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/lcsock/lcsock"
	"github.com/lcsock/lcsock/lcsocktest"
)

// exampleT stands in for the *testing.T a real test passes: Fatalf
// panics, and cleanup runs the functions given to Cleanup.
type exampleT struct{ cleanups []func() }

func (*exampleT) Helper()                           {}
func (*exampleT) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }
func (t *exampleT) Cleanup(f func())                { t.cleanups = append(t.cleanups, f) }

func (t *exampleT) cleanup() {
	for i := len(t.cleanups) - 1; i >= 0; i-- {
		t.cleanups[i]()
	}
}

func ExampleEchoServer() {
	t := &exampleT{} // in a test: the *testing.T
	defer t.cleanup()
	srv := lcsocktest.EchoServer(t) // closed by the test's cleanup

	reg, _ := lcsock.NewRegistry(lcsock.Config{})
	defer reg.Close()
	id := srv.ID("echo") // "127.0.0.1:port|echo"
	reg.Open(id, nil)
	ctx := context.Background()
	reg.Write(ctx, id, []byte("hello\n"))
	line, err := reg.Read(ctx, id, lcsock.Until("\n"))
	fmt.Printf("%q %v, %d connection\n", line, err, srv.Conns())
	// Output:
	// "hello\n" <nil>, 1 connection
}

func ExampleLineServer() {
	t := &exampleT{}
	defer t.cleanup()
	srv := lcsocktest.LineServer(t, func(line string) string {
		if line == "QUIT" {
			return "221 bye" + lcsocktest.Hangup // reply, then close
		}
		return "250 " + strings.ToUpper(line)
	})

	// The test's code: event-driven, and waited for with a Recorder.
	rec := &lcsocktest.Recorder{}
	reg, _ := lcsock.NewRegistry(lcsock.Config{Handler: rec})
	defer reg.Close()
	id := srv.ID("smtp")
	reg.Open(id, nil)
	reg.WriteWithMessage(id, []byte("hello\r\nQUIT\r\n"), nil, "")
	reg.ReadWithMessage(id, lcsock.Until("\r\n"), nil, "gotReply")
	reg.ReadWithMessage(id, lcsock.Until("\r\n"), nil, "gotReply")
	for range 2 {
		ev, _ := rec.Next(lcsock.EventRead, id, 5*time.Second) // in a test: rec.WaitFor(t, ...)
		fmt.Printf("%s %q\n", ev.Name, ev.Data)
	}
	_, closed := rec.Next(lcsock.EventClosed, id, 5*time.Second)
	fmt.Println("socketClosed:", closed)
	// Output:
	// gotReply "250 HELLO\r\n"
	// gotReply "221 bye\r\n"
	// socketClosed: true
}

func ExampleTLSServer() {
	t := &exampleT{}
	defer t.cleanup()
	ca := lcsocktest.NewCA(t)
	srv := lcsocktest.TLSServer(t, ca, "localhost") // an echo server; the CA issued its certificate

	reg, _ := lcsock.NewRegistry(lcsock.Config{Certificates: []string{srv.CAFile()}}) // trust the CA
	defer reg.Close()
	id := srv.ID("tls")
	reg.OpenSecure(id, nil, lcsock.VerifyHost("localhost")) // the server listens on 127.0.0.1
	ctx := context.Background()
	reg.Write(ctx, id, []byte("secret\n"))
	line, err := reg.Read(ctx, id, lcsock.Until("\n"))
	fmt.Printf("%q %v\n", line, err)
	// Output:
	// "secret\n" <nil>
}
