package account

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/pikabatch/pikabatch/store"
)

// The lines below are told alike by the run's summary and by status: the
// figures own their wording, so that the two surfaces cannot drift apart.

// OrphanLine reports the jobs no manifest row claims (Figures.Orphans);
// inFlight of them had renders to collect, which collect says how.
func OrphanLine(n int, keys []string, inFlight int, collect string) string {
	s := fmt.Sprintf("orphans %d (%s): state entries no manifest row claims (id renamed or recased, row edited or given an id); flagged in results.jsonl, never submitted",
		n, Examples(keys, n))
	if inFlight > 0 {
		s += fmt.Sprintf("; %d with a render in flight or not downloaded, %s", inFlight, collect)
	}
	return s
}

// LimitLine says what the run saw of the account's limit on jobs at once
// (Figures.AccountJobs).
func LimitLine(jobs int) string {
	return fmt.Sprintf("account limit: a submit was refused with %s of this run on the account", Plural(jobs, "job"))
}

// WordCounts lists status words outside the API's docs with their counts,
// by word.
func WordCounts(words map[string]int) string {
	keys := make([]string, 0, len(words))
	for k := range words {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%q %d", k, words[k])
	}
	return strings.Join(parts, ", ")
}

// Examples lists keys, the first of total, with an ellipsis when some are
// left out.
func Examples(keys []string, total int) string {
	s := strings.Join(keys, ", ")
	if total > len(keys) {
		s += ", …"
	}
	return s
}

// Plural is "1 job" or "3 jobs": n and the noun, in the plural unless n is
// one. Counts printed bare ("1 jobs") read as a mistake.
func Plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	if strings.HasSuffix(noun, "x") || strings.HasSuffix(noun, "s") || strings.HasSuffix(noun, "ch") || strings.HasSuffix(noun, "sh") {
		return strconv.Itoa(n) + " " + noun + "es" // indexes, not "indexs"
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

// StateCounts lists the states that have jobs, in life order.
func StateCounts(by map[store.State]int) string {
	var parts []string
	for _, s := range store.AllStates() {
		if n := by[s]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, s))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// Bytes is n bytes in B, kB or MB, as sizes are printed.
func Bytes(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f kB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// WaitingFiles is "1 file waits" or "N files wait".
func WaitingFiles(n int) string {
	if n == 1 {
		return "1 file waits"
	}
	return Plural(n, "file") + " wait"
}

// String is what a run copied to its bucket prefix (--sync-to), in one
// line.
func (c Copies) String() string {
	s := fmt.Sprintf("copied to %s: %s sent (%s), %d already there", c.To, Plural(c.Uploaded, "file"), Bytes(c.Bytes), c.Present)
	if c.Waiting > 0 {
		s += fmt.Sprintf("; %s for the next run", WaitingFiles(c.Waiting))
	}
	return s
}
