//go:build unix && !(darwin || dragonfly || freebsd || netbsd || openbsd)

package lcsock

// Linux lets client sockets share a local port with SO_REUSEADDR alone.
const soReusePort = 0
