package manifest

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"
)

// field is a manifest column (CSV) or key (JSONL).
type field int

const (
	fID field = iota
	fImage
	fPromptText
	fNegativePrompt
	fSeed
	fResolution
	fDuration
	numFields

	// fRow stands for the row as a whole, in errors that no one field
	// causes (the request body's size).
	fRow field = -1
)

// String returns the field's canonical name.
func (f field) String() string {
	switch f {
	case fID:
		return "id"
	case fImage:
		return "image"
	case fPromptText:
		return "promptText"
	case fNegativePrompt:
		return "negativePrompt"
	case fSeed:
		return "seed"
	case fResolution:
		return "resolution"
	case fDuration:
		return "duration"
	}
	return "field(" + strconv.Itoa(int(f)) + ")"
}

// lookupColumn maps a column or key name (already trimmed) to its field.
// Names are case-sensitive; each field has one canonical name and at most
// one alias. Keep in sync with knownColumns.
func lookupColumn(name string) (field, bool) {
	switch name {
	case "id":
		return fID, true
	case "image", "image_url":
		return fImage, true
	case "promptText", "prompt":
		return fPromptText, true
	case "negativePrompt", "negative_prompt":
		return fNegativePrompt, true
	case "seed":
		return fSeed, true
	case "resolution":
		return fResolution, true
	case "duration":
		return fDuration, true
	}
	return 0, false
}

// knownColumns lists every accepted name, canonical names first.
func knownColumns() []string {
	return []string{"id", "image", "promptText", "negativePrompt", "seed", "resolution", "duration",
		"image_url", "prompt", "negative_prompt"}
}

// record is one row's raw values, before validation, filled in by a
// source: by column for CSV, by key for JSONL.
type record struct {
	ID             string
	Image          string
	PromptText     string
	NegativePrompt string
	Seed           string
	Resolution     string
	Duration       string
}

func (r *record) value(f field) *string {
	switch f {
	case fID:
		return &r.ID
	case fImage:
		return &r.Image
	case fPromptText:
		return &r.PromptText
	case fNegativePrompt:
		return &r.NegativePrompt
	case fSeed:
		return &r.Seed
	case fResolution:
		return &r.Resolution
	case fDuration:
		return &r.Duration
	}
	panic("manifest: unknown field " + f.String())
}

// rawRow is a row as a source parsed it.
type rawRow struct {
	line  int
	rec   record
	names [numFields]string // each field's name as spelled in the manifest; "" if absent
	bad   [numFields]bool   // the source already reported a problem with the field
	errs  []*RowError       // problems the source found
	skip  bool              // the row could not be parsed: report errs only
	last  bool              // the source cannot go on after this row
}

// reset clears raw for the next row. errs is not reused: callers may keep
// the errors of earlier rows.
func (raw *rawRow) reset() { *raw = rawRow{} }

// name returns the field's name for error messages; "" for fRow.
func (raw *rawRow) name(f field) string {
	if f == fRow {
		return ""
	}
	if n := raw.names[f]; n != "" {
		return n
	}
	return f.String()
}

// parseInput checks the row's values and returns the model input and the
// trimmed id. Problems are appended to raw.errs via addErr.
func parseInput(raw *rawRow, addErr func(f field, err error)) (Input, string) {
	var in Input
	problems := 0
	add := addErr
	addErr = func(f field, err error) {
		problems++
		add(f, err)
	}
	val := func(f field) string {
		if raw.bad[f] {
			return ""
		}
		return strings.TrimSpace(*raw.rec.value(f))
	}

	id := val(fID)
	if id != "" {
		if err := checkID(id); err != nil {
			addErr(fID, err)
			id = ""
		}
	}

	if !raw.bad[fImage] {
		switch img := val(fImage); {
		case img == "" && raw.names[fImage] == "":
			addErr(fImage, problemf(ErrRequired, "missing; every row needs the URL of its source image"))
		case img == "":
			addErr(fImage, problemf(ErrRequired, "is empty; every row needs the URL of its source image"))
		default:
			if err := checkImageURL(img); err != nil {
				addErr(fImage, err)
			}
			in.Image = img
		}
	}

	if p := val(fPromptText); p != "" {
		if n := utf8.RuneCountInString(p); n > MaxPromptRunes {
			addErr(fPromptText, problemf(ErrTooLong, "is %d characters long; the limit is %d", n, MaxPromptRunes))
		}
		in.PromptText = p
	}
	if p := val(fNegativePrompt); p != "" {
		if n := utf8.RuneCountInString(p); n > MaxNegativePromptRunes {
			addErr(fNegativePrompt, problemf(ErrTooLong, "is %d characters long; the limit is %d", n, MaxNegativePromptRunes))
		}
		in.NegativePrompt = p
	}

	if s := val(fSeed); s != "" {
		n, err := parseInteger(s)
		if err != nil {
			addErr(fSeed, err)
		} else {
			in.Seed = &n
		}
	}

	if s := val(fResolution); s != "" {
		if s != "720p" && s != "1080p" {
			addErr(fResolution, problemf(ErrInvalidEnum, "%s is not one of 720p, 1080p", quote(s)))
		}
		in.Resolution = s
	}

	if s := val(fDuration); s != "" {
		switch n, err := parseInteger(s); {
		case err != nil:
			addErr(fDuration, err)
		case n != 5 && n != 10:
			addErr(fDuration, problemf(ErrInvalidEnum, "%s is not one of 5, 10 (seconds)", quote(s)))
		default:
			in.Duration = int(n)
		}
	}
	// Each field may be within its bound and the body still too large,
	// through escaping: the API would answer 413 (issue 14 item 8).
	if problems == 0 && !raw.bad[fImage] {
		if n := in.bodyLen(); n > MaxBodyBytes {
			addErr(fRow, problemf(ErrTooLong, "the request body would be %d bytes of JSON; the limit is %d (shorten the image URL or the prompts)", n, MaxBodyBytes))
		}
	}
	return in, id
}

func parseInteger(s string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if errors.Is(err, strconv.ErrRange) {
		return 0, problemf(ErrInvalidInteger, "%s does not fit in a 64-bit integer", quote(s))
	}
	if err != nil {
		return 0, problemf(ErrInvalidInteger, "%s is not an integer", quote(s))
	}
	return n, nil
}

// checkImageURL accepts absolute https URLs with a host and no userinfo,
// and http URLs of a loopback host: the API fetches the image itself, over
// https only [doc], with an unauthenticated GET; the simulator's rehearsals
// serve images on loopback.
func checkImageURL(s string) error {
	if len(s) > MaxImageURLBytes {
		return problemf(ErrInvalidURL, "the URL is %d bytes long; the limit is %d", len(s), MaxImageURLBytes).also(ErrTooLong)
	}
	u, err := url.Parse(s)
	if err != nil {
		return problemf(ErrInvalidURL, "%s is not a valid URL", quoteURL(s))
	}
	switch u.Scheme { // url.Parse lower-cases the scheme
	case "http", "https":
	case "":
		return problemf(ErrInvalidURL, "%s is not an absolute URL; give the full https:// address of the image", quoteURL(s))
	case "file":
		return problemf(ErrInvalidURL, "%s is a local file; the API fetches the image itself, so upload it and give its https URL", quoteURL(s))
	default:
		if len(u.Scheme) == 1 { // C:\images\a.png
			return problemf(ErrInvalidURL, "%s looks like a local file path; give the https URL of the image", quoteURL(s))
		}
		return problemf(ErrInvalidURL, "%s uses the %s: scheme; the API fetches images over https only", quoteURL(s), printable(u.Scheme, 16))
	}
	switch {
	case u.Hostname() == "":
		return problemf(ErrInvalidURL, "%s has no host", quoteURL(s))
	case u.User != nil:
		return problemf(ErrInvalidURL, "%s holds a user name or password; the API fetches the image without credentials, so they cannot work: use a public or pre-signed https URL", quoteURL(s))
	case u.Scheme == "http" && !isLoopback(u.Hostname()):
		return problemf(ErrInvalidURL, "%s is not https; the API fetches images over https only (http is accepted only for a loopback host, for rehearsals)", quoteURL(s))
	}
	return nil
}

// checkID makes sure an id is safe as a file name on Linux, macOS and
// Windows, since the runner names output files after it.
func checkID(id string) error {
	for _, c := range id {
		if !isIDChar(c) {
			return problemf(ErrUnsafeID, "id %s contains %q; ids name files, so use only letters, digits, '.', '_' and '-'", quote(id), c)
		}
	}
	if len(id) > MaxIDLength {
		return problemf(ErrUnsafeID, "id %s is %d characters long; the limit is %d", quote(id), len(id), MaxIDLength).also(ErrTooLong)
	}
	if id[0] == '.' || id[0] == '-' {
		return problemf(ErrUnsafeID, "id %s must not start with %q", quote(id), id[0])
	}
	if id[len(id)-1] == '.' {
		// Windows drops a trailing dot, so "a." and "a" would be one file.
		return problemf(ErrUnsafeID, "id %s must not end with '.'", quote(id))
	}
	if isReservedName(id) {
		return problemf(ErrUnsafeID, "id %s is a reserved file name on Windows", quote(id))
	}
	return nil
}

func isIDChar(c rune) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-'
}

// isReservedName reports whether Windows reserves id as a device name, also
// with an extension ("con.txt").
func isReservedName(id string) bool {
	base, _, _ := strings.Cut(id, ".")
	switch strings.ToUpper(base) {
	case "CON", "PRN", "AUX", "NUL":
		return true
	}
	if len(base) == 4 && '1' <= base[3] && base[3] <= '9' {
		switch strings.ToUpper(base[:3]) {
		case "COM", "LPT":
			return true
		}
	}
	return false
}

// quoteURL quotes a URL for a message, without its secrets (see RedactURL).
func quoteURL(s string) string { return quote(RedactURL(s)) }

// quote quotes a value for a message, shortened so that a long value (say
// a data: URL) does not flood the output.
func quote(s string) string {
	const maxRunes = 64
	if utf8.RuneCountInString(s) > maxRunes {
		n := 0
		for i := range s {
			if n == maxRunes {
				s = s[:i] + "…"
				break
			}
			n++
		}
	}
	return strconv.Quote(s)
}

// suggestColumn returns a known name close to an unknown one, or "".
func suggestColumn(name string) string {
	best, bestDist := "", 3
	for _, k := range knownColumns() {
		if strings.EqualFold(k, name) {
			return k
		}
		if d := editDistance(name, k); d < bestDist && d < len(name) {
			best, bestDist = k, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance, for short names only.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// rowBounds says why no valid row is longer than MaxRowBytes, for errors.
func rowBounds() string {
	return fmt.Sprintf("promptText and negativePrompt are at most %d characters, image %d bytes", MaxPromptRunes, MaxImageURLBytes)
}

// fieldName is an unknown column or key's name as a RowError's Field:
// shortened, and with control characters escaped, since it is printed as is.
func fieldName(name string) string { return printable(name, 64) }

// unknownColumn describes an unknown column or key.
func unknownColumn(kind, name string) *problem {
	switch {
	case kind == "column" && (strings.Contains(name, ";") || strings.Contains(name, "\t")):
		return problemf(ErrUnknownColumn, "unknown column %s: separate columns with commas, not semicolons or tabs", quote(name))
	}
	if s := suggestColumn(name); s != "" {
		return problemf(ErrUnknownColumn, "unknown %s %s; did you mean %q? (names are case-sensitive)", kind, quote(name), s)
	}
	return problemf(ErrUnknownColumn, "unknown %s %s; known names are %s", kind, quote(name), strings.Join(knownColumns(), ", "))
}
