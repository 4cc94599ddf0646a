package lcsock

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Findings of the session-6 review in the write path, with the race
// windows forced.

// A blocking Write whose caller gave up (its ctx ended) while its bytes
// were being sent returns the caller's error, even when the socket is
// closed or fails before the writer is back from the write: the close
// replaced the error with ErrClosed, or the failure's (found in review).
func TestCancelledWriteKeepsItsError(t *testing.T) {
	for _, end := range []string{"closed", "failed"} {
		t.Run(end, func(t *testing.T) {
			reg, id, _ := openToPeer(t, Config{}) // the peer reads nothing
			s, err := reg.lookup("test", id)
			require.NoError(t, err)
			res := make(chan error, 1)
			go func() {
				_, err := reg.Write(context.Background(), id, make([]byte, 32<<20))
				res <- err
			}()
			var w *writeReq
			waitState(t, s, func() bool {
				if len(s.writes) == 1 && s.writing && s.writes[0].blocking {
					w = s.writes[0]
				}
				return w != nil
			})
			s.mu.Lock()
			// What Write does when its ctx ends: the write is being sent,
			// so the writer is to report the error...
			require.False(t, s.cancelWrite(w, &OpError{Op: "write", Socket: id, Err: context.Canceled}))
			// ...but the socket ends first.
			switch end {
			case "closed": // as Registry.Close's abort does
				s.state = stateClosing
				s.finish()
			case "failed": // as a reset seen by the reader does
				s.fail(&OpError{Op: "read", Socket: id, Err: syscall.ECONNRESET})
			}
			s.mu.Unlock()
			select {
			case err := <-res:
				require.ErrorIs(t, err, context.Canceled)
			case <-time.After(5 * time.Second):
				t.Fatal("the Write never returned")
			}
		})
	}
}
