package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/pikabatch/pikabatch/cmd/pikabatch/internal/bench"
	"github.com/pikabatch/pikabatch/manifest"
	"github.com/pikabatch/pikabatch/runner"
	"github.com/pikabatch/pikabatch/runner/account"
	"github.com/pikabatch/pikabatch/runner/api"
	"github.com/pikabatch/pikabatch/runner/live"
	"github.com/pikabatch/pikabatch/runner/results"
	"github.com/pikabatch/pikabatch/runner/verify"
	"github.com/pikabatch/pikabatch/store"
)

// The --json outputs' wire types. cmd owns them, so that a library's
// struct can change without changing what scripts read: every key is
// snake_case, every output an object with "version" (README.md, "JSON
// output"; TestJSONKeys holds each one's keys). Durations are integer
// nanoseconds in keys ending _ns, times RFC 3339. A live run's figures
// are live.Figures, the control socket's wire type, in run's output and
// status's this_run alike.

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

// apiCallsJSON is api.Calls: HTTP requests by kind (every attempt), the
// retries among them, the 429s received and the slowdowns they caused.
type apiCallsJSON struct {
	Submit      int64 `json:"submit"`
	Status      int64 `json:"status"`
	Result      int64 `json:"result"`
	Cancel      int64 `json:"cancel"`
	Retries     int64 `json:"retries"`
	RateLimited int64 `json:"rate_limited"`
	// PollsRateLimited: of those 429s, the ones on status, result and
	// cancel calls (a rate limit's; the account's limit refuses submits).
	PollsRateLimited int64 `json:"polls_rate_limited"`
	Slowdowns        int64 `json:"slowdowns"`
}

func apiCallsOf(c api.Calls) apiCallsJSON {
	return apiCallsJSON{Submit: c.Submit, Status: c.Status, Result: c.Result, Cancel: c.Cancel,
		Retries: c.Retries, RateLimited: c.RateLimited, PollsRateLimited: c.PollsRateLimited, Slowdowns: c.Slowdowns}
}

// runJSON is `run --json` (and `demo`'s figures): the run's account and
// its API calls.
type runJSON struct {
	Version int `json:"version"`
	account.Figures
	APICalls apiCallsJSON `json:"api_calls"`
}

func runJSONOf(s runner.Summary, calls api.Calls) runJSON {
	return runJSON{Version: jsonVersion, Figures: s, APICalls: apiCallsOf(calls)}
}

// planJSON is `run --dry-run --json`: what a run would do with each row
// (runner.Plan).
type planJSON struct {
	Version         int `json:"version"`
	Rows            int `json:"rows"`
	New             int `json:"new"`
	Retry           int `json:"retry"`
	InFlight        int `json:"in_flight"`
	Download        int `json:"download"`
	Resend          int `json:"resend"`
	Held            int `json:"held"`
	Done            int `json:"done"`
	Failed          int `json:"failed"`
	Changed         int `json:"changed"`
	ChangedInFlight int `json:"changed_in_flight"`
	Submits         int `json:"submits"`
	Orphans         int `json:"orphans"`
	OrphansInFlight int `json:"orphans_in_flight"`
	// EstimatedCost is set with --price or --catalog.
	EstimatedCost *costJSON `json:"estimated_cost,omitempty"`
}

func planJSONOf(p runner.Plan) planJSON {
	return planJSON{Version: jsonVersion, Rows: p.Rows, New: p.New, Retry: p.Retry, InFlight: p.InFlight,
		Download: p.Download, Resend: p.Resend, Held: p.Held, Done: p.Done, Failed: p.Failed,
		Changed: p.Changed, ChangedInFlight: p.ChangedInFlight, Submits: p.Submits,
		Orphans: p.Orphans, OrphansInFlight: p.OrphansInFlight}
}

// validateJSON is `validate --json`; URLs are set with --check-urls only,
// where checkURLs writes them as they come (urlsJSON).
type validateJSON struct {
	Version       int            `json:"version"`
	Rows          int            `json:"rows"`
	ByResolution  map[string]int `json:"by_resolution"`
	ByDuration    map[string]int `json:"by_duration_s"` // seconds, as a string key
	DuplicateRows int            `json:"duplicate_rows"`
	URLs          []urlCheckJSON `json:"urls,omitempty"`
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

// urlCheckJSON is one row's image URL verdict.
type urlCheckJSON struct {
	Line        int    `json:"line"`
	Key         string `json:"key"`
	Field       string `json:"field,omitempty"` // the file input, for models with several
	URL         string `json:"url"`             // signatures redacted
	OK          bool   `json:"ok"`
	Status      int    `json:"status,omitempty"` // HTTP status of the answer used
	Method      string `json:"method,omitempty"` // HEAD or GET
	ContentType string `json:"content_type,omitempty"`
	Size        int64  `json:"size"` // bytes; -1 when the host did not say
	Problem     string `json:"problem,omitempty"`
}

func urlCheckJSONOf(c urlCheck) urlCheckJSON {
	return urlCheckJSON{Line: c.Line, Key: c.Key, Field: c.Field, URL: c.URL, OK: c.OK, Status: c.Status, Method: c.Method,
		ContentType: c.ContentType, Size: c.Size, Problem: c.Problem}
}

// statusJSON is `status --json`: each state file's status and the totals.
type statusJSON struct {
	Version int                 `json:"version"`
	Jobs    int                 `json:"jobs"`
	ByState map[store.State]int `json:"by_state"`
	// Account is the batches' accounts together: every row of the
	// manifest (all its shards read) and the spend.
	Account account.Ledger    `json:"account"`
	Batches []batchStatusJSON `json:"batches"`
	// Unreachable are state files held by a run this process cannot ask;
	// the totals leave them out.
	Unreachable []unreachableBatch `json:"unreachable,omitempty"`
	// Indexes are the results indexes status --from read in a bucket,
	// each with its account; Batches is then empty.
	Indexes []indexStatusJSON `json:"indexes,omitempty"`
}

// indexStatusJSON is one results index read from a bucket: a shard's or
// the batch's, and the account it keeps.
type indexStatusJSON struct {
	Index   string              `json:"index"` // its bucket URL
	Jobs    int                 `json:"jobs"`
	ByState map[store.State]int `json:"by_state"`
	Account account.Ledger      `json:"account"`
}

// batchStatusJSON is one state file's live.Status.
type batchStatusJSON struct {
	StateFile       string              `json:"state_file"`
	Live            *liveRunJSON        `json:"live,omitempty"`
	Jobs            int                 `json:"jobs"`
	ByState         map[store.State]int `json:"by_state"`
	Failures        []failureGroupJSON  `json:"failures,omitempty"`
	Uncertain       int                 `json:"uncertain"`
	UncertainKeys   []string            `json:"uncertain_keys,omitempty"`
	OldestActive    *activeJobJSON      `json:"oldest_active,omitempty"`
	Orphans         int                 `json:"orphans"`
	OrphanKeys      []string            `json:"orphan_keys,omitempty"`
	OrphansInFlight int                 `json:"orphans_in_flight,omitempty"`
	CostUSD         account.USD         `json:"cost_usd,omitempty"`     // reported by the API
	CostJobs        int                 `json:"cost_jobs,omitempty"`    // jobs with a reported cost
	NoCostJobs      int                 `json:"no_cost_jobs,omitempty"` // jobs sent without one
	// EstimatedCostUSD estimates EstimatedCostJobs of the NoCostJobs at
	// the price the state file recorded (EstimateBasis): marked, never
	// added to CostUSD.
	EstimatedCostUSD  account.USD `json:"estimated_cost_usd,omitempty"`
	EstimatedCostJobs int         `json:"estimated_cost_jobs,omitempty"`
	EstimateBasis     string      `json:"estimate_basis,omitempty"`
	// Account is the one account of the batch's rows and spend.
	Account account.Ledger `json:"account"`
}

// liveRunJSON is a live run's progress (live.RunInfo).
type liveRunJSON struct {
	PID        int             `json:"pid"`
	Host       string          `json:"host"`
	StartedAt  time.Time       `json:"started_at"`
	Command    string          `json:"command,omitempty"`
	Rows       int             `json:"rows"`
	Finished   int             `json:"finished"`
	Done       int             `json:"done"`
	Left       int             `json:"left"`
	InProgress int             `json:"in_progress"`
	ThisRun    account.Figures `json:"this_run"`
	APICalls   apiCallsJSON    `json:"api_calls"`
	PerMinute  float64         `json:"jobs_per_minute"`
	ETA        time.Duration   `json:"eta_ns"`
}

// failureGroupJSON is the jobs that ended with one error message.
type failureGroupJSON struct {
	Message string   `json:"message"`
	Count   int      `json:"count"`
	Keys    []string `json:"keys"` // the first few
}

// activeJobJSON is the job longest on the API.
type activeJobJSON struct {
	Key         string        `json:"key"`
	RequestID   string        `json:"request_id"`
	State       store.State   `json:"state"`
	SubmittedAt time.Time     `json:"submitted_at"`
	Age         time.Duration `json:"age_ns"`
}

func batchStatusJSONOf(s live.Status) batchStatusJSON {
	b := batchStatusJSON{StateFile: s.StateFile, Jobs: s.Jobs, ByState: s.ByState, Uncertain: s.Uncertain,
		UncertainKeys: s.UncertainKeys, Orphans: s.Orphans, OrphanKeys: s.OrphanKeys, OrphansInFlight: s.OrphansInFlight,
		CostUSD: account.Dollars(s.CostUSD), CostJobs: s.CostJobs, NoCostJobs: s.NoCostJobs,
		EstimatedCostUSD: account.Dollars(s.EstimatedCostUSD), EstimatedCostJobs: s.EstimatedCostJobs,
		EstimateBasis: s.EstimateBasis, Account: s.Account}
	if l := s.Live; l != nil {
		b.Live = &liveRunJSON{PID: l.PID, Host: l.Host, StartedAt: l.StartedAt, Command: l.Command, Rows: l.Rows,
			Finished: l.Finished, Done: l.Done, Left: l.Left, InProgress: l.InProgress, ThisRun: l.ThisRun,
			APICalls: apiCallsOf(l.Calls), PerMinute: l.PerMinute, ETA: l.ETA}
	}
	for _, g := range s.Failures {
		b.Failures = append(b.Failures, failureGroupJSON{Message: g.Message, Count: g.Count, Keys: g.Keys})
	}
	if a := s.OldestActive; a != nil {
		b.OldestActive = &activeJobJSON{Key: a.Key, RequestID: a.RequestID, State: a.State, SubmittedAt: a.SubmittedAt, Age: a.Age}
	}
	return b
}

// cancelJSON is `cancel --json`: each job's outcome, and the counts by
// outcome.
type cancelJSON struct {
	Version int                `json:"version"`
	Results []cancelResultJSON `json:"results"`
	Counts  map[string]int     `json:"counts"`
}

// cancelResultJSON is what happened to one job; Outcome is one of
// live's outcome words (cancelled, already_running, finished,
// not_submitted, not_found, error).
type cancelResultJSON struct {
	Key       string      `json:"key"`
	RequestID string      `json:"request_id,omitempty"`
	State     store.State `json:"state,omitempty"`
	Outcome   string      `json:"outcome"`
	Error     string      `json:"error,omitempty"`
}

func cancelJSONOf(r live.CancelReport) cancelJSON {
	c := cancelJSON{Version: jsonVersion, Results: []cancelResultJSON{}, Counts: r.Counts}
	for _, res := range r.Results {
		c.Results = append(c.Results, cancelResultJSON{Key: res.Key, RequestID: res.RequestID, State: res.State,
			Outcome: res.Outcome, Error: res.Error})
	}
	return c
}

// recoverJSON is `recover --json`: what the state file was rebuilt with.
type recoverJSON struct {
	Version   int       `json:"version"`
	Index     string    `json:"index"`
	IndexTime time.Time `json:"index_written_at"`
	StateFile string    `json:"state_file"`
	Jobs      int       `json:"jobs"`
	Done      int       `json:"done"`
	Refetch   int       `json:"refetch"`
	InFlight  int       `json:"in_flight"`
	Uncertain int       `json:"uncertain"`
	Pending   int       `json:"pending"`
	Finished  int       `json:"finished"`
	Journaled int       `json:"journaled"`
	KeptAs    string    `json:"damaged_kept_as,omitempty"`
}

func recoverJSONOf(r results.RecoverReport, keptAs string) recoverJSON {
	return recoverJSON{Version: jsonVersion, Index: r.Index, IndexTime: r.IndexTime, StateFile: r.StateFile,
		Jobs: r.Jobs, Done: r.Done, Refetch: r.Refetch, InFlight: r.InFlight, Uncertain: r.Uncertain,
		Pending: r.Pending, Finished: r.Finished, Journaled: r.Journaled, KeptAs: keptAs}
}

// verifyJSON is `verify --json`: the files checked and those that failed.
type verifyJSON struct {
	Version  int           `json:"version"`
	Jobs     int           `json:"jobs"`  // done jobs checked
	Files    int           `json:"files"` // their files
	OK       int           `json:"ok"`
	Bytes    int64         `json:"bytes"` // read and hashed
	Findings []findingJSON `json:"findings"`
	// BucketCopies are the checks of the copies each state file records
	// in a bucket (--sync-to); absent when none does.
	BucketCopies []copiesJSON `json:"bucket_copies,omitempty"`
}

// copiesJSON is the check of one state file's bucket copies.
type copiesJSON struct {
	StateFile string           `json:"state_file"`
	To        string           `json:"to,omitempty"` // the bucket prefix (no credentials, no signature)
	Copies    int              `json:"copies"`
	OK        int              `json:"ok"`
	Waiting   int              `json:"waiting"` // done files the next run uploads
	Skipped   string           `json:"skipped,omitempty"`
	Findings  []verify.Finding `json:"findings"`
}

// findingJSON is one file that failed the check.
type findingJSON struct {
	Key     string `json:"key"`
	Path    string `json:"path"`    // under --out
	Problem string `json:"problem"` // missing, wrong size, wrong SHA-256, unreadable, unsafe path, not a regular file
	Detail  string `json:"detail,omitempty"`
	Removed bool   `json:"removed,omitempty"`
}

// benchJSON is `bench --json`: each scenario's figures.
type benchJSON struct {
	Version   int            `json:"version"`
	Scenarios []bench.Result `json:"scenarios"`
}

func verifyJSONOf(r verify.Report, copies []copiesCheck) verifyJSON {
	v := verifyJSON{Version: jsonVersion, Jobs: r.Jobs, Files: r.Files, OK: r.OK, Bytes: r.Bytes, Findings: []findingJSON{}}
	for _, f := range r.Findings {
		v.Findings = append(v.Findings, findingJSON{Key: f.Key, Path: f.Path, Problem: string(f.Problem), Detail: f.Detail, Removed: f.Removed})
	}
	for _, c := range copies {
		cj := copiesJSON{StateFile: c.stateFile, Skipped: c.skipped, Findings: []verify.Finding{}}
		if r := c.report; r != nil {
			cj.To, cj.Copies, cj.OK, cj.Waiting = r.To, r.Copies, r.OK, r.Waiting
			cj.Findings = append(cj.Findings, r.Findings...)
		}
		v.BucketCopies = append(v.BucketCopies, cj)
	}
	return v
}

// modelJSON is one model of `models --json`; `models show --json` adds
// its fields and input schema.
type modelJSON struct {
	ModelID      string   `json:"model_id"`
	DisplayName  string   `json:"display_name,omitempty"`
	Categories   []string `json:"categories,omitempty"`
	BasePriceUSD *float64 `json:"base_price_usd,omitempty"`
	PriceUnit    string   `json:"price_unit,omitempty"`
}

func modelJSONOf(m api.Model) modelJSON {
	return modelJSON{ModelID: m.ID, DisplayName: m.DisplayName, Categories: m.Categories,
		BasePriceUSD: m.BasePriceUSD, PriceUnit: m.PriceUnit}
}

// modelsJSON is `models --json`.
type modelsJSON struct {
	Version int         `json:"version"`
	Models  []modelJSON `json:"models"`
	Total   int         `json:"total"`
}

func modelsJSONOf(list api.ModelList) modelsJSON {
	v := modelsJSON{Version: jsonVersion, Models: make([]modelJSON, 0, len(list.Models)), Total: list.Total}
	for _, m := range list.Models {
		v.Models = append(v.Models, modelJSONOf(m))
	}
	return v
}

// modelShowJSON is `models show ID --json`.
type modelShowJSON struct {
	Version      int         `json:"version"`
	ModelID      string      `json:"model_id"`
	DisplayName  string      `json:"display_name,omitempty"`
	Categories   []string    `json:"categories,omitempty"`
	BasePriceUSD *float64    `json:"base_price_usd,omitempty"`
	PriceUnit    string      `json:"price_unit,omitempty"`
	Fields       []fieldJSON `json:"fields"`
	// InputSchema is the catalog's JSON Schema as it is: saved to a file,
	// it is what --schema takes when the catalog cannot be reached.
	InputSchema json.RawMessage `json:"input_schema,omitempty"`
}

// fieldJSON is one input field of a model.
type fieldJSON struct {
	Name     string   `json:"name"`
	Type     string   `json:"type"`
	Required bool     `json:"required"`
	Default  any      `json:"default,omitempty"`
	Enum     []any    `json:"enum,omitempty"`
	Minimum  *float64 `json:"minimum,omitempty"`
	Maximum  *float64 `json:"maximum,omitempty"`
	Format   string   `json:"format,omitempty"`
}

func modelShowJSONOf(m api.Model, fields []schemaField) modelShowJSON {
	v := modelShowJSON{Version: jsonVersion, ModelID: m.ID, DisplayName: m.DisplayName, Categories: m.Categories,
		BasePriceUSD: m.BasePriceUSD, PriceUnit: m.PriceUnit, Fields: make([]fieldJSON, 0, len(fields)),
		InputSchema: m.InputSchema}
	for _, f := range fields {
		fj := fieldJSON{Name: f.Name, Type: f.Type, Required: f.Required, Minimum: f.Min, Maximum: f.Max, Format: f.Format}
		fj.Default = rawValue(f.Default)
		for _, e := range f.Enum {
			fj.Enum = append(fj.Enum, rawValue(e))
		}
		v.Fields = append(v.Fields, fj)
	}
	return v
}

// rawValue decodes a value the catalog gave; nil when there is none.
func rawValue(raw json.RawMessage) any {
	var v any
	if len(raw) == 0 || json.Unmarshal(raw, &v) != nil {
		return nil
	}
	return v
}

// balanceJSON is `balance --json`.
type balanceJSON struct {
	Version    int     `json:"version"`
	BalanceUSD float64 `json:"balance_usd"`
	Currency   string  `json:"currency"`
}
