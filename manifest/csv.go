package manifest

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strings"
	"unicode/utf8"
)

// csvSource parses CSV rows with its own encoding/csv reader, maps the
// header to fields once, and puts each record's values into a record by
// column. Why this is not gocsv's Unmarshaller: see "CSV and gocsv" in the
// package doc.
type csvSource struct {
	cr      *csv.Reader
	lim     *rowLimiter
	schema  *Schema
	cmap    *columns
	header  []string // trimmed column names as spelled in the file
	cols    []int    // slot of each column
	names   []string // name of each slot's column as spelled; "" if none
	maxRow  int
	endLine int // last line of the previous record
}

func newCSVSource(br *bufio.Reader, name string, cmap *columns, maxRow int) (*csvSource, []*RowError, error) {
	lim := &rowLimiter{r: br, max: int64(maxRow)}
	cr := csv.NewReader(lim)
	cr.FieldsPerRecord = -1 // ragged rows are reported per row, and reading goes on
	cr.ReuseRecord = true
	s := &csvSource{cr: cr, lim: lim, schema: cmap.schema, cmap: cmap, maxRow: maxRow}
	rec, problems, err := s.readHeader(name)
	if rec == nil {
		return nil, problems, err
	}
	if problems := s.mapHeader(name, rec); len(problems) > 0 {
		return nil, problems, nil
	}
	return s, nil, nil
}

// readHeader reads the first record, the header. A file without one, or
// with a first line that is no header, is a problem (rec is nil then).
func (s *csvSource) readHeader(name string) (rec []string, problems []*RowError, err error) {
	rec, err = s.cr.Read()
	var pe *csv.ParseError
	switch {
	case err == io.EOF && s.lim.n == 0:
		return nil, []*RowError{{File: name, Err: problemf(ErrEmpty, "the file is empty")}}, nil
	case err == io.EOF:
		return nil, []*RowError{{File: name, Err: problemf(ErrEmpty, "the file has no header line")}}, nil
	case errors.Is(err, errRowTooLong):
		return nil, []*RowError{{File: name, Line: 1, Err: problemf(ErrBadHeader, "the header is longer than %d bytes", s.maxRow).also(ErrMalformed)}}, nil
	case errors.As(err, &pe):
		return nil, []*RowError{{File: name, Line: pe.StartLine, Err: csvParseProblem(pe).also(ErrBadHeader)}}, nil
	case err != nil:
		return nil, nil, err
	}
	line, _ := s.cr.FieldPos(0)
	s.endLine = s.lastLine(rec)
	for _, col := range rec {
		if strings.Contains(col, "://") {
			return nil, []*RowError{{File: name, Line: line, Err: problemf(ErrBadHeader,
				"the first line looks like a data row (it has the URL %s); the first line must be a header naming the columns, such as id,image,promptText", quoteURL(strings.TrimSpace(col))).also(ErrUnknownColumn)}}, nil
		}
	}
	return rec, nil, nil
}

// mapHeader maps each column of the header rec to its field's slot once,
// and reports every problem with the columns at once: unknown, unnamed,
// repeated (also through an alias) and missing required ones.
func (s *csvSource) mapHeader(name string, rec []string) []*RowError {
	line, _ := s.cr.FieldPos(0)
	var problems []*RowError
	bad := func(field string, p *problem) {
		problems = append(problems, &RowError{File: name, Line: line, Field: field, Err: p})
	}
	cmap := s.cmap
	s.header = make([]string, len(rec))
	s.cols = make([]int, len(rec))
	s.names = make([]string, len(s.schema.props)+1)
	seen := make([]int, len(s.schema.props)+1) // column number (1-based) of each slot
	keptAt := map[string]int{}                 // column number (1-based) of each kept column
	for i, col := range rec {
		col = strings.TrimSpace(col)
		s.header[i] = col
		f, ok := cmap.lookup(col)
		switch {
		case !utf8.ValidString(col):
			bad("", problemf(ErrBadHeader, "the name of column %d is not valid UTF-8 text; save the file as UTF-8", i+1).also(ErrMalformed))
		case col == "":
			bad("", problemf(ErrBadHeader, "column %d has no name (is there a trailing comma?)", i+1))
		case !ok:
			bad(fieldName(col), cmap.unknown("column", col).also(ErrBadHeader))
		case f == slotKept && keptAt[col] != 0:
			bad(col, problemf(ErrBadHeader, "column %q appears twice (columns %d and %d)", col, keptAt[col], i+1))
		case f == slotKept && cmap.keptProblem(col) != nil:
			bad(fieldName(col), cmap.keptProblem(col).also(ErrBadHeader))
		case f == slotKept:
			s.cols[i] = slotKept
			keptAt[col] = i + 1
		case seen[f] != 0 && s.header[seen[f]-1] == col:
			bad(col, problemf(ErrBadHeader, "column %q appears twice (columns %d and %d)", col, seen[f], i+1))
		case seen[f] != 0:
			bad(col, problemf(ErrBadHeader, "column %q (column %d) repeats column %q (column %d)", col, i+1, s.header[seen[f]-1], seen[f]))
		default:
			seen[f] = i + 1
			s.names[f] = col
			s.cols[i] = f
		}
	}
	for _, re := range cmap.missingSources("the manifest has no column", func(col string) bool { return slices.Contains(s.header, col) }, s.header) {
		re.File, re.Line = name, line
		re.Err.(*problem).also(ErrBadHeader)
		problems = append(problems, re)
	}
	if !hasProblem(problems, ErrUnknownColumn) && !hasProblem(problems, ErrBadMapping) {
		for i, p := range s.schema.props {
			if p.required && seen[i+1] == 0 {
				bad(p.name, missingColumn(p).also(ErrBadHeader).also(ErrRequired))
			}
		}
	}
	return problems
}

// missingColumn describes a required field without a column.
func missingColumn(p *property) *problem {
	alias := ""
	switch len(p.aliases) {
	case 0:
	case 1:
		alias = " (or its alias " + p.aliases[0] + ")"
	default:
		alias = " (or one of its aliases " + strings.Join(p.aliases, ", ") + ")"
	}
	why := "the model requires it"
	if p.name == "image" {
		why = "every row needs the URL of its source image"
	}
	return &problem{msg: "no such column" + alias + "; " + why}
}

func hasProblem(errs []*RowError, target error) bool {
	for _, e := range errs {
		if errors.Is(e, target) {
			return true
		}
	}
	return false
}

func (s *csvSource) read(raw *rawRow) error {
	for {
		s.lim.rowStart = s.cr.InputOffset()
		rec, err := s.cr.Read()
		var pe *csv.ParseError
		switch {
		case err == io.EOF:
			return io.EOF
		case errors.Is(err, errRowTooLong):
			// The csv.Reader cannot go on. The row starts after the
			// previous one, give or take blank lines that were skipped.
			raw.line = s.endLine + 1
			raw.errs = append(raw.errs, &RowError{Line: raw.line,
				Err: problemf(ErrMalformed, "the row starting here is longer than %d bytes, and no valid row is (%s): a value far too long, or an unterminated quoted field; stopped reading", s.maxRow, s.schema.rowBounds()).also(ErrTooLong)})
			raw.skip, raw.last = true, true
			return nil
		case errors.As(err, &pe):
			raw.line = pe.StartLine
			raw.errs = append(raw.errs, &RowError{Line: pe.StartLine, Err: csvParseProblem(pe)})
			raw.skip = true
			s.endLine = pe.Line
			return nil
		case err != nil:
			return err
		}
		line, _ := s.cr.FieldPos(0)
		s.endLine = s.lastLine(rec)
		if allBlank(rec) {
			continue // e.g. ",,,," rows that spreadsheets write below the data
		}
		raw.line = line
		if len(rec) != len(s.header) {
			raw.errs = append(raw.errs, &RowError{Line: line,
				Err: problemf(ErrMalformed, "the row has %d fields but the header has %d; quote values that contain commas", len(rec), len(s.header))})
			raw.skip = true
			return nil
		}
		for i, v := range rec {
			if s.cols[i] == slotKept {
				cell, _ := json.Marshal(v)
				appendKept(raw, s.header[i], cell)
				continue
			}
			val := &raw.vals[s.cols[i]]
			val.name, val.text = s.header[i], v
			if !utf8.ValidString(v) {
				val.bad = true
				raw.errs = append(raw.errs, &RowError{Line: line, Field: s.header[i],
					Err: problemf(ErrMalformed, "is not valid UTF-8 text; save the file as UTF-8")})
			}
		}
		return nil
	}
}

// finish has nothing to add: the header told every problem with the
// columns.
func (s *csvSource) finish() []*RowError { return nil }

// lastLine returns the line on which rec ends: quoted fields may span
// lines.
func (s *csvSource) lastLine(rec []string) int {
	last := len(rec) - 1
	line, _ := s.cr.FieldPos(last)
	return line + strings.Count(rec[last], "\n")
}

func allBlank(rec []string) bool {
	for _, v := range rec {
		if strings.TrimSpace(v) != "" {
			return false
		}
	}
	return true
}

func csvParseProblem(pe *csv.ParseError) *problem {
	switch {
	case errors.Is(pe.Err, csv.ErrBareQuote):
		return problemf(ErrMalformed, "a \" inside an unquoted value (line %d, byte %d); put the value in double quotes and double each \" inside it", pe.Line, pe.Column)
	case errors.Is(pe.Err, csv.ErrQuote):
		return problemf(ErrMalformed, "a quoted value is not closed properly (line %d, byte %d); end it with \" and double each \" inside it", pe.Line, pe.Column)
	}
	return problemf(ErrMalformed, "cannot parse the CSV: %v", pe.Err)
}

// rowLimiter fails reading once the current row has grown past max bytes,
// so that a row that never ends (no line end, or an unterminated quote) is
// not read into memory whole. The csv.Reader buffers ahead a few KiB, which
// only blurs the limit by that much.
type rowLimiter struct {
	r        io.Reader
	n        int64 // bytes read so far
	rowStart int64 // offset at which the current row starts
	max      int64
}

var errRowTooLong = errors.New("row too long")

func (l *rowLimiter) Read(p []byte) (int, error) {
	if l.n-l.rowStart > l.max {
		return 0, errRowTooLong
	}
	n, err := l.r.Read(p)
	l.n += int64(n)
	return n, err
}
