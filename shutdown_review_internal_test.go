package lcsock

import (
	"context"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Shutdown returns its ctx's error when ctx ended before the events of
// the flush were delivered: Close, which ends Shutdown, drops them. The
// wait for delivery (drain) ended with ctx but Shutdown returned nil, as
// if every event had reached its handler (found in review C). Here a
// handler is still running when Shutdown begins with a ctx already
// ended, and an EventWritten waits behind it; the handler returns once
// the dispatcher is closed, so the event is dropped.
func TestShutdownCtxEndedBeforeEventsDelivered(t *testing.T) {
	for _, mode := range []DispatchMode{DispatchSerial, DispatchPumped} {
		t.Run([]string{"serial", "pumped"}[mode], func(t *testing.T) {
			var mu sync.Mutex
			var got []string
			inHandler := make(chan struct{})
			var disp *dispatcher
			h := HandlerFunc(func(ev Event) {
				mu.Lock()
				got = append(got, ev.Name)
				mu.Unlock()
				if ev.Name != "slow" {
					return
				}
				close(inHandler)
				deadline := time.Now().Add(5 * time.Second)
				for !disp.closed.Load() && time.Now().Before(deadline) {
					runtime.Gosched()
				}
			})
			reg, id, _ := openToPeer(t, Config{Handler: h, Dispatch: mode})
			disp = reg.disp
			s, err := reg.lookup("test", id)
			require.NoError(t, err)
			waitState(t, s, func() bool { return s.state == stateOpen })
			require.NoError(t, reg.WriteWithMessage(id, []byte("a"), nil, "slow"))
			require.NoError(t, reg.WriteWithMessage(id, []byte("b"), nil, "w"))
			require.NoError(t, reg.CloseSocket(id)) // flushed: nothing left for Shutdown to wait for
			select {
			case <-s.finished:
			case <-time.After(5 * time.Second):
				t.Fatal("the socket did not finish")
			}
			pumped := make(chan struct{})
			if mode == DispatchPumped {
				go func() {
					defer close(pumped)
					reg.Dispatch(context.Background())
				}()
			} else {
				close(pumped)
			}
			select {
			case <-inHandler: // "w" waits behind the running handler
			case <-time.After(5 * time.Second):
				t.Fatal("no event")
			}

			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			err = reg.Shutdown(ctx)
			<-pumped
			mu.Lock()
			defer mu.Unlock()
			require.Equal(t, []string{"slow"}, got, "the test expects w to be dropped")
			require.ErrorIs(t, err, context.Canceled, "w was dropped, yet Shutdown said all was done")
		})
	}
}
