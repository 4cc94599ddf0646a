// Package extest helps the tests of the example programs: it runs a
// program's run function on a goroutine with outputs a test can wait on,
// and runs a program's main in a child process to check what a user
// sees: the exit status and stderr.
package extest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// Wait bounds every wait in the examples' tests: generous, as it only
// ends a test that is failing anyway.
const Wait = 30 * time.Second

// Output is an io.Writer that keeps what is written to it, for a
// program's stdout or stderr. It is safe for concurrent use.
type Output struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	wake chan struct{} // closed at the next Write
}

func (o *Output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.buf.Write(p)
	if o.wake != nil {
		close(o.wake)
		o.wake = nil
	}
	return len(p), nil
}

// String returns what was written so far.
func (o *Output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// WaitFor waits until the output matches the regular expression expr and
// returns the leftmost match and its submatches. It fails the test,
// showing the output, if that takes longer than Wait.
func (o *Output) WaitFor(t testing.TB, expr string) []string {
	t.Helper()
	re := regexp.MustCompile(expr)
	deadline := time.NewTimer(Wait)
	defer deadline.Stop()
	for {
		o.mu.Lock()
		m := re.FindStringSubmatch(o.buf.String())
		if m == nil && o.wake == nil {
			o.wake = make(chan struct{})
		}
		wake := o.wake
		o.mu.Unlock()
		if m != nil {
			return m
		}
		select {
		case <-wake:
		case <-deadline.C:
			t.Fatalf("no output matching %q within %v; got:\n%s", expr, Wait, o.String())
		}
	}
}

// RunFunc is the run function of an example program.
type RunFunc func(ctx context.Context, args []string, stdout, stderr io.Writer) error

// Program is a run function started by Start.
type Program struct {
	Stdout, Stderr Output
	cancel         context.CancelFunc
	done           chan struct{}
	err            error
}

// Start calls run with args on a goroutine. The test's cleanup stops it.
func Start(t testing.TB, run RunFunc, args ...string) *Program {
	ctx, cancel := context.WithCancel(context.Background())
	p := &Program{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		p.err = run(ctx, args, &p.Stdout, &p.Stderr)
	}()
	t.Cleanup(func() { p.Stop(t) })
	return p
}

// Wait waits for run to return by itself and returns its error; it
// fails the test if that takes longer than Wait.
func (p *Program) Wait(t testing.TB) error {
	t.Helper()
	select {
	case <-p.done:
		return p.err
	case <-time.After(Wait):
		t.Fatalf("the program did not end within %v; stderr:\n%s", Wait, p.Stderr.String())
		return nil
	}
}

// Stop cancels run's context (an interrupt, for the program), waits for
// run to return and returns its error.
func (p *Program) Stop(t testing.TB) error {
	t.Helper()
	p.cancel()
	return p.Wait(t)
}

const childEnv = "LCSOCK_EXAMPLE_RUN_MAIN"

// RunChild runs main and exits, when this test binary was started by
// RunMain; otherwise it returns at once. Call it first in TestMain.
func RunChild(main func()) {
	if os.Getenv(childEnv) == "1" {
		main()
		os.Exit(0)
	}
}

// RunMain runs the test binary again as the program, with args, and
// returns its exit status, stdout and stderr.
func RunMain(t testing.TB, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Wait)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	// The race detector sleeps a second before a successful exit; skip that.
	gorace := strings.TrimSpace(os.Getenv("GORACE") + " atexit_sleep_ms=0")
	cmd.Env = append(os.Environ(), childEnv+"=1", "GORACE="+gorace)
	var out, errs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errs
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		code = exit.ExitCode()
	default:
		t.Fatalf("running %v: %v", args, err)
	}
	return code, out.String(), errs.String()
}

// CheckBadInput runs the program once for each of argLists, in parallel,
// and checks that each run exits with status 2, prints nothing to stdout
// and one line starting with "name: " to stderr.
func CheckBadInput(t *testing.T, name string, argLists [][]string) {
	for _, args := range argLists {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := RunMain(t, args...)
			if code != 2 || stdout != "" || !strings.HasPrefix(stderr, name+": ") || strings.Count(stderr, "\n") != 1 {
				t.Errorf("%q: want status 2, no stdout and one line on stderr; got status %d, stdout %q, stderr %q",
					args, code, stdout, stderr)
			}
		})
	}
}
