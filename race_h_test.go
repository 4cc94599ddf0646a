package lcsock_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/lcsock/lcsock"
	"github.com/stretchr/testify/require"
)

// Every verb racing with CloseSocket or Close returns (no hang), does not
// panic, and fails only with a documented error.
func TestSweepHRaceClose(t *testing.T) {
	for _, viaClose := range []bool{false, true} {
		for iter := range 20 {
			t.Run(fmt.Sprintf("close=%v/%d", viaClose, iter), func(t *testing.T) {
				p := newPeer(t)
				reg, rec := newReg(t, lcsock.Config{})
				id := p.id("race")
				c := openConnected(t, reg, rec, p, id)
				c.Write([]byte("hello\nworld\n"))
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				verbs := []func() error{
					func() error { _, err := reg.Read(ctx, id, lcsock.Until("\n")); return err },
					func() error { _, err := reg.Read(ctx, id, lcsock.For(100, lcsock.Chars)); return err },
					func() error { _, err := reg.Write(ctx, id, []byte("x")); return err },
					func() error { return reg.WriteWithMessage(id, []byte("y"), nil, "w") },
					func() error { return reg.ReadWithMessage(id, lcsock.Until("\n"), nil, "r") },
					func() error { _, err := reg.Stats(id); return err },
					func() error { _, err := reg.TLSState(id); return err },
					func() error { _, err := reg.PeerAddress(id); return err },
					func() error { return reg.CloseWrite(id) },
					func() error { return reg.Secure(id, lcsock.Verify(false)) },
					func() error {
						cv, err := reg.Conn(id)
						if err != nil {
							return err
						}
						cv.SetDeadline(time.Now().Add(time.Second))
						_, err = cv.Read(make([]byte, 4))
						return err
					},
					func() error { return reg.CloseSocket(id) },
				}
				var wg sync.WaitGroup
				errs := make(chan error, len(verbs)*4)
				start := make(chan struct{})
				for _, v := range verbs {
					wg.Add(1)
					go func() {
						defer wg.Done()
						defer func() {
							if x := recover(); x != nil {
								errs <- fmt.Errorf("PANIC %v", x)
							}
						}()
						<-start
						errs <- v()
					}()
				}
				close(start)
				if viaClose {
					require.NoError(t, reg.Close())
				} else {
					reg.CloseSocket(id)
				}
				done := make(chan struct{})
				go func() { wg.Wait(); close(done) }()
				select {
				case <-done:
				case <-time.After(3 * time.Second):
					t.Fatal("a verb hangs")
				}
				close(errs)
				for err := range errs {
					if err == nil || errors.Is(err, lcsock.ErrClosed) || errors.Is(err, lcsock.ErrSocketNotOpen) ||
						errors.Is(err, lcsock.ErrNotAnOpenSocket) || errors.Is(err, lcsock.ErrNotSecure) ||
						errors.Is(err, io.EOF) || errors.Is(err, lcsock.ErrHandshake) {
						if errors.Is(err, lcsock.ErrClosed) {
							require.ErrorIs(t, err, net.ErrClosed)
						}
						continue
					}
					t.Errorf("unexpected error: %v", err)
				}
			})
		}
	}
}

// After Close, PeerAddress and HostAddress fail as every verb does, with
// an error wrapping ErrClosed and net.ErrClosed, keeping LiveCode's text
// (review H: they gave the bare ErrNotAnOpenSocket).
func TestAddressAfterCloseWrapsErrClosed(t *testing.T) {
	p := newPeer(t)
	reg, rec := newReg(t, lcsock.Config{})
	id := p.id("addr")
	openConnected(t, reg, rec, p, id)
	require.NoError(t, reg.Close())
	for _, f := range []func(string) (string, error){reg.PeerAddress, reg.HostAddress} {
		_, err := f(id)
		require.ErrorIs(t, err, lcsock.ErrClosed)
		require.ErrorIs(t, err, net.ErrClosed)
		require.ErrorIs(t, err, lcsock.ErrNotAnOpenSocket)
		require.Equal(t, "not an open socket", err.Error())
	}
	reg2, _ := newReg(t, lcsock.Config{})
	_, err := reg2.PeerAddress(id)
	require.Equal(t, lcsock.ErrNotAnOpenSocket, err)
}
