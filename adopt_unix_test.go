//go:build unix

package lcsock_test

import (
	"crypto/tls"
	"net"
	"syscall"
	"testing"

	"github.com/lcsock/lcsock"
	"github.com/stretchr/testify/require"
)

// KeepAlive and NoDelay, documented options of Adopt, apply to an adopted
// *tls.Conn's TCP connection too.
func TestAdoptTLSOptions(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	acc := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		acc <- c
	}()
	raw, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	srv := <-acc
	defer srv.Close()
	tc := tls.Client(raw, &tls.Config{InsecureSkipVerify: true})
	reg, _ := newReg(t, lcsock.Config{})
	_, err = reg.Adopt("", tc, nil, lcsock.NoDelay(false))
	require.NoError(t, err)
	rc, err := raw.(*net.TCPConn).SyscallConn()
	require.NoError(t, err)
	var v int
	var gerr error
	require.NoError(t, rc.Control(func(fd uintptr) {
		v, gerr = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_NODELAY)
	}))
	require.NoError(t, gerr)
	require.Zero(t, v, "NoDelay(false) on an adopted *tls.Conn")
}
