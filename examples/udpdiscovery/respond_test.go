package main

import (
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A seeker that asks several times in a row (a retry, say) gets an
// answer to each question: closing the sender's socket after an answer
// must not lose the answers to questions already received.
// (respond used to close the sender's socket after each answer, and the
// events already queued for that sender then named a closed socket.)
func TestRespondAnswersEveryQuestion(t *testing.T) {
	r, port := responder(t, "-port", "0", "-name", "alpha")
	c, err := net.Dial("udp", "127.0.0.1:"+port)
	require.NoError(t, err)
	defer c.Close()
	const n = 20
	for range n {
		_, err := c.Write([]byte("WHO?"))
		require.NoError(t, err)
	}
	buf := make([]byte, 64)
	for i := range n {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		m, err := c.Read(buf)
		require.NoError(t, err, "answer %d of %d", i+1, n)
		require.Equal(t, "HERE alpha "+port, string(buf[:m]))
	}
	require.NoError(t, r.Stop(t))
}
