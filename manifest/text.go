package manifest

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

// WriteCounts writes the summary's counts for people: rows by
// resolution, by duration, and the rows that repeat an earlier one.
func (s Summary) WriteCounts(w io.Writer) {
	res := make([]string, 0, len(s.ByResolution))
	for r := range s.ByResolution {
		res = append(res, r)
	}
	sort.Strings(res)
	for _, r := range res {
		fmt.Fprintf(w, "  resolution %-6s %d\n", Printable(r), s.ByResolution[r])
	}
	durs := make([]int, 0, len(s.ByDuration))
	for d := range s.ByDuration {
		durs = append(durs, d)
	}
	sort.Ints(durs)
	for _, d := range durs {
		fmt.Fprintf(w, "  duration %2ds    %d\n", d, s.ByDuration[d])
	}
	if s.DuplicateRows > 0 {
		fmt.Fprintf(w, "  %d rows repeat an earlier row's parameters (each is still its own job)\n", s.DuplicateRows)
	}
}

// WriteMapping writes the mapping and the kept columns cfg applies
// (Mapping), for people; nothing when it applies none.
func (cfg Config) WriteMapping(w io.Writer) {
	mapped, kept := cfg.Mapping()
	if len(mapped) > 0 {
		parts := make([]string, len(mapped))
		for i, m := range mapped {
			parts[i] = m[0] + " ← " + m[1]
		}
		fmt.Fprintf(w, "  mapping: %s\n", strings.Join(parts, ", "))
	}
	switch {
	case len(kept) == 1 && kept[0] == "*":
		fmt.Fprintln(w, "  kept: every other column")
	case len(kept) > 0:
		fmt.Fprintf(w, "  kept: %s\n", strings.Join(kept, ", "))
	}
}
