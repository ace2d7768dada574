package results

import (
	"fmt"
	"strings"
)

// EscapeControls writes the control characters of s that drive a terminal
// (C0 but tab, line feed and carriage return; DEL; C1) as Go-style escapes
// (\x1b, \u009b), so that a hostile prompt or key shows what it holds, in
// a terminal, a spreadsheet or a page, instead of hiding it or acting on
// it. The three it keeps are text: CSV quotes them and a page shows them
// as space.
func EscapeControls(s string) string {
	if !strings.ContainsFunc(s, isTerminalControl) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case !isTerminalControl(r):
			b.WriteRune(r)
		case r < 0x80:
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			fmt.Fprintf(&b, `\u%04x`, r)
		}
	}
	return b.String()
}

func isTerminalControl(r rune) bool {
	return (r < 0x20 && r != '\t' && r != '\n' && r != '\r') || (r >= 0x7f && r <= 0x9f)
}
