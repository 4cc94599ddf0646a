package lcsock_test

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"
	"testing/iotest"

	"github.com/lcsock/lcsock"
)

// Data read from a socket keeps the line ends the peer sent. ToLF turns
// them into the line feeds LiveCode uses for lines (its return constant).
func ExampleToLF() {
	reply := []byte("HTTP/1.1 200 OK\r\nServer: demo\r\n\r\n")
	fmt.Printf("%q\n", lcsock.ToLF(reply))
	// Output: "HTTP/1.1 200 OK\nServer: demo\n\n"
}

// Text meant for a peer that expects CRLF, converted before it is written.
func ExampleConvertString() {
	fmt.Printf("%q\n", lcsock.ConvertString("USER anonymous\nPASS guest\n", lcsock.CRLF))
	// Output: "USER anonymous\r\nPASS guest\r\n"
}

// The chunks of successive reads, converted one at a time. The CRLF split
// between the first two chunks is one line end: its CR is converted at
// once and the LF that starts the next chunk is dropped.
func ExampleEOLConverter() {
	c := lcsock.NewEOLConverter(lcsock.LF)
	var line []byte
	for _, chunk := range []string{"one\r", "\ntwo\r\nthr", "ee\r"} {
		line = c.Append(line[:0], []byte(chunk))
		fmt.Printf("%q -> %q\n", chunk, line)
	}
	// Output:
	// "one\r" -> "one\n"
	// "\ntwo\r\nthr" -> "two\nthr"
	// "ee\r" -> "ee\n"
}

// A source with mixed line ends that arrives one byte at a time, read line
// by line. bufio.ScanLines alone would not split at the lone CR.
func ExampleNewEOLReader() {
	src := iotest.OneByteReader(strings.NewReader("alpha\r\nbeta\rgamma\n"))
	sc := bufio.NewScanner(lcsock.NewEOLReader(src, lcsock.LF))
	for sc.Scan() {
		fmt.Printf("%q\n", sc.Text())
	}
	if err := sc.Err(); err != nil {
		fmt.Println(err)
	}
	// Output:
	// "alpha"
	// "beta"
	// "gamma"
}

// Lines written with LF go out with CRLF; a CRLF already in the data, even
// split between two Writes, is not doubled.
func ExampleNewEOLWriter() {
	var wire bytes.Buffer
	w := lcsock.NewEOLWriter(&wire, lcsock.CRLF)
	fmt.Fprint(w, "HELO example.org\n")
	fmt.Fprint(w, "QUIT\r")
	fmt.Fprint(w, "\n")
	fmt.Printf("%q\n", wire.String())
	// Output: "HELO example.org\r\nQUIT\r\n"
}
