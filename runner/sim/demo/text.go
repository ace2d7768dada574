package demo

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// DefaultOut is the demo's output folder when none is given.
const DefaultOut = "out"

// Seen is what the simulator saw of the demo, in one line: the faults it
// injected and how the client took them.
func (s *Simulator) Seen() string {
	c := s.Counters()
	return fmt.Sprintf("simulator saw: %d jobs created, %d duplicate submits, %d 429s, %d 5xx, %d downloads (%d cut off, %d expired), %d file requests with a token",
		c.Submits, c.DuplicateSubmits, c.RateLimited, c.ServerErrors, c.Downloads, c.DownloadsTruncated, c.DownloadsExpired, c.FileRequestsWithAuth)
}

// WriteNext closes a demo of manifest ("" for the built-in one) into out:
// what happened (runErr; interrupted when a signal stopped it), and what
// to try next.
func WriteNext(w io.Writer, manifest, out string, runErr error, interrupted bool) {
	again := "pikabatch demo"
	if manifest != "" {
		again += " --manifest " + ShellWord(manifest)
	}
	if out != DefaultOut {
		again += " --out " + ShellWord(out)
	}
	switch {
	case runErr == nil:
		fmt.Fprintf(w, "demo: done: every row is in %s (videos, results.jsonl); `%s` again submits nothing twice\n", out, again)
	case interrupted:
		fmt.Fprintf(w, "demo: interrupted: jobs submitted keep rendering on the simulator, which keeps them in %s; `%s` again collects them and submits the rest, each row once\n",
			filepath.Join(out, SimStateName), again)
	default:
		fmt.Fprintf(w, "demo: stopped before every row was done (see above); `%s` again resumes\n", again)
	}
	q := ShellWord(out)
	fmt.Fprintf(w, "next:\n")
	fmt.Fprintf(w, "  where each row stands:   pikabatch status --out %s\n", q)
	fmt.Fprintf(w, "  the results as a table:  pikabatch export --out %s --format csv\n", q)
	fmt.Fprintf(w, "  every clip on one page:  pikabatch report --out %s\n", q)
}

// TryLine is a command line that renders a batch on the simulator at
// apiURL, whose token is token: in the line, unless it is the user's
// RUNCOMFY_API_TOKEN (envToken), which the shell already has and which is
// never printed. manifest is used when it exists here; the command to
// render anywhere else is the demo.
func TryLine(apiURL, token, envToken, manifest string) string {
	env := "RUNCOMFY_API_BASE=" + ShellWord(apiURL)
	if token != envToken {
		// The simulator's own token (made up, or given with --token).
		env += " RUNCOMFY_API_TOKEN=" + ShellWord(token)
	}
	if fi, err := os.Stat(manifest); err != nil || !fi.Mode().IsRegular() {
		manifest = "YOUR-MANIFEST.csv"
	}
	return fmt.Sprintf("try: %s pikabatch run --manifest %s --out out", env, ShellWord(manifest))
}

// ShellWord quotes s for a POSIX shell when it needs it, so that a line
// the demo prints can be pasted as it is.
func ShellWord(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=@,+", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
