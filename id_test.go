package lcsock

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

func TestParseID(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		host   string
		port   int
		label  string
		err    error  // ErrBadID or ErrInvalidPort; nil for success
		reason string // substring of the error text
	}{
		// Valid IDs.
		{name: "host and port", in: "example.org:8080", host: "example.org", port: 8080},
		{name: "case 4: no port means 80", in: "localhost", host: "localhost", port: 80},
		{name: "case 4: no port with label", in: "localhost|x", host: "localhost", port: 80, label: "x"},
		{name: "case 5: service name", in: "127.0.0.1:http", host: "127.0.0.1", port: 80},
		{name: "case 5: service https", in: "127.0.0.1:https", host: "127.0.0.1", port: 443},
		{name: "service with dash", in: "h:ftp-data", host: "h", port: 20},
		{name: "case 9: label with colon", in: "127.0.0.1:8080|x:y", host: "127.0.0.1", port: 8080, label: "x:y"},
		{name: "label with bar", in: "a:80|b|c", host: "a", port: 80, label: "b|c"},
		{name: "empty label", in: "a:80|", host: "a", port: 80},
		{name: "label with anything", in: "a:1|[::1]: \x00\xff", host: "a", port: 1, label: "[::1]: \x00\xff"},
		{name: "leading zeros", in: "a:0080", host: "a", port: 80},
		{name: "max port", in: "a:65535", host: "a", port: 65535},
		{name: "port zero", in: "a:0", host: "a", port: 0},
		{name: "ipv6 with port and label", in: "[::1]:80|n", host: "::1", port: 80, label: "n"},
		{name: "ipv6 no port", in: "[::1]", host: "::1", port: 80},
		{name: "ipv6 no port with label", in: "[::1]|n", host: "::1", port: 80, label: "n"},
		{name: "ipv6 zone", in: "[fe80::1%eth0]:22", host: "fe80::1%eth0", port: 22},
		{name: "ipv4-mapped ipv6", in: "[::ffff:1.2.3.4]:9", host: "::ffff:1.2.3.4", port: 9},
		{name: "non-ASCII host", in: "bücher.example:80", host: "bücher.example", port: 80},
		{name: "underscore", in: "_srv.example:80", host: "_srv.example", port: 80},
		{name: "mixed case kept", in: "LocalHost:80|Name", host: "LocalHost", port: 80, label: "Name"},

		// Bad IDs.
		{name: "empty", in: "", err: ErrBadID, reason: "empty host"},
		{name: "empty host", in: ":80", err: ErrBadID, reason: "empty host"},
		{name: "empty host with label", in: "|x", err: ErrBadID, reason: "empty host"},
		{name: "missing bracket", in: "[::1:80", err: ErrBadID, reason: "missing ']'"},
		{name: "junk after bracket", in: "[::1]x", err: ErrBadID, reason: "after ']'"},
		{name: "junk after bracket port", in: "[::1]80", err: ErrBadID, reason: "after ']'"},
		{name: "ipv4 in brackets", in: "[1.2.3.4]:80", err: ErrBadID, reason: "not an IPv6 address"},
		{name: "name in brackets", in: "[localhost]:80", err: ErrBadID, reason: "not an IPv6 address"},
		{name: "empty brackets", in: "[]:80", err: ErrBadID, reason: "not an IPv6 address"},
		{name: "bad zone", in: "[fe80::1%a b]:80", err: ErrBadID, reason: "zone"},
		{name: "unbracketed ipv6", in: "::1:80", err: ErrBadID, reason: "IPv6 addresses must be in brackets"},
		{name: "unbracketed ipv6 no port", in: "fe80::1", err: ErrBadID, reason: "IPv6 addresses must be in brackets"},
		{name: "space in host", in: "a b:80", err: ErrBadID, reason: "invalid character"},
		{name: "leading space", in: " a:80", err: ErrBadID, reason: "invalid character"},
		{name: "control char", in: "a\tb:80", err: ErrBadID, reason: "invalid character"},
		{name: "slash", in: "a/b:80", err: ErrBadID, reason: "invalid character"},
		{name: "at sign", in: "user@a:80", err: ErrBadID, reason: "invalid character"},
		{name: "stray bracket", in: "a]:80", err: ErrBadID, reason: "invalid character"},
		{name: "percent", in: "a%b:80", err: ErrBadID, reason: "invalid character"},
		{name: "non-ASCII space", in: "a\u00a0b:80", err: ErrBadID, reason: "invalid character"},
		{name: "invalid UTF-8", in: "a\xffb:80", err: ErrBadID, reason: "invalid UTF-8"},

		// Bad ports.
		{name: "empty port", in: "host:", err: ErrInvalidPort},
		{name: "case 5: service names are case-sensitive", in: "127.0.0.1:HTTP", err: ErrInvalidPort},
		{name: "case 6: port too big", in: "host:99999", err: ErrInvalidPort},
		{name: "case 6: port 70000", in: "host:70000", err: ErrInvalidPort},
		{name: "port 65536", in: "a:65536", err: ErrInvalidPort},
		{name: "huge port", in: "a:99999999999999999999999", err: ErrInvalidPort},
		{name: "case 7: negative port", in: "host:-1", err: ErrInvalidPort},
		{name: "case 7: word port", in: "host:abc", err: ErrInvalidPort},
		{name: "plus sign", in: "host:+80", err: ErrInvalidPort},
		{name: "hex port", in: "host:0x50", err: ErrInvalidPort},
		{name: "space in port", in: "host: 80", err: ErrInvalidPort},
		{name: "ipv6 empty port", in: "[::1]:", err: ErrInvalidPort},
		{name: "ipv6 bad port", in: "[::1]:x|n", err: ErrInvalidPort},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := ParseID(tt.in)
			if tt.err == nil {
				require.NoError(t, err)
				require.Equal(t, tt.host, id.Host)
				require.Equal(t, tt.port, id.Port)
				require.Equal(t, tt.label, id.Name)
				require.Equal(t, tt.in, id.String())
				require.False(t, id.IsZero())
				return
			}
			require.Error(t, err)
			require.True(t, id.IsZero())
			require.ErrorIs(t, err, tt.err)
			var oe *OpError
			require.ErrorAs(t, err, &oe)
			require.Equal(t, "parse", oe.Op)
			require.Equal(t, tt.in, oe.Socket)
			require.Contains(t, err.Error(), tt.reason)
			if tt.err == ErrInvalidPort {
				require.Equal(t, "not a valid port", ErrorText(err))
				require.NotErrorIs(t, err, ErrBadID)
			} else {
				require.NotErrorIs(t, err, ErrInvalidPort)
			}
		})
	}
}

func TestMakeID(t *testing.T) {
	tests := []struct {
		name       string
		host       string
		port       int
		label      string
		str, addr  string
		parseAgain bool
	}{
		{name: "ipv4", host: "127.0.0.1", port: 80, str: "127.0.0.1:80", addr: "127.0.0.1:80"},
		{name: "ipv4 label", host: "127.0.0.1", port: 8080, label: "x:y", str: "127.0.0.1:8080|x:y", addr: "127.0.0.1:8080"},
		{name: "host name", host: "example.org", port: 443, label: "a|b", str: "example.org:443|a|b", addr: "example.org:443"},
		{name: "non-ASCII", host: "bücher.example", port: 1, str: "bücher.example:1", addr: "xn--bcher-kva.example:1"}, // Addr is the IDNA form
		{name: "ipv6", host: "::1", port: 0, label: "n", str: "[::1]:0|n", addr: "[::1]:0"},
		{name: "ipv6 zone", host: "fe80::1%eth0", port: 22, str: "[fe80::1%eth0]:22", addr: "[fe80::1%eth0]:22"},
		{name: "ipv4-mapped", host: "::ffff:10.0.0.1", port: 65535, str: "[::ffff:10.0.0.1]:65535", addr: "[::ffff:10.0.0.1]:65535"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := MakeID(tt.host, tt.port, tt.label)
			require.Equal(t, tt.str, id.String())
			require.Equal(t, tt.addr, id.Addr())
			require.False(t, id.IsZero())

			back, err := ParseID(id.String())
			require.NoError(t, err)
			require.Equal(t, tt.host, back.Host)
			require.Equal(t, tt.port, back.Port)
			require.Equal(t, tt.label, back.Name)
			require.Equal(t, id.String(), back.String())
			require.Equal(t, id.Addr(), back.Addr())
		})
	}
	require.True(t, ID{}.IsZero())
}

func TestIDString(t *testing.T) {
	// A parsed ID prints as written, not in canonical form.
	id, err := ParseID("LOCALHOST:http|Name")
	require.NoError(t, err)
	require.Equal(t, "LOCALHOST:http|Name", id.String())
	require.Equal(t, "LOCALHOST:80", id.Addr())
	require.Equal(t, "LOCALHOST:80|Name", MakeID(id.Host, id.Port, id.Name).String())
}

func TestIDKey(t *testing.T) {
	tests := []struct{ a, b string }{
		{"LocalHost:80|Name", "localhost:80|name"},
		{"[FE80::1]:80", "[fe80::1]:80"},
	}
	for _, tt := range tests {
		require.Equal(t, idKey(tt.a), idKey(tt.b))
	}
	// The whole ID is compared: no partial or normalised matching.
	require.NotEqual(t, idKey("localhost"), idKey("localhost:80"))
	require.NotEqual(t, idKey("localhost:80"), idKey("localhost:http"))
	require.NotEqual(t, idKey("localhost:80|a"), idKey("localhost:80"))
}

func TestParsePort(t *testing.T) {
	tests := []struct {
		in   string
		want int
		ok   bool
	}{
		{"0", 0, true},
		{"80", 80, true},
		{"00000000000000000000080", 80, true},
		{"65535", 65535, true},
		{"65536", 0, false},
		{"http", 80, true},
		{"www", 80, true},
		{"echo", 7, true},
		{"pop-3", 110, true},
		{"snmp", 161, true},
		{"HTTP", 0, false},
		{"Http", 0, false},
		{"", 0, false},
		{"-1", 0, false},
		{"+1", 0, false},
		{" 1", 0, false},
		{"1 ", 0, false},
		{"0x10", 0, false},
		{"١٢", 0, false}, // non-ASCII digits
		{"unknown", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parsePort(tt.in)
			if !tt.ok {
				require.ErrorIs(t, err, ErrInvalidPort)
				require.Equal(t, "not a valid port", err.Error())
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestParseLocal(t *testing.T) {
	tests := []struct {
		in    string
		host  string
		port  int
		bad   bool
		port2 bool // the error also wraps ErrInvalidPort
	}{
		{in: "", host: "", port: 0},
		{in: ":", host: "", port: 0},
		{in: ":8000", host: "", port: 8000},
		{in: ":http", host: "", port: 80},
		{in: "127.0.0.1", host: "127.0.0.1", port: 0},
		{in: "127.0.0.1:", host: "127.0.0.1", port: 0},
		{in: "127.0.0.1:0080", host: "127.0.0.1", port: 80},
		{in: "localhost:5000", host: "localhost", port: 5000},
		{in: "[::1]:0", host: "::1", port: 0},
		{in: "[::1]", host: "::1", port: 0},
		{in: "[::1]:", host: "::1", port: 0},
		{in: "[fe80::1%eth0]:9", host: "fe80::1%eth0", port: 9},
		{in: "127.0.0.1:8000|x", bad: true},
		{in: "|", bad: true},
		{in: "::1", bad: true},
		{in: "[::1", bad: true},
		{in: "[::1]x", bad: true},
		{in: "[1.2.3.4]", bad: true},
		{in: "[]", bad: true},
		{in: "a b", bad: true},
		{in: "a/b:1", bad: true},
		{in: "127.0.0.1:70000", bad: true, port2: true},
		{in: ":HTTP", bad: true, port2: true},
		{in: ":-1", bad: true, port2: true},
		{in: "[::1]:x", bad: true, port2: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			host, port, err := parseLocal(tt.in)
			if tt.bad {
				require.ErrorIs(t, err, ErrLocalAddress)
				require.Equal(t, tt.port2, errors.Is(err, ErrInvalidPort))
				var oe *OpError
				require.False(t, errors.As(err, &oe), "parseLocal must not return an *OpError")
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.host, host)
			require.Equal(t, tt.port, port)
		})
	}
}

func TestSplitHostName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"localhost:80|x", "localhost"},
		{"localhost|x:y", "localhost"},
		{"localhost", "localhost"},
		{"example.org", "example.org"},
		{"example.org:http", "example.org"},
		{"[::1]:80", "::1"},
		{"[::1]", "::1"},
		{"[::1]|n", "::1"},
		{"[fe80::1%eth0]:80|a:b", "fe80::1%eth0"},
		{"::1", "::1"},
		{"fe80::1|x", "fe80::1"},
		{"127.0.0.1:8080|x", "127.0.0.1"},
		{"", ""},
		{":80", ""},
		{"|x", ""},
		{"[::1", ""},
		{"[", ""},
		// Not an IPv6 literal in brackets: left for the host check to refuse.
		{"[localhost]:80", "[localhost]:80"},
		{"[::1]junk|x", "[::1]junk"},
		{"[]", "[]"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			require.Equal(t, tt.want, splitHostName(tt.in))
		})
	}
}

func FuzzParseID(f *testing.F) {
	for _, s := range []string{
		"", "localhost", "localhost:80", "127.0.0.1:http", "127.0.0.1:HTTP",
		"127.0.0.1:8080|x:y", "a:80|b|c", "a:80|", "[::1]:80|n", "[::1]",
		"[::1:80", "::1:80", "[fe80::1%eth0]:22", "a:0080", "a:65536",
		"host:-1", "bücher.example:1|ü", "a\xff:1", "[::ffff:1.2.3.4]",
		"a。b.example", "Col·legi.cat", "♥.example:1", "xn--ab-r13a.example", "bü_cher.",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		// The registry's key: any string, ID or not, as strings.ToLower
		// has it when it is UTF-8; bytes that are not are kept.
		if key := idKey(s); utf8.ValidString(s) && key != strings.ToLower(s) {
			t.Fatalf("idKey(%q) = %q, want %q", s, key, strings.ToLower(s))
		} else if len(key) == 0 != (len(s) == 0) || !SameID(s, s) {
			t.Fatalf("idKey(%q) = %q", s, key)
		} else if again := idKey(key); again != key {
			// Registry.lookup looks an ID up as it is first: a key must
			// be its own key.
			t.Fatalf("idKey(%q) = %q, whose key is %q", s, key, again)
		}
		id, err := ParseID(s)
		if err != nil {
			if !errors.Is(err, ErrBadID) && !errors.Is(err, ErrInvalidPort) {
				t.Fatalf("ParseID(%q): unexpected error %v", s, err)
			}
			if !id.IsZero() {
				t.Fatalf("ParseID(%q) failed but returned %#v", s, id)
			}
			return
		}
		if id.String() != s {
			t.Fatalf("ParseID(%q).String() = %q", s, id.String())
		}
		if id.Host == "" {
			t.Fatalf("ParseID(%q): empty host", s)
		}
		if id.Port < 0 || id.Port > 65535 {
			t.Fatalf("ParseID(%q): port %d out of range", s, id.Port)
		}
		canon := MakeID(id.Host, id.Port, id.Name).String()
		back, err := ParseID(canon)
		if err != nil {
			t.Fatalf("ParseID(%q) ok, but canonical %q fails: %v", s, canon, err)
		}
		if back.Host != id.Host || back.Port != id.Port || back.Name != id.Name {
			t.Fatalf("ParseID(%q) = %+v, canonical %q re-parses to %+v", s, id, canon, back)
		}
		if got := splitHostName(s); got != id.Host {
			t.Fatalf("splitHostName(%q) = %q, want %q", s, got, id.Host)
		}
		// The other entry points take the host as ParseID does, and its
		// ASCII form, what goes to DNS and SNI, is ASCII and itself a host
		// ParseID takes.
		local := id.Host
		if strings.HasPrefix(s, "[") {
			local = "[" + local + "]"
		} else {
			a := id.ASCIIHost()
			if !isASCII(a) {
				t.Fatalf("ParseID(%q).ASCIIHost() = %q, not ASCII", s, a)
			}
			if back, err := ParseID(a); err != nil || back.ASCIIHost() != a {
				t.Fatalf("ParseID(%q).ASCIIHost() = %q, which ParseID takes as %q, %v", s, a, back.ASCIIHost(), err)
			}
		}
		if h, _, err := parseLocal(local); err != nil || h != id.Host {
			t.Fatalf("ParseID(%q) ok, but parseLocal(%q) = %q, %v", s, local, h, err)
		}
		if err := VerifyHost(id.Host).apply(&options{}); err != nil {
			t.Fatalf("ParseID(%q) ok, but VerifyHost(%q): %v", s, id.Host, err)
		}
	})
}

// IDs are compared case-insensitively, and IDs that differ in bytes that
// are not UTF-8 stay apart: strings.ToLower made both U+FFFD (found in
// review).
func TestIDKeyCaseAndInvalidUTF8(t *testing.T) {
	tests := []struct {
		a, b string
		same bool
	}{
		{"HOST:1|Name", "host:1|name", true},
		{"h:1|Ä", "h:1|ä", true},
		{"h:1|caf\xe9", "h:1|caf\xe8", false},
		{"h:1|CAF\xe9", "h:1|caf\xe9", true},
		{"h:1|\xe9", "h:1|\ufffd", false},
		{"h:1|\xc3", "h:1|\xc3\xa9", false},
	}
	for _, tt := range tests {
		require.Equal(t, tt.same, idKey(tt.a) == idKey(tt.b), "%q vs %q", tt.a, tt.b)
	}
}
