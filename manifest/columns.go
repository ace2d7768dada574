package manifest

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// ErrBadMapping means a Config's Map or Keep cannot be applied: a field
// the model does not have, or one column mapped onto two fields.
var ErrBadMapping = errors.New("bad column mapping")

// MaxKeptBytes bounds the kept columns of one row, as JSON: they are
// recorded with the job (see Config.Keep), whose record must stay small.
const MaxKeptBytes = 4 << 10

// slotKept marks a column that is no field but is kept (Config.Keep).
const slotKept = -2

// columns resolves a manifest's column and key names to slots: the
// mapping of Config.Map first, then the schema's names and aliases, then
// the columns Config.Keep carries along.
type columns struct {
	schema   *Schema
	mapped   map[string]int // column → slot, from Config.Map
	taken    map[string]bool
	keep     map[string]bool
	keepAll  bool
	reserved []string
}

func newColumns(s *Schema, cfg Config) (*columns, error) {
	c := &columns{schema: s, mapped: map[string]int{}, taken: map[string]bool{}, keep: map[string]bool{}, reserved: cfg.Reserved}
	fields := make([]string, 0, len(cfg.Map))
	for f := range cfg.Map {
		fields = append(fields, f)
	}
	slices.Sort(fields)
	for _, f := range fields {
		col := strings.TrimSpace(cfg.Map[f])
		slot, ok := s.lookupColumn(f)
		// Names are printed escaped: the schema's come from a file or the
		// catalog, and reach the terminal.
		pf, pcol := printable(f, 0), printable(col, 0)
		if !ok {
			if sugg := suggestColumn(s.known(), f); sugg != "" {
				return nil, fmt.Errorf("map %s=%s: %w: the model has no field %q; did you mean %q?", pf, pcol, ErrBadMapping, f, sugg)
			}
			return nil, fmt.Errorf("map %s=%s: %w: the model has no field %q; its fields are %s", pf, pcol, ErrBadMapping, f, printable(strings.Join(s.Fields(), ", "), 0))
		}
		if col == "" {
			return nil, fmt.Errorf("map %s=: %w: no column named", pf, ErrBadMapping)
		}
		if prev, dup := c.mapped[col]; dup {
			return nil, fmt.Errorf("map: %w: column %q is mapped to both %s and %s", ErrBadMapping, col, printable(s.slotName(prev), 0), printable(s.slotName(slot), 0))
		}
		c.mapped[col] = slot
		c.taken[s.slotName(slot)] = true
	}
	for _, k := range cfg.Keep {
		k = strings.TrimSpace(k)
		switch k {
		case "":
		case "*":
			c.keepAll = true
		default:
			if own := c.ownColumn(k); own != "" {
				return nil, fmt.Errorf("keep %s: %w: %s", printable(k, 0), ErrBadMapping, reservedProblem(k, own).msg)
			}
			c.keep[k] = true
		}
	}
	return c, nil
}

// ownColumn returns the export's own column that a kept column named name
// would shadow, or "".
func (c *columns) ownColumn(name string) string {
	for _, r := range c.reserved {
		if strings.EqualFold(r, name) {
			return r
		}
	}
	return ""
}

// reservedProblem says a kept column would shadow the export's own.
func reservedProblem(name, own string) *problem {
	return problemf(ErrReservedColumn, "column %s would be kept with the results, but %q is one of pikabatch's own columns in the CSV export, which it would shadow; rename it in the manifest, or map a field to it", quote(name), own)
}

// keptProblem returns the problem with keeping the column name, or nil.
func (c *columns) keptProblem(name string) *problem {
	if own := c.ownColumn(name); own != "" {
		return reservedProblem(name, own)
	}
	return nil
}

// lookup returns the slot of a column or key name (already trimmed):
// slotKept for a kept column; false for an unknown one.
func (c *columns) lookup(name string) (int, bool) {
	if slot, ok := c.mapped[name]; ok {
		return slot, true
	}
	if slot, ok := c.schema.lookupColumn(name); ok {
		return slot, true
	}
	if c.keepAll || c.keep[name] {
		return slotKept, true
	}
	return 0, false
}

// unknown describes an unknown column or key, suggesting mapped names too.
func (c *columns) unknown(kind, name string) *problem {
	if len(c.mapped) == 0 {
		return c.schema.unknownColumn(kind, name)
	}
	known := c.schema.known()
	for col := range c.mapped {
		known = append(known, col)
	}
	slices.Sort(known[len(c.schema.known()):])
	if sugg := suggestColumn(known, name); sugg != "" {
		return problemf(ErrUnknownColumn, "unknown %s %s; did you mean %q? (names are case-sensitive)", kind, quote(name), sugg)
	}
	return problemf(ErrUnknownColumn, "unknown %s %s; known names are %s", kind, quote(name), strings.Join(known, ", "))
}

// missingSources describes each mapped column the manifest lacks (has says
// which it has), suggesting a name among names: the manifest's columns or
// keys. A typo in a mapping would otherwise leave its field unset on every
// row, silently when the misspelt column is kept.
func (c *columns) missingSources(noun string, has func(col string) bool, names []string) []*RowError {
	cols := make([]string, 0, len(c.mapped))
	for col := range c.mapped {
		if !has(col) {
			cols = append(cols, col)
		}
	}
	slices.Sort(cols)
	var errs []*RowError
	for _, col := range cols {
		f := c.schema.slotName(c.mapped[col])
		p := problemf(ErrBadMapping, "map %s=%s: %s %s", f, printable(col, 64), noun, quote(col))
		if sugg := suggestColumn(names, col); sugg != "" {
			p.msg += fmt.Sprintf("; did you mean %s?", quote(sugg))
		}
		errs = append(errs, &RowError{Field: f, Err: p})
	}
	return errs
}

// appendKept appends one kept column to the row's JSON object of them.
func appendKept(raw *rawRow, name string, jsonValue []byte) {
	if raw.kept == nil {
		raw.kept = append(raw.kept, '{')
	} else {
		raw.kept = append(raw.kept, ',')
	}
	k, _ := json.Marshal(name)
	raw.kept = append(raw.kept, k...)
	raw.kept = append(raw.kept, ':')
	raw.kept = append(raw.kept, jsonValue...)
}

// Mapping describes how a Config's Map and Keep apply, for a user to read:
// each mapped field with its column, and the kept columns ("*" for all).
func (cfg Config) Mapping() (mapped [][2]string, kept []string) {
	for f, col := range cfg.Map {
		mapped = append(mapped, [2]string{f, col})
	}
	slices.SortFunc(mapped, func(a, b [2]string) int { return strings.Compare(a[0], b[0]) })
	for _, k := range cfg.Keep {
		if k = strings.TrimSpace(k); k != "" {
			kept = append(kept, k)
		}
	}
	return mapped, kept
}
