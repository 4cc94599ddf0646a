package lcsock_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"math/rand/v2"
	"net"
	"testing"
	"time"

	"github.com/lcsock/lcsock"
	"github.com/stretchr/testify/require"
)

// randomStream returns n pseudo-random bytes with a newline now and then.
func randomStream(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.IntN(256))
		if b[i] == '\n' && r.IntN(4) != 0 {
			b[i] = 'x' // lines of a few hundred bytes on average
		}
	}
	return b
}

// TestLendReadDataIntegrity streams 8 MiB in uneven pieces to sockets
// whose read events lend lcsock's buffer, and checks every byte arrives
// once, in order, for each kind of read.
func TestLendReadDataIntegrity(t *testing.T) {
	want := randomStream(8<<20, 1)
	sum := sha256.Sum256(want)
	specs := map[string]lcsock.ReadSpec{
		"available": lcsock.Available(),
		"until":     lcsock.Until("\n"),
		"for":       lcsock.For(1000, lcsock.Chars),
		"lines":     lcsock.For(3, lcsock.Lines),
	}
	for name, spec := range specs {
		t.Run(name, func(t *testing.T) {
			h := sha256.New()
			streamReads(t, lcsock.Config{LendReadData: true}, spec, want, func(data []byte) { h.Write(data) })
			require.Equal(t, sum[:], h.Sum(nil))
		})
	}
}

// streamReads writes want in uneven pieces from a plain peer to a socket
// of a registry made with cfg that chains reads of spec, passing each
// event's Data to each. It fails t unless all of want arrives.
func streamReads(t *testing.T, cfg lcsock.Config, spec lcsock.ReadSpec, want []byte, each func(data []byte)) {
	t.Helper()
	reg, _ := newReg(t, cfg)
	p := newPeer(t)
	id := p.id("stream")
	var got int
	done := make(chan error, 1)
	var handler lcsock.Handler
	handler = lcsock.HandlerFunc(func(ev lcsock.Event) {
		each(ev.Data)
		got += len(ev.Data)
		if ev.EOF || got >= len(want) {
			done <- ev.Err
			return
		}
		if err := reg.ReadWithMessage(id, spec, handler, "data"); err != nil {
			done <- err
		}
	})
	require.NoError(t, reg.Open(id, nil))
	require.NoError(t, reg.ReadWithMessage(id, spec, handler, "data"))
	go writeUneven(p.accept(), want, 2)
	select {
	case <-done:
	case <-time.After(4 * wait):
		t.Fatalf("%d of %d bytes", got, len(want))
	}
	require.Equal(t, len(want), got)
}

// TestLendReadDataWhileQueued checks lent data stays intact while its
// event waits in a pumped queue and more input keeps arriving.
func TestLendReadDataWhileQueued(t *testing.T) {
	reg, _ := newReg(t, lcsock.Config{LendReadData: true, Dispatch: lcsock.DispatchPumped})
	p := newPeer(t)
	id := p.id("")
	var got [][]byte
	h := lcsock.HandlerFunc(func(ev lcsock.Event) {
		got = append(got, bytes.Clone(ev.Data))
	})
	require.NoError(t, reg.Open(id, nil))
	const reads = 64
	for range reads {
		require.NoError(t, reg.ReadWithMessage(id, lcsock.For(4096, lcsock.Chars), h, "chunk"))
	}
	c := p.accept()
	want := randomStream(reads*4096+200_000, 3)
	go func() {
		c.Write(want)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 4*wait)
	defer cancel()
	for len(got) < reads {
		_, err := reg.Dispatch(ctx)
		require.NoError(t, err)
	}
	require.Equal(t, want[:reads*4096], bytes.Join(got, nil))
	// The rest is still readable, after the lent chunks.
	rest, err := reg.Read(ctx, id, lcsock.For(200_000, lcsock.Chars))
	require.NoError(t, err)
	require.Equal(t, want[reads*4096:], rest)
}

// TestReadDataIsOwned: in the default mode a handler owns each read's
// Data. Handlers keep every Data and append to it; at the end of 8 MiB
// each kept slice must still hold exactly the bytes it arrived with,
// whatever lcsock did with its read buffer meanwhile.
func TestReadDataIsOwned(t *testing.T) {
	want := randomStream(8<<20, 3)
	specs := map[string]lcsock.ReadSpec{
		"available": lcsock.Available(),
		"for":       lcsock.For(40_000, lcsock.Chars),
		"uint4s":    lcsock.For(6000, lcsock.UInt4),
		"until":     lcsock.Until("\n"),
	}
	for name, spec := range specs {
		t.Run(name, func(t *testing.T) {
			var kept [][]byte
			streamReads(t, lcsock.Config{}, spec, want, func(data []byte) {
				kept = append(kept, data)
				// The handler owns Data: growing it must not write over
				// input that follows it in lcsock's buffer.
				_ = append(data, bytes.Repeat([]byte{0xEE}, 100)...)
			})
			require.True(t, bytes.Equal(want, bytes.Join(kept, nil)), "kept Data changed after its event")
		})
	}
	t.Run("blocking", func(t *testing.T) {
		reg, _ := newReg(t, lcsock.Config{})
		p := newPeer(t)
		id := p.id("give")
		require.NoError(t, reg.Open(id, nil))
		c := p.accept()
		go writeUneven(c, want, 5)
		var kept [][]byte
		got := 0
		for got < len(want) {
			data, err := reg.Read(ctxWait(t), id, lcsock.For(50_000, lcsock.Chars))
			kept = append(kept, data)
			got += len(data)
			if err != nil {
				break
			}
		}
		require.True(t, bytes.Equal(want, bytes.Join(kept, nil)), "kept Data changed after Read returned")
	})
}

// writeUneven writes data to c in pieces of random size, then closes c.
func writeUneven(c net.Conn, data []byte, seed uint64) {
	r := rand.New(rand.NewPCG(seed, seed))
	for len(data) > 0 {
		n := min(len(data), 1+r.IntN(100_000))
		if _, err := c.Write(data[:n]); err != nil {
			return
		}
		data = data[n:]
	}
	c.Close()
}
