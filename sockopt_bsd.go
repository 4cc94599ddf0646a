//go:build darwin || dragonfly || freebsd || netbsd || openbsd

package lcsock

import "syscall"

// BSD sockets need SO_REUSEPORT for two sockets to bind one address and port.
const soReusePort = syscall.SO_REUSEPORT
