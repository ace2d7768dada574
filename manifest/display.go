package manifest

import (
	"net/netip"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Printable returns s with every character a terminal might act on
// escaped, as printable does: for words a schema or catalog gives
// (property names, enums, model names), which are printed to a terminal.
func Printable(s string) string { return printable(s, 0) }

// printable returns s with every character a terminal might act on (C0 and
// C1 controls, DEL, bidirectional and other invisible format characters,
// invalid UTF-8) escaped as in Go's %q (\x1b, \u202e), and everything else,
// backslashes included, as is: applying it twice changes nothing. It
// shortens s to maxRunes characters, marking the cut with "…", when maxRunes
// is positive.
func printable(s string, maxRunes int) string {
	clean := true
	for _, r := range s {
		if !isPrintable(r) {
			clean = false
			break
		}
	}
	if clean && (maxRunes <= 0 || len(s) <= maxRunes || utf8.RuneCountInString(s) <= maxRunes) {
		return s
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(s); {
		if maxRunes > 0 && n == maxRunes {
			b.WriteString("…")
			break
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteString(`\x`)
			b.WriteString(strconv.FormatUint(uint64(s[i])>>4, 16))
			b.WriteString(strconv.FormatUint(uint64(s[i])&0xf, 16))
		case isPrintable(r):
			b.WriteString(s[i : i+size])
		default:
			q := strconv.QuoteRuneToASCII(r)
			b.WriteString(q[1 : len(q)-1])
		}
		i += size
		n++
	}
	return b.String()
}

func isPrintable(r rune) bool {
	return r == ' ' || r != utf8.RuneError && unicode.IsPrint(r)
}

// isLoopback reports whether host is localhost, in 127.0.0.0/8 or ::1: the
// hosts an http image URL may name, for rehearsals. It matches runner/api's
// rule for the API base.
func isLoopback(host string) bool {
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Zone() == "" && ip.Unmap().IsLoopback()
}
