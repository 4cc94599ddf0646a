//go:build unix && !darwin

package lcsock

// Linux lets client sockets share a local port with SO_REUSEADDR alone.
const soReusePort = 0
