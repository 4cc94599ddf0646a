// Command lua runs a Lua script (gopher-lua) with LiveCode-style sockets
// from lcsock installed as the global table socket (see package lcsocklua).
//
//	go run .                    run the embedded demo: an echo server and client over loopback
//	go run . script.lua [args]  run script.lua; its arguments are in the global table arg
//
// The script's print output goes to stdout, status and errors to stderr.
// It exits with status 1 when the script fails and 2 when it cannot be
// read.
package main

import (
	"context"
	_ "embed"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"

	"github.com/lcsock/lcsock"
	"github.com/lcsock/lcsock/examples/lua/lcsocklua"
	lua "github.com/yuin/gopher-lua"
)

//go:embed demo.lua
var demoScript string

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run runs the script named by args[0], or the demo, and returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	name, src := "demo.lua", demoScript
	if len(args) > 0 {
		b, err := os.ReadFile(args[0])
		if err != nil {
			fmt.Fprintf(stderr, "lua: %v\n", err)
			return 2
		}
		name, src = args[0], string(b)
	}

	// One registry per interpreter, in pumped mode: callbacks run only
	// when the script calls socket.wait, on this goroutine.
	reg, err := lcsock.NewRegistry(lcsock.Config{Dispatch: lcsock.DispatchPumped})
	if err != nil {
		fmt.Fprintf(stderr, "lua: %v\n", err)
		return 1
	}
	defer reg.Close() // closes every socket the script left open

	L := lua.NewState()
	defer L.Close()
	L.SetContext(ctx) // an interrupt stops the script, even inside socket.wait or a blocking read
	L.SetGlobal("print", L.NewFunction(printTo(stdout)))
	argt := L.NewTable()
	for i, a := range args {
		argt.RawSetInt(i, lua.LString(a))
	}
	L.SetGlobal("arg", argt)
	if _, err := lcsocklua.Open(L, reg); err != nil {
		fmt.Fprintf(stderr, "lua: %v\n", err)
		return 1
	}

	fmt.Fprintf(stderr, "lua: running %s\n", name)
	fn, err := L.Load(strings.NewReader(src), name)
	if err != nil {
		fmt.Fprintf(stderr, "lua: %v\n", err)
		return 1
	}
	L.Push(fn)
	if err := L.PCall(0, 0, nil); err != nil {
		fmt.Fprintf(stderr, "lua: %v\n", err)
		return 1
	}
	if open := reg.OpenSockets(); len(open) > 0 {
		fmt.Fprintf(stderr, "lua: closing the sockets %s left open: %s\n", name, strings.Join(open, ", "))
	}
	fmt.Fprintf(stderr, "lua: %s finished\n", name)
	return 0
}

// printTo is Lua's print writing to w: its arguments converted with
// tostring, separated by tabs, and a line end.
func printTo(w io.Writer) lua.LGFunction {
	return func(L *lua.LState) int {
		var b strings.Builder
		for i := 1; i <= L.GetTop(); i++ {
			if i > 1 {
				b.WriteByte('\t')
			}
			b.WriteString(L.ToStringMeta(L.Get(i)).String())
		}
		b.WriteByte('\n')
		io.WriteString(w, b.String())
		return 0
	}
}
