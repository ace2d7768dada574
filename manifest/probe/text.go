package probe

import (
	"fmt"

	"github.com/pikabatch/pikabatch/manifest"
	"github.com/pikabatch/pikabatch/runner/account"
)

// Noun is what the URLs are: Pika's (and any one-input model's) image
// URLs, or several file inputs' URLs.
func (t Tally) Noun() string {
	if t.SeveralPerRow {
		return "file"
	}
	return "image"
}

// Line is the tally for people: URLs, and rows when a row has several.
func (t Tally) Line() string {
	if !t.SeveralPerRow {
		return fmt.Sprintf("image URLs: %d rows checked, %d ok, %d would fail", t.Checked, t.Checked-t.Bad, t.Bad)
	}
	s := fmt.Sprintf("file URLs: %d checked in %d rows, %d ok, %d would fail", t.Checked, t.Rows, t.Checked-t.Bad, t.Bad)
	if t.Bad > 0 {
		rows := "rows"
		if t.BadRows == 1 {
			rows = "row"
		}
		s += fmt.Sprintf(" (%d %s)", t.BadRows, rows)
	}
	return s
}

// Text is the check of one row's URL for people, as read from the
// manifest at path. The field is named by the schema and the detail by
// the file's host: both are printed escaped.
func (ch RowCheck) Text(path string) string {
	verdict := "ok  "
	detail := ch.ContentType
	if ch.Size >= 0 {
		detail += ", " + account.Bytes(ch.Size)
	} else {
		detail += ", size unknown"
	}
	if !ch.OK {
		verdict, detail = "FAIL", ch.Problem
	}
	key := ch.Key
	if ch.Field != "" {
		key += " " + ch.Field
	}
	return fmt.Sprintf("  %s:%d %-24s %s %s — %s", path, ch.Line, manifest.Printable(key), verdict, manifest.Printable(ch.URL), manifest.Printable(detail))
}
