package lcsock_test

import (
	"context"
	"errors"
	"io"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lcsock/lcsock"
	"github.com/stretchr/testify/require"
)

// Concurrent blocking reads of a stream the peer then closes lose no
// line and see each once: what was buffered before the end is delivered.
func TestSweepHReadsLoseNothingAtPeerClose(t *testing.T) {
	for range 10 {
		p := newPeer(t)
		reg, rec := newReg(t, lcsock.Config{})
		id := p.id("drain")
		c := openConnected(t, reg, rec, p, id)
		var want []string
		var sb strings.Builder
		for i := range 300 {
			l := "line" + itoa(i) + "\n"
			want = append(want, l)
			sb.WriteString(l)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		var mu sync.Mutex
		var got []string
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					d, err := reg.Read(ctx, id, lcsock.Until("\n"))
					mu.Lock()
					if len(d) > 0 {
						got = append(got, string(d))
					}
					mu.Unlock()
					if err != nil {
						if !errors.Is(err, io.EOF) && !errors.Is(err, lcsock.ErrSocketNotOpen) && !errors.Is(err, lcsock.ErrClosed) {
							t.Errorf("read: %v", err)
						}
						return
					}
				}
			}()
		}
		go func() { c.Write([]byte(sb.String())); c.Close() }()
		wg.Wait()
		cancel()
		sort.Strings(got)
		sort.Strings(want)
		require.Equal(t, want, got)
		reg.Close()
	}
}
