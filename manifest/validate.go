package manifest

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// Summary describes a validated manifest.
type Summary struct {
	Rows          int            // valid rows
	ByResolution  map[string]int // for models with a resolution; unset counted as the schema's default (Pika: "1080p")
	ByDuration    map[int]int    // seconds, for models with an integer duration; unset counted as the schema's default (Pika: 5)
	DuplicateRows int            // rows without ids whose parameters equal an earlier row (they stay separate jobs)
	WithoutID     int            // rows without ids: their keys are derived from their values
	Kept          []string       // names of the kept columns (Config.Keep) seen, in order of first appearance
}

// Validate streams the whole manifest once, collects every error, and
// returns a *ValidationError if there was any (keeping MaxErrors of them
// and counting the rest), so that a caller can reject the whole manifest
// before submitting anything. The Summary counts the valid rows, also when
// there are errors.
//
// fn, if non-nil, is called for each valid row in file order; it is called
// before the rest of the file is checked, so a caller that must not act on
// an invalid manifest should only stage rows in fn. An error from fn stops
// the scan and is returned as is, as is a read error or ctx's error.
func Validate(ctx context.Context, path string, format Format, fn func(Row) error) (Summary, error) {
	return ValidateConfig(ctx, path, Config{Format: format}, fn)
}

// ValidateConfig is Validate for any model (see OpenConfig).
func ValidateConfig(ctx context.Context, path string, cfg Config, fn func(Row) error) (Summary, error) {
	if err := ctx.Err(); err != nil {
		return Summary{}, err
	}
	r, err := OpenConfig(path, cfg)
	if err != nil {
		return Summary{}, err
	}
	defer func() { _ = r.Close() }() // read-only: nothing to lose

	verr := &ValidationError{File: path}
	keys := unknownKeys{}
	for i := 1; ; i++ {
		if i%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return r.Summary(), err
			}
		}
		row, err := r.Next()
		if err == io.EOF {
			break
		}
		var ve *ValidationError
		var re *RowError
		switch {
		case err == nil:
			if fn != nil {
				if err := fn(row); err != nil {
					return r.Summary(), err
				}
			}
		case errors.As(err, &ve):
			for _, e := range ve.Errors {
				keys.add(verr, e)
			}
		case errors.As(err, &re):
			keys.add(verr, re)
		default:
			return r.Summary(), err
		}
	}
	keys.tell()
	if verr.Total > 0 {
		return r.Summary(), verr
	}
	return r.Summary(), nil
}

// unknownKeys folds the errors of an unknown JSONL key (or a kept one that
// would shadow an export column) into the first, so that a key a dataset
// has on every line is one error saying on how many lines it is, rather
// than one per line that buries the rest. CSV names
// its columns once, in the header, and needs no folding.
type unknownKeys map[string]*repeatedKey

type repeatedKey struct {
	first *RowError
	lines int
}

// add adds re to verr unless it repeats an unknown key already added.
func (u unknownKeys) add(verr *ValidationError, re *RowError) {
	if re.Line == 0 || re.Field == "" || !(errors.Is(re, ErrUnknownColumn) || errors.Is(re, ErrReservedColumn)) || errors.Is(re, ErrBadHeader) {
		verr.add(re)
		return
	}
	if k, ok := u[re.Field]; ok {
		k.lines++
		return
	}
	u[re.Field] = &repeatedKey{first: re, lines: 1}
	verr.add(re)
}

// tell rewrites the first error of each key found on several lines.
func (u unknownKeys) tell() {
	for name, k := range u {
		if k.lines < 2 {
			continue
		}
		msg := fmt.Sprintf("%v (on %d lines, from this one on)", k.first.Err, k.lines)
		if !errors.Is(k.first, ErrReservedColumn) {
			msg += fmt.Sprintf("; to read it, map a field to it (--map FIELD=%s) or keep it with the results (--keep-columns %s)", name, name)
		}
		p := &problem{msg: msg, kinds: []error{k.first.Err}}
		k.first.Err = p
	}
}
