package lcsock

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// This file is the only place in lcsock that knows the socket ID syntax:
//
//	host
//	host:port
//	host:port|name
//	[ipv6]
//	[ipv6]:port|name
//
// The label after the first '|' may hold any character, ':' and '|'
// included. A missing port means port 80, as in LiveCode.

// defaultPort is the port of an ID that names none.
const defaultPort = 80

// ID is a parsed socket ID.
type ID struct {
	Host string // host name or IP literal, without brackets; never empty for a parsed ID
	Port int    // 0–65535; 80 when the text has no port
	Name string // the label after the first '|'; "" when there is none
	raw  string // the text as written; "" for IDs built with MakeID
}

// ParseID parses a socket ID of the form host[:port][|name], where host is
// a host name, an IPv4 literal or an IPv6 literal in brackets. The port is
// decimal (0–65535) or a service name such as "http" (case-sensitive); it
// defaults to 80. A host name holds ASCII letters, digits, '-', '.' and
// '_', and non-ASCII letters, marks and digits; an internationalised one
// must convert to ASCII with IDNA's lookup profile, '_' allowed as in
// ASCII names (see [ID.ASCIIHost]), and an ACE ("xn--") label must stand
// for characters allowed here. Errors are *OpError values with Op
// "parse" that wrap ErrBadID (with the reason) or ErrInvalidPort.
func ParseID(s string) (ID, error) {
	fail := func(err error) (ID, error) {
		return ID{}, &OpError{Op: "parse", Socket: s, Err: err}
	}
	addr, name, _ := strings.Cut(s, "|")
	host, port, hasPort, reason := splitAddr(addr)
	if reason == "" && host == "" {
		reason = "empty host"
	}
	if reason == "" && !strings.HasPrefix(addr, "[") {
		if _, err := toASCIIHost(host); err != nil {
			reason = err.Error()
		}
	}
	if reason != "" {
		return fail(fmt.Errorf("%w: %s", ErrBadID, reason))
	}
	p := defaultPort
	if hasPort {
		var err error
		if p, err = parsePort(port); err != nil {
			return fail(err)
		}
	}
	return ID{Host: host, Port: p, Name: name, raw: s}, nil
}

// MakeID returns the ID for host, port and name. Its String is the
// canonical form "host:port|name" ("|name" left out when name is empty),
// with an IPv6 host (one containing ':') in brackets. MakeID does not
// validate its arguments.
func MakeID(host string, port int, name string) ID {
	return ID{Host: host, Port: port, Name: name}
}

// String returns the ID exactly as written when it was parsed, and the
// canonical form (see MakeID) otherwise.
func (id ID) String() string {
	if id.raw != "" {
		return id.raw
	}
	host := id.Host
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	s := host + ":" + strconv.Itoa(id.Port)
	if id.Name != "" {
		s += "|" + id.Name
	}
	return s
}

// Addr returns the address to dial, "host:port" with an IPv6 host in
// brackets, as made by net.JoinHostPort, and the host in ASCII form.
func (id ID) Addr() string {
	return net.JoinHostPort(id.ASCIIHost(), strconv.Itoa(id.Port))
}

// ASCIIHost returns the host as it goes on the wire (DNS, SNI, proxies):
// an internationalised name converted with IDNA's lookup profile, which
// here allows '_' as the system resolver does ("bücher.example" gives
// "xn--bcher-kva.example", "bü_cher.example" "xn--b_cher-3ya.example");
// an ASCII name or an IP literal unchanged, as is a host that does not
// convert (only MakeID builds such an ID).
func (id ID) ASCIIHost() string {
	if a, err := toASCIIHost(id.Host); err == nil {
		return a
	}
	return id.Host
}

// IsZero reports whether id is the zero ID.
func (id ID) IsZero() bool {
	return id == ID{}
}

// SameID reports whether a and b name the same socket, as a Registry
// compares IDs: the whole ID, case-insensitively.
func SameID(a, b string) bool { return a == b || idKey(a) == idKey(b) }

// idKey returns the registry key for the socket ID s. Sockets are looked
// up by their whole ID, compared case-insensitively. Bytes that are not
// UTF-8 are kept as they are: strings.ToLower would turn each into
// U+FFFD, and IDs that differ in them would share a key.
func idKey(s string) string {
	lower := true // the usual ID: ASCII without capitals, its own key
	for i := 0; i < len(s) && lower; i++ {
		lower = s[i] < utf8.RuneSelf && (s[i] < 'A' || s[i] > 'Z')
	}
	if lower {
		return s
	}
	if utf8.ValidString(s) {
		return strings.ToLower(s)
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b = append(b, s[i])
		} else {
			b = utf8.AppendRune(b, unicode.ToLower(r))
		}
		i += n
	}
	return string(b)
}

// services are the service names accepted as ports, matched
// case-sensitively, as in the LiveCode engine's socket_resolve.cpp.
var services = map[string]int{
	"echo": 7, "discard": 9, "systat": 11, "daytime": 13, "netstat": 15,
	"qotd": 17, "chargen": 19, "ftp-data": 20, "ftp": 21, "ssh": 22,
	"telnet": 23, "smtp": 25, "time": 37, "name": 42, "whois": 43,
	"domain": 53, "gopher": 70, "finger": 79, "http": 80, "www": 80,
	"kerberos": 88, "pop-2": 109, "pop-3": 110, "sunrpc": 111, "auth": 113,
	"nntp": 119, "ntp": 123, "imap": 143, "snmp": 161, "https": 443,
}

// parsePort parses a port: decimal digits (leading zeros allowed) with a
// value of 0–65535, or a service name. Any other text, the empty string
// included, gives ErrInvalidPort.
func parsePort(s string) (int, error) {
	if p, ok := services[s]; ok {
		return p, nil
	}
	if s == "" {
		return 0, ErrInvalidPort
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, ErrInvalidPort
		}
		n = n*10 + int(c-'0')
		if n > 65535 {
			return 0, ErrInvalidPort
		}
	}
	return n, nil
}

// parseLocal parses the local address of "open socket from", written
// [host][:port]: an empty host means any address (""), an empty port
// means 0. Errors wrap ErrLocalAddress (and ErrInvalidPort for a bad port).
func parseLocal(s string) (host string, port int, err error) {
	if strings.Contains(s, "|") {
		return "", 0, fmt.Errorf("%w: a local address has no label", ErrLocalAddress)
	}
	host, ps, _, reason := splitAddr(s)
	if reason == "" && !strings.HasPrefix(s, "[") {
		if _, err := toASCIIHost(host); err != nil { // held to what an ID's host is
			reason = err.Error()
		}
	}
	if reason != "" {
		return "", 0, fmt.Errorf("%w: %s", ErrLocalAddress, reason)
	}
	if ps == "" {
		return host, 0, nil
	}
	if port, err = parsePort(ps); err != nil {
		return "", 0, fmt.Errorf("%w: %w", ErrLocalAddress, err)
	}
	return host, port, nil
}

// splitHostName returns the host part of an ID-like string for
// hostNameToAddress: it drops "|label" and ":port" and unbrackets an IPv6
// literal. Text with more than one ':' and no brackets is taken to be a
// bare IPv6 literal and returned whole. It does not validate the host and
// returns "" when there is none (such as "[::1" or ":80"). Brackets that
// do not hold an IPv6 literal followed by nothing or a ':' ("[localhost]",
// "[::1]junk") are returned with the rest, for the host check to refuse.
func splitHostName(s string) string {
	s, _, _ = strings.Cut(s, "|")
	if rest, ok := strings.CutPrefix(s, "["); ok {
		host, after, ok := strings.Cut(rest, "]")
		switch {
		case !ok:
			return ""
		case !strings.Contains(host, ":"), after != "" && after[0] != ':':
			return s
		}
		return host
	}
	if strings.Count(s, ":") > 1 {
		return s
	}
	host, _, _ := strings.Cut(s, ":")
	return host
}

// splitAddr splits "host", "host:port", "[ipv6]" or "[ipv6]:port" (no
// label) and checks the host, which may be empty. hasPort reports whether
// a ':' introduced a port (which may be empty). A non-empty reason says
// why s is malformed.
func splitAddr(s string) (host, port string, hasPort bool, reason string) {
	if rest, ok := strings.CutPrefix(s, "["); ok {
		host, after, ok := strings.Cut(rest, "]")
		if !ok {
			return "", "", false, "missing ']' after IPv6 address"
		}
		if after != "" && after[0] != ':' {
			return "", "", false, fmt.Sprintf("unexpected %q after ']'", after)
		}
		if reason := checkIPv6(host); reason != "" {
			return "", "", false, reason
		}
		if after == "" {
			return host, "", false, ""
		}
		return host, after[1:], true, ""
	}
	switch strings.Count(s, ":") {
	case 0:
		host = s
	case 1:
		host, port, hasPort = strings.Cut(s, ":")
	default:
		return "", "", false, "IPv6 addresses must be in brackets"
	}
	if reason := checkHostName(host); reason != "" {
		return "", "", false, reason
	}
	return host, port, hasPort, ""
}

// checkIPv6 returns why s, the text between brackets, is not an IPv6
// address (with an optional zone), or "".
func checkIPv6(s string) string {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is6() {
		return fmt.Sprintf("%q is not an IPv6 address", s)
	}
	if reason, _ := checkHostChars(a.Zone()); reason != "" {
		return "bad IPv6 zone: " + reason
	}
	return ""
}

// checkHostName returns why s cannot be a host name or IPv4 literal, or
// "". It allows ASCII letters, digits, '-', '.' and '_', and non-ASCII
// letters, marks and digits (checkHostChars); the empty string passes.
// A label with other non-ASCII characters passes if IDNA's lookup
// profile, the UTS #46 processing browsers use, accepts it ('_' aside,
// which its STD3 rules refuse and lcsock allows): ZWNJ in Persian
// "نامه‌ای", the middle dot of Catalan "col·legi" (or "Col·legi"), the
// katakana middle dot of "ドメイン・テスト", '♥' of "♥.example", while
// '≠' or a full-width '＿' stay refused. The rest of IDNA is checked by
// toASCIIHost.
func checkHostName(s string) string {
	reason, ascii := checkHostChars(s)
	if reason == "" || ascii {
		return reason
	}
	for label := range strings.SplitSeq(s, ".") {
		r, _ := checkHostChars(label)
		if r == "" {
			continue
		}
		if _, err := idna.Lookup.ToASCII(strings.ReplaceAll(label, "_", "")); err != nil {
			return r
		}
	}
	return ""
}

// checkHostChars returns why s holds a character that is not an ASCII
// letter, digit, '-', '.' or '_', or a non-ASCII letter, mark or digit,
// or "", and whether a refused character is ASCII (or the text is not
// UTF-8). It is what IPv6 zones are held to.
func checkHostChars(s string) (reason string, ascii bool) {
	if !utf8.ValidString(s) {
		return "invalid UTF-8 in host", true
	}
	var first string
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9',
			r == '-', r == '.', r == '_':
		case r >= utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsMark(r) || unicode.IsDigit(r)):
		case r < utf8.RuneSelf:
			return fmt.Sprintf("invalid character %q in host", r), true
		default:
			if first == "" {
				first = fmt.Sprintf("invalid character %q in host", r)
			}
		}
	}
	return first, false
}
