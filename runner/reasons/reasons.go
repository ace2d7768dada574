// Package reasons keeps a run's failure reasons bounded. Failure reasons
// are the API's own free text, and a million rows may fail with a million
// distinct messages. Normalize first folds the variants of one message
// (the IDs, long numbers and URLs inside it) into one reason; of the
// distinct reasons, a run counts the first Counted apart and the rest
// under Other (64 reasons of at most 200 bytes: 13 kB however long the
// run). A summary, a notification and `pikabatch status` then keep the
// Shown most frequent (Top, in the order of Rank) and fold the rest into
// Other too: ten lines are what a person reads at the end of a run or in a
// chat message, and the job records keep every message whole.
//
// The runner counts with it and live groups a batch's failures with it,
// so both show the same reasons without live importing the runner.
package reasons

import (
	"slices"
	"strings"
)

// The bounds.
const (
	// Counted is how many distinct reasons a run counts apart.
	Counted = 64
	// Shown is how many reasons a summary or status lists by name.
	Shown = 10
	// Other is the reason under which the folded failures count.
	Other = "(other)"

	maxBytes = 200
)

// Normalize is the reason a failure message counts under: its
// words that hold a URL become "<url>", and those that hold a digit and
// run to 8 characters or more (request IDs, UUIDs, hashes, timestamps,
// byte counts) become "<id>", so that "job 3f9a2c71e0 failed" and
// "job 77b01d44aa failed" count as one. Short numbers such as HTTP
// statuses and error codes tell failures apart and stay. Runs of spaces
// become one, and a reason is cut at 200 bytes.
func Normalize(msg string) string {
	words := strings.Fields(msg)
	for i, w := range words {
		// Quotes, brackets and punctuation around a word are kept.
		core := strings.TrimFunc(w, func(r rune) bool { return strings.ContainsRune("\"'`()[]{}<>,.;:!?", r) })
		if core == "" {
			continue
		}
		switch {
		case strings.Contains(core, "://"):
			words[i] = strings.Replace(w, core, "<url>", 1)
		case len(core) >= 8 && strings.ContainsAny(core, "0123456789"):
			words[i] = strings.Replace(w, core, "<id>", 1)
		}
	}
	r := strings.Join(words, " ")
	if len(r) > maxBytes {
		r = strings.ToValidUTF8(r[:maxBytes-len("…")], "") + "…"
	}
	return r
}

// Top keeps the n most frequent reasons of counts (ties: by
// reason) and folds the rest, with any Other already counted, into
// Other. It returns a new map; nil when counts is empty.
func Top(counts map[string]int, n int) map[string]int {
	if len(counts) == 0 {
		return nil
	}
	ranked := Rank(counts)
	out := make(map[string]int, min(len(ranked), n+1))
	for i, r := range ranked {
		if i < n && r != Other {
			out[r] = counts[r]
			continue
		}
		out[Other] += counts[r]
	}
	return out
}

// Rank lists the reasons of counts most frequent first (ties: by
// reason), Other last: the order a summary prints them in.
func Rank(counts map[string]int) []string {
	ranked := make([]string, 0, len(counts))
	for r := range counts {
		ranked = append(ranked, r)
	}
	slices.SortFunc(ranked, func(a, b string) int {
		switch {
		case a == Other:
			return 1
		case b == Other:
			return -1
		case counts[a] != counts[b]:
			return counts[b] - counts[a]
		}
		return strings.Compare(a, b)
	})
	return ranked
}
