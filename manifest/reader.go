package manifest

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
)

// Row is one valid manifest row.
type Row struct {
	Line  int    // 1-based line number where the row starts in the file (CSV: header is line 1)
	ID    string // as given, trimmed of white space; empty if absent
	Key   string // stable job key: ID, or derived from Input (see the package doc)
	Input Input
	// Kept holds the columns Config.Keep carries, as a JSON object in
	// column order: a CSV cell as a string, verbatim (not trimmed); a JSONL
	// value as written. nil when there are none. At most MaxKeptBytes.
	// They are no part of the key or the hash.
	Kept json.RawMessage
}

// Reader streams the rows of a manifest. It holds one row at a time plus,
// for keys and duplicates, about two small hashes per row. A Reader is not
// safe for concurrent use.
type Reader struct {
	name   string
	closer io.Closer
	src    source
	keys   keyTracker
	sum    Summary
	rows   int // data rows read, valid or not
	raw    rawRow
	chk    checker
	buf    []byte // scratch for the canonical encoding of an Input
	// keptSeen holds the kept column names seen, for Summary.Kept.
	keptSeen map[string]bool
	err      error // sticky: io.EOF, errClosed or a fatal error
	closed   bool
}

// source parses rows of one format.
type source interface {
	// read parses the next non-blank row into raw, which is reset. Problems
	// with the row go into raw; read returns io.EOF after the last row and
	// any other error only if reading failed.
	read(raw *rawRow) error
	// finish returns the problems only the whole file shows, once read
	// to its end.
	finish() []*RowError
}

var errClosed = errors.New("manifest reader is closed")

// Config says how to read a manifest. The zero Config reads a manifest for
// PikaModel in the format its extension says.
type Config struct {
	// Format of the manifest; FormatAuto chooses by extension.
	Format Format
	// Schema is the model's input schema; nil means PikaSchema.
	Schema *Schema
	// Map maps the model's fields (or id) to the manifest's columns or keys
	// that hold them, as {"promptText": "caption", "image": "url"}, so that
	// a dataset is read as it is. A mapped column takes precedence over a
	// field of the same name.
	Map map[string]string
	// Keep names columns (or keys) that are no field but are carried,
	// verbatim, into Row.Kept; "*" keeps every such column. Any other
	// unknown column is still an error.
	Keep []string
	// Reserved names the columns a kept column may not take, compared
	// ignoring case: the columns the batch's CSV export writes itself
	// (state, file, request_id...), which a kept column of the same name
	// would shadow for a reader of the export. A kept column so named is
	// an error (ErrReservedColumn), whether kept by name or by "*".
	Reserved []string
	// Files lets file fields hold local files and says how they will be
	// sent; nil refuses them (with a message naming the ways to send
	// them). One LocalFiles given to every pass over a manifest reads each
	// file once.
	Files *LocalFiles
	// Expect is the Summary of an earlier pass over the same file (the
	// validation before a run). It sizes the reader's per-row key sets
	// once, for its rows, so that their memory is taken when the reader
	// opens and stays flat while it reads: no growth, no old tables left
	// to the GC mid-run. The zero Summary sizes nothing; a wrong one costs
	// memory or growth, never a different key.
	Expect Summary
}

func (c Config) schema() *Schema {
	if c.Schema == nil {
		return pikaSchema
	}
	return c.Schema
}

// Open opens the manifest at path for PikaModel. With FormatAuto the format
// follows the extension. Problems with the file as a whole (an empty file, a
// bad CSV header) are returned as a *ValidationError; a file that cannot be
// opened gives an error naming it and wrapping the os error.
func Open(path string, format Format) (*Reader, error) {
	return OpenConfig(path, Config{Format: format})
}

// OpenConfig is Open for any model: rows are read and checked by
// cfg.Schema.
func OpenConfig(path string, cfg Config) (*Reader, error) {
	if _, err := cfg.Format.resolve(path); err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	r, err := newReader(f, path, cfg, MaxRowBytes)
	if err != nil {
		_ = f.Close() // read-only: nothing to lose
		return nil, err
	}
	r.closer = f
	return r, nil
}

// NewReader reads a manifest from r. name is used in errors and, with
// FormatAuto, to choose the format by extension. For CSV it reads the
// header; problems with it are returned as a *ValidationError, as is an
// empty input. Close does not close r.
func NewReader(r io.Reader, name string, format Format) (*Reader, error) {
	return newReader(r, name, Config{Format: format}, MaxRowBytes)
}

// NewReaderConfig is NewReader for any model (see OpenConfig).
func NewReaderConfig(r io.Reader, name string, cfg Config) (*Reader, error) {
	return newReader(r, name, cfg, MaxRowBytes)
}

func newReader(r io.Reader, name string, cfg Config, maxRow int) (*Reader, error) {
	schema := cfg.schema()
	format, err := cfg.Format.resolve(name)
	if err != nil {
		return nil, err
	}
	cols, err := newColumns(schema, cfg)
	if err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(r, 64<<10)
	// A UTF-8 byte order mark is what spreadsheet programs put at the start
	// of "CSV UTF-8" files; it is not part of the first column's name.
	b, err := br.Peek(3)
	if err != nil && err != io.EOF {
		return nil, fmt.Errorf("read manifest %s: %w", name, err)
	}
	if bytes.HasPrefix(b, []byte("\xef\xbb\xbf")) {
		_, _ = br.Discard(3)
	}

	chk := newChecker(schema)
	if cfg.Files != nil {
		chk.files, chk.dir = cfg.Files, cfg.Files.Dir
		if chk.dir == "" {
			chk.dir = filepath.Dir(name)
		}
	}
	m := &Reader{
		name: name,
		chk:  chk,
		sum: Summary{
			ByResolution: make(map[string]int),
			ByDuration:   make(map[int]int),
		},
	}
	m.keys.keys.reserve(cfg.Expect.Rows)
	m.keys.params.reserve(cfg.Expect.WithoutID)
	var problems []*RowError
	switch format {
	case FormatCSV:
		m.src, problems, err = newCSVSource(br, name, cols, maxRow)
	case FormatJSONL:
		m.src, problems, err = newJSONLSource(br, name, cols, maxRow)
	}
	if err != nil {
		return nil, fmt.Errorf("read manifest %s: %w", name, err)
	}
	if len(problems) > 0 {
		ve := &ValidationError{File: name}
		for _, p := range problems {
			ve.add(p)
		}
		return nil, ve
	}
	return m, nil
}

// Next returns the next valid row, with its final key.
//
// For an invalid row it returns a *RowError if the row has one problem, or
// a *ValidationError listing all of them if it has several; the caller may
// call Next again to go on with the next row. A ValidationError unwraps to
// its RowErrors, so errors.As with a *RowError finds the first problem in
// either case. A manifest without any row yields one *RowError wrapping
// ErrEmpty. Problems only the whole file shows (a mapped JSONL key that no
// line has) come the same way after the last row, before io.EOF.
//
// After the last row Next returns io.EOF. Any other error is fatal (reading
// failed) and is returned again by later calls.
func (r *Reader) Next() (Row, error) {
	if r.err != nil {
		return Row{}, r.err
	}
	r.raw.reset(len(r.chk.schema.props) + 1)
	err := r.src.read(&r.raw)
	if err == io.EOF {
		r.err = io.EOF
		if r.rows == 0 {
			return Row{}, &RowError{File: r.name, Err: problemf(ErrEmpty, "the manifest has no rows")}
		}
		return Row{}, r.finish()
	}
	if err != nil {
		r.err = fmt.Errorf("read manifest %s: %w", r.name, err)
		return Row{}, r.err
	}
	r.rows++
	if r.raw.last {
		r.err = io.EOF
	}
	row, errs := r.check(&r.raw)
	switch len(errs) {
	case 0:
		r.count(row)
		return row, nil
	case 1:
		return Row{}, errs[0]
	}
	return Row{}, &ValidationError{File: r.name, Errors: errs, Total: len(errs)}
}

// finish returns the source's problems with the file as a whole, as a
// *RowError or a *ValidationError, or io.EOF if it has none.
func (r *Reader) finish() error {
	errs := r.src.finish()
	for _, re := range errs {
		re.File = r.name
	}
	switch len(errs) {
	case 0:
		return io.EOF
	case 1:
		return errs[0]
	}
	return &ValidationError{File: r.name, Errors: errs, Total: len(errs)}
}

// check validates a parsed row and assigns its key.
func (r *Reader) check(raw *rawRow) (Row, []*RowError) {
	for _, re := range raw.errs {
		re.File = r.name
	}
	if raw.skip {
		return Row{}, raw.errs
	}
	errs := raw.errs
	add := func(slot int, err error) {
		errs = append(errs, &RowError{File: r.name, Line: raw.line, Field: raw.name(r.chk.schema, slot), Err: err})
	}
	in, id := r.chk.parseInput(raw, add)

	// Claim a valid id even if the row has other problems, so that a later
	// row repeating it is reported in the same pass.
	if id != "" {
		if first, derived, dup := r.keys.claim(id, raw.line, false); dup {
			if derived {
				add(slotID, problemf(ErrDuplicateID, "id %s is the key derived for the row on line %d, which has no id; choose another id", quote(id), first))
			} else {
				add(slotID, problemf(ErrDuplicateID, "id %s is already used on line %d (ids are compared ignoring case)", quote(id), first))
			}
		}
	}
	if len(errs) > 0 {
		return Row{}, errs
	}

	row := Row{Line: raw.line, ID: id, Key: id, Input: in}
	if raw.kept != nil {
		kept := append(raw.kept, '}')
		if len(kept) > MaxKeptBytes {
			return Row{}, append(errs, &RowError{File: r.name, Line: raw.line,
				Err: problemf(ErrTooLong, "the kept columns are %d bytes of JSON; the limit is %d", len(kept), MaxKeptBytes)})
		}
		row.Kept = kept // raw.kept is new for each row
	}
	if id == "" {
		r.buf = in.appendCanonical(r.buf[:0])
		sum := sha256.Sum256(r.buf)
		h := binary.BigEndian.Uint64(sum[:8])
		n, _ := r.keys.params.get(h)
		n++
		row.Key = derivedKey(sum, n)
		if first, _, dup := r.keys.claim(row.Key, raw.line, true); dup {
			errs = append(errs, &RowError{File: r.name, Line: raw.line,
				Err: problemf(ErrDuplicateID, "the key %s derived from this row's values is the id on line %d; give this row an id", quote(row.Key), first)})
			return Row{}, errs
		}
		r.keys.params.put(h, n)
		if n > 1 {
			r.sum.DuplicateRows++
		}
	}
	return row, nil
}

// derivedKey is the key of the n-th row without id whose Input has the
// given hash: "r-" and 16 hex digits, then "-n" from the second such row on.
func derivedKey(sum [sha256.Size]byte, n uint32) string {
	b := make([]byte, 0, 2+16+11)
	b = append(b, "r-"...)
	b = hex.AppendEncode(b, sum[:8])
	if n > 1 {
		b = append(b, '-')
		b = strconv.AppendUint(b, uint64(n), 10)
	}
	return string(b)
}

// count adds a valid row to the summary. Resolution and duration are
// counted for models that have them, unset ones as the schema's default.
func (r *Reader) count(row Row) {
	r.sum.Rows++
	if row.ID == "" {
		r.sum.WithoutID++
	}
	if row.Kept != nil {
		r.countKept(row.Kept)
	}
	if v, ok := fieldOrDefault(row.Input, r.chk.res); ok && v.k == vString {
		r.sum.ByResolution[v.s]++
	}
	if v, ok := fieldOrDefault(row.Input, r.chk.dur); ok && v.k == vInt {
		r.sum.ByDuration[int(v.n)]++
	}
}

// Schema returns the schema the rows are checked against.
func (r *Reader) Schema() *Schema { return r.chk.schema }

// countKept adds the names of a row's kept columns to the summary.
func (r *Reader) countKept(kept json.RawMessage) {
	objectMembers(kept, func(key, _ []byte) {
		name := string(key[1 : len(key)-1])
		if bytes.IndexByte(key, '\\') >= 0 {
			_ = json.Unmarshal(key, &name)
		}
		if !r.keptSeen[name] {
			if r.keptSeen == nil {
				r.keptSeen = map[string]bool{}
			}
			r.keptSeen[name] = true
			r.sum.Kept = append(r.sum.Kept, name)
		}
	})
}

// Summary describes the valid rows returned by Next so far.
func (r *Reader) Summary() Summary {
	s := r.sum
	s.Kept = slices.Clone(r.sum.Kept)
	s.ByResolution = maps.Clone(r.sum.ByResolution)
	s.ByDuration = maps.Clone(r.sum.ByDuration)
	return s
}

// Close closes the file opened by Open. It is safe to call twice; Next
// fails after it.
func (r *Reader) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	r.err = errClosed
	if r.closer != nil {
		return r.closer.Close()
	}
	return nil
}

// keyTracker finds repeated keys and counts rows with equal parameters
// using 64-bit hashes only, so that a manifest of a million rows costs
// 15 MB, 30 with every row without id. A hash collision between different
// keys (odds about n²/2⁶⁵) would be reported as a duplicate id.
//
// A run reads the manifest a second time, after validation, and still
// tracks both: params numbers the derived keys of repeated rows (a key must
// never change), and keys catches a file edited between the two passes
// (two rows on one key would share, and poll, one job).
type keyTracker struct {
	keys   hashTable // hash of the case-folded key → first line; derivedFlag if derived
	params hashTable // first 8 bytes of the Input's SHA-256 → number of id-less rows with it
}

const derivedFlag = 1 << 31

// claim records key for the row on line. If the key is taken, it returns
// the line of the row that holds it and whether that key was derived.
func (t *keyTracker) claim(key string, line int, derived bool) (first int, firstDerived, dup bool) {
	h := foldHash(key)
	if v, ok := t.keys.get(h); ok {
		return int(v &^ derivedFlag), v&derivedFlag != 0, true
	}
	v := uint32(min(line, derivedFlag-1))
	if derived {
		v |= derivedFlag
	}
	t.keys.put(h, v)
	return 0, false, false
}

// foldHash is FNV-1a of s with ASCII letters folded to lower case: keys are
// ASCII, and file names differing only in case clash on macOS and Windows.
func foldHash(s string) uint64 {
	const (
		offset = 14695981039346656037
		prime  = 1099511628211
	)
	h := uint64(offset)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		h ^= uint64(c)
		h *= prime
	}
	return h
}
