package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/spf13/cobra"
	"golang.org/x/time/rate"

	"github.com/pikabatch/pikabatch/runner/api"
	"github.com/pikabatch/pikabatch/runner/live"
	"github.com/pikabatch/pikabatch/store"
)

// cancelRPS paces a cancel made without a live run (a live run cancels
// through its own client and rate limit).
const cancelRPS = 5

// cancelOptions are cancel's flags.
type cancelOptions struct {
	batches batchFlags
	keys    []string // none: every queued job
	apiBase string
	asJSON  bool
}

func newCancelCmd(stdout io.Writer) *cobra.Command {
	var o cancelOptions
	c := &cobra.Command{
		Use:   "cancel --out DIR [--key K…]",
		Short: "Cancel queued jobs and record it (also while a run is live)",
		Long: `Ask the API to cancel a batch's queued jobs (or the named ones) and record
the outcome. While a run is live, it cancels for you (no token needed
here); otherwise RUNCOMFY_API_TOKEN (or RUNCOMFY_API_TOKEN_FILE, or
RUNCOMFY_TOKEN) is read. It exits 1 when a cancel failed, or a --key is
unknown or names a row not yet submitted; with --key or without, a job
already running is no failure: it is paid for, and the run collects its
video.`,
		Example: `  pikabatch cancel --out out
  pikabatch cancel --out out --key clip-007 --key clip-012 --json`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return runCancel(c.Context(), o, stdout)
		},
	}
	fs := c.Flags()
	o.batches.register(fs)
	fs.StringArrayVar(&o.keys, "key", nil, "cancel only this job `key` (repeat for several); default every queued job")
	fs.StringVar(&o.apiBase, "api-base", envOr("RUNCOMFY_API_BASE", api.DefaultBaseURL), "API base URL (env RUNCOMFY_API_BASE), used when no run is live")
	fs.BoolVar(&o.asJSON, "json", false, "print the outcome as JSON")
	markBatchRequired(c)
	return c
}

// runCancel cancels in every batch o names, through its live run or the
// API, and reports each job's outcome.
func runCancel(ctx context.Context, o cancelOptions, stdout io.Writer) error {
	origin, err := store.Origin(o.apiBase)
	if err != nil {
		return usagef("--api-base: %v", err)
	}
	newAPI := func() (live.Canceller, error) {
		tok, err := tokenFromEnv()
		if err != nil {
			return nil, err
		}
		return api.New(api.Config{BaseURL: o.apiBase, Token: tok, HTTPClient: &http.Client{Transport: transport(4)},
			Limiter: rate.NewLimiter(cancelRPS, 1)})
	}
	srcs, err := o.batches.open(ctx, live.OpenOptions{Write: true, API: newAPI, Command: "pikabatch cancel",
		Binding: store.Binding{Origin: origin}})
	if err != nil {
		return err
	}
	defer live.CloseAll(srcs)

	rep, err := live.CancelAll(ctx, srcs, o.keys)
	if o.asJSON {
		if perr := writeJSON(stdout, cancelJSONOf(rep)); perr != nil {
			return errors.Join(err, perr)
		}
	} else {
		printCancel(stdout, rep)
	}
	if err != nil {
		return err
	}
	if rep.Unfinished() {
		return fmt.Errorf("not every job asked for was cancelled")
	}
	return nil
}

var outcomeText = map[string]string{
	live.Cancelled:      "cancelled",
	live.AlreadyRunning: "already running: not cancelled; it is paid for, and the run collects its video",
	live.Finished:       "already finished",
	live.NotSubmitted:   "not submitted (nothing on the API to cancel)",
	live.NotFound:       "no such key",
	live.CancelFailed:   "cancel failed",
}

func printCancel(w io.Writer, rep live.CancelReport) {
	for _, r := range rep.Results {
		line := fmt.Sprintf("%-24s %s", r.Key, outcomeText[r.Outcome])
		if r.RequestID != "" {
			line += " [request " + r.RequestID + "]"
		}
		if r.Error != "" {
			line += ": " + r.Error
		}
		fmt.Fprintln(w, line)
	}
	// A job the API would not cancel is never recorded cancelled: it keeps
	// being polled and downloaded by the run (this one, or the next).
	line := fmt.Sprintf("%d cancelled, %d already running (collected by the run)", rep.Counts[live.Cancelled], rep.Counts[live.AlreadyRunning])
	if other := len(rep.Results) - rep.Counts[live.Cancelled] - rep.Counts[live.AlreadyRunning]; other > 0 {
		line += fmt.Sprintf(", %d other", other)
	}
	fmt.Fprintln(w, line)
}
