package lcsock

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// With InputEOL, the LF of a CRLF split across two reads converts to
// nothing; it still arrived, so it moves the read's timeout clock (the
// deadline moves forward whenever bytes arrive) as any other byte does.
// The reader took only converted bytes as progress: a peer sending CR
// and LF apart could get a socketTimeout, or a blocking Read ErrTimeout,
// while bytes kept coming (review RP).
func TestInputEOLDroppedLFCountsAsProgress(t *testing.T) {
	reg, id, c := openToPeer(t, Config{}, InputEOL(LF))
	s, err := reg.lookup("test", id)
	require.NoError(t, err)
	require.NoError(t, reg.ReadWithMessage(id, For(10, Chars), nil, "r"))

	_, err = c.Write([]byte("ab\r"))
	require.NoError(t, err)
	waitState(t, s, func() bool { return s.bytesIn == 3 })
	s.mu.Lock()
	recv, mark := s.lastRecv, s.readMark
	s.mu.Unlock()

	_, err = c.Write([]byte("\n")) // the second half of the CRLF: converted to nothing
	require.NoError(t, err)
	waitState(t, s, func() bool { return s.bytesIn == 4 })
	s.mu.Lock()
	defer s.mu.Unlock()
	require.True(t, s.lastRecv.After(recv), "the LF did not count as a byte received")
	require.True(t, s.readMark.After(mark), "the LF did not move the pending read's timeout clock")
	require.Equal(t, "ab\n", string(s.unread()))
}
