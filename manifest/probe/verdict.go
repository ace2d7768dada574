package probe

import (
	"errors"
	"fmt"
	"io"
)

// WriteVerdict prints a check's last lines: the tally, then what it means
// for the manifest at path, whose valid rows are counted in rows ("3
// rows"). err is what CheckRows returned; for an error other than
// ErrBadURLs nothing is printed, as the command ends with it.
func (t Tally) WriteVerdict(w io.Writer, path, rows string, err error) {
	switch {
	case err == nil:
		fmt.Fprintln(w, t.Line())
		fmt.Fprintf(w, "%s: %s, valid; every %s URL ok\n", path, rows, t.Noun())
	case errors.Is(err, ErrBadURLs):
		fmt.Fprintln(w, t.Line())
		fmt.Fprintf(w, "%s: %s, %d would fail: their %s URLs failed the check\n", path, rows, t.BadRows, t.Noun())
	}
}
