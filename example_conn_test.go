package lcsock_test

import (
	"bufio"
	"context"
	"fmt"
	"net"

	"github.com/lcsock/lcsock"
)

func ExampleRegistry_Conn() {
	addr, stop := echoPeer()
	defer stop()
	reg, _ := lcsock.NewRegistry(lcsock.Config{})
	defer reg.Close()
	reg.Open(addr, nil)

	// Hand the LiveCode-style socket to code that speaks net.Conn.
	conn, err := reg.Conn(addr)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Fprintf(conn, "hello over %s\n", "bufio")
	line, err := bufio.NewReader(conn).ReadString('\n')
	fmt.Printf("%q %v\n", line, err)
	// Output:
	// "hello over bufio\n" <nil>
}

func ExampleRegistry_Adopt() {
	reg, _ := lcsock.NewRegistry(lcsock.Config{})
	defer reg.Close()

	// A connection made elsewhere — here one end of a pipe — becomes a
	// socket with every verb and event.
	mine, theirs := net.Pipe()
	defer theirs.Close()
	id, err := reg.Adopt("pipe:1|demo", mine, nil, lcsock.Buffered([]byte("already read\n")))
	if err != nil {
		fmt.Println(err)
		return
	}
	go theirs.Write([]byte("then sent\n"))
	ctx := context.Background()
	first, _ := reg.Read(ctx, id, lcsock.Until("\n"))
	second, _ := reg.Read(ctx, id, lcsock.Until("\n"))
	fmt.Printf("%s %q %q\n", id, first, second)
	// Output:
	// pipe:1|demo "already read\n" "then sent\n"
}
