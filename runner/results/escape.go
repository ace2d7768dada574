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

// NeutraliseFormula returns a CSV cell that a spreadsheet would run as a
// formula with a single quote before it, as OWASP's guidance on CSV
// injection says: a cell starting with '=', '+', '-', '@', a tab or a
// carriage return. A prompt or an API message such as
// =HYPERLINK("http://…") would otherwise run when the export is opened.
// A plain decimal number (-5, -0.25, 1e-3) is left as it is: it is no
// formula, and a numeric column must stay numeric. It is for CSV exports
// only; JSON keeps values as they are.
func NeutraliseFormula(s string) string {
	if s == "" || isPlainNumber(s) {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + s
	}
	return s
}

// isPlainNumber reports whether s is -?digits[.digits][e[+-]digits].
func isPlainNumber(s string) bool {
	i := 0
	digits := func() bool {
		j := i
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
		return i > j
	}
	if s[0] == '-' {
		i++
	}
	if !digits() {
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if !digits() {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if !digits() {
			return false
		}
	}
	return i == len(s)
}

// CSVCell is a text value as a CSV export writes it: terminal controls
// escaped (EscapeControls), then formulas neutralised (NeutraliseFormula).
func CSVCell(s string) string { return NeutraliseFormula(EscapeControls(s)) }
