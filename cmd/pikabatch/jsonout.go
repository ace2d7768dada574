package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"

	"github.com/pikabatch/pikabatch/cmd/pikabatch/internal/bench"
	"github.com/pikabatch/pikabatch/manifest"
	"github.com/pikabatch/pikabatch/manifest/probe"
	"github.com/pikabatch/pikabatch/runner"
	"github.com/pikabatch/pikabatch/runner/account"
	"github.com/pikabatch/pikabatch/runner/api"
	"github.com/pikabatch/pikabatch/runner/live"
	"github.com/pikabatch/pikabatch/runner/results"
	"github.com/pikabatch/pikabatch/runner/verify"
)

// The --json outputs. Each prints the type of the package that owns the
// concept, with its JSON tags (account.Figures, live.Status and
// live.RunInfo, api.Calls, runner.Plan, results.RecoverReport,
// verify.Report, probe.RowCheck), under a "version": one type per idea,
// the same on the control socket, in status, notify and --json. Every key
// is snake_case and every output an object; TestJSONKeys holds each one's
// keys, so that a field added to a library type is a key scripts see on
// purpose. Durations are integer nanoseconds in keys ending _ns, times
// RFC 3339. What stays here is the wrapping, and what has no library type
// of its own or differs on the wire (validate's string duration keys, the
// catalog's decoded field values).

// jsonVersion is the version of every --json schema. A key may be added
// within a version; one renamed, removed or changed in meaning takes the
// next.
const jsonVersion = 1

// writeJSON prints v as indented JSON for scripts, whole or not at all: a
// figure JSON cannot hold (an infinite sum) is an error the command ends
// with, never an empty answer and exit 0.
func writeJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("cannot print the answer as JSON: %w", err)
	}
	if _, err := w.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("cannot print the answer: %w", err)
	}
	return nil
}

// runJSON is `run --json` (and `demo`'s figures): the run's account and
// its API calls.
type runJSON struct {
	Version int `json:"version"`
	account.Figures
	APICalls api.Calls `json:"api_calls"`
}

func runJSONOf(s runner.Summary, calls api.Calls) runJSON {
	return runJSON{Version: jsonVersion, Figures: s, APICalls: calls}
}

// planJSON is `run --dry-run --json`: what a run would do with each row.
type planJSON struct {
	Version int `json:"version"`
	runner.Plan
	// EstimatedCost is set with --price or --catalog.
	EstimatedCost *costJSON `json:"estimated_cost,omitempty"`
}

func planJSONOf(p runner.Plan) planJSON {
	return planJSON{Version: jsonVersion, Plan: p}
}

// validateJSON is `validate --json`; URLs are set with --check-urls only,
// where checkURLs writes them as they come (urlsJSON). It is not
// manifest.Summary: the durations are integer keys there, and JSON keys
// are strings.
type validateJSON struct {
	Version       int              `json:"version"`
	Rows          int              `json:"rows"`
	ByResolution  map[string]int   `json:"by_resolution"`
	ByDuration    map[string]int   `json:"by_duration_s"` // seconds, as a string key
	DuplicateRows int              `json:"duplicate_rows"`
	URLs          []probe.RowCheck `json:"urls,omitempty"`
	// EstimatedCost is set with --price or --catalog.
	EstimatedCost *costJSON `json:"estimated_cost,omitempty"`
}

func validateJSONOf(s manifest.Summary) validateJSON {
	v := validateJSON{Version: jsonVersion, Rows: s.Rows, ByResolution: s.ByResolution,
		ByDuration: make(map[string]int, len(s.ByDuration)), DuplicateRows: s.DuplicateRows}
	for d, n := range s.ByDuration {
		v.ByDuration[strconv.Itoa(d)] = n
	}
	return v
}

// statusJSON is `status --json`: each state file's status and the totals.
type statusJSON struct {
	Version int `json:"version"`
	live.Report
	// Indexes are the results indexes status --from read in a bucket,
	// each with its account; Batches is then empty.
	Indexes []indexStatusJSON `json:"indexes,omitempty"`
}

// indexStatusJSON is one results index read from a bucket
// (results.IndexStatus).
type indexStatusJSON = results.IndexStatus

// cancelJSON is `cancel --json`: each job's outcome, and the counts by
// outcome.
type cancelJSON struct {
	Version int `json:"version"`
	live.CancelReport
}

func cancelJSONOf(r live.CancelReport) cancelJSON {
	if r.Results == nil {
		r.Results = []live.CancelResult{} // [], never null
	}
	return cancelJSON{Version: jsonVersion, CancelReport: r}
}

// recoverJSON is `recover --json`: what the state file was rebuilt with,
// and where the damaged one was kept.
type recoverJSON struct {
	Version int `json:"version"`
	results.RecoverReport
	KeptAs string `json:"damaged_kept_as,omitempty"`
}

func recoverJSONOf(r results.RecoverReport, keptAs string) recoverJSON {
	return recoverJSON{Version: jsonVersion, RecoverReport: r, KeptAs: keptAs}
}

// verifyJSON is `verify --json`: the files checked and those that failed.
type verifyJSON struct {
	Version int `json:"version"`
	verify.Report
	// BucketCopies are the checks of the copies each state file records
	// in a bucket (--sync-to); absent when none does.
	BucketCopies []verify.CopiesCheck `json:"bucket_copies,omitempty"`
}

// benchJSON is `bench --json`: each scenario's figures.
type benchJSON struct {
	Version   int            `json:"version"`
	Scenarios []bench.Result `json:"scenarios"`
}

func verifyJSONOf(r verify.Report, copies []verify.StateCopies) verifyJSON {
	if r.Findings == nil {
		r.Findings = []verify.Finding{} // [], never null
	}
	v := verifyJSON{Version: jsonVersion, Report: r}
	for _, c := range copies {
		v.BucketCopies = append(v.BucketCopies, c.Check())
	}
	return v
}

// modelsJSON is `models --json`.
type modelsJSON struct {
	Version int `json:"version"`
	api.ModelPage
}

// modelShowJSON is `models show ID --json`.
type modelShowJSON struct {
	Version int `json:"version"`
	api.ModelDetail
}

// balanceJSON is `balance --json`.
type balanceJSON struct {
	Version int `json:"version"`
	api.Balance
}
