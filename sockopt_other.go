//go:build !unix && !windows

package lcsock

import "syscall"

func reuseControl(network, address string, c syscall.RawConn) error { return nil }

type rawConn = syscall.RawConn

const reuseDatagramListener = false

const reuseAfterPick = false

func setDatagramOptions(c syscall.RawConn, reuse, broadcast bool) error { return nil }

func noReuse(c syscall.RawConn) error { return nil }
