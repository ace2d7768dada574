package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/pikabatch/pikabatch/runner/sim"
	"github.com/pikabatch/pikabatch/runner/sim/demo"
)

// simOptions are the simulator's flags; times are in milliseconds, as
// the flags take them.
type simOptions struct {
	addr                           string
	cfg                            sim.Config
	queueMS, runMS, ttlMS, retryMS int
}

func newSimCmd(stdout io.Writer) *cobra.Command {
	var o simOptions
	c := &cobra.Command{
		Use:   "sim [--addr HOST:PORT]",
		Short: "Run the simulated API standalone",
		Long:  sim.Usage,
		Example: `  pikabatch sim
  pikabatch sim --addr 127.0.0.1:8787 --token test --fault-429 0.05 --fault-lost 0.01`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return runSim(c.Context(), o, stdout)
		},
	}
	fs := c.Flags()
	fs.StringVar(&o.addr, "addr", "127.0.0.1:8787", "API listen `address`; result files are served on another port of the same host")
	// No flag default from the environment: help prints defaults, and
	// this one would be the token.
	fs.StringVar(&o.cfg.Token, "token", "", "bearer token to accept (default $RUNCOMFY_API_TOKEN; made up and printed if empty)")
	fs.StringVar(&o.cfg.Model, "model", sim.DefaultModel, "model ID served")
	fs.IntVar(&o.cfg.Slots, "slots", sim.DefaultSlots, "GPU slots of the simulated account")
	fs.IntVar(&o.queueMS, "queue-ms", 0, "extra `ms` each job waits in queue")
	fs.IntVar(&o.runMS, "run-ms", int(sim.DefaultRunTime.Milliseconds()), "`ms` a 5-second clip renders (10-second clips take twice as long; 0 = at once)")
	fs.Float64Var(&o.cfg.RunJitter, "jitter", 0, "± fraction of random jitter in render time")
	fs.BoolVar(&o.cfg.JitterByInput, "jitter-by-input", false, "draw each job's jitter from a hash of its input: a row takes the same time whoever submits it")
	fs.IntVar(&o.cfg.VideoSize, "video-size", sim.DefaultVideoSize, "`bytes` per result video")
	fs.IntVar(&o.cfg.MaxConcurrentSubmits, "max-jobs", 0, "account limit on jobs queued+running (429 above it; 0 = none)")
	fs.Float64Var(&o.cfg.RateLimit, "rate-limit", 0, "requests/s above which the API answers 429 (0 = none)")
	fs.IntVar(&o.ttlMS, "url-ttl-ms", 0, "`ms` a result URL stays valid (0 = forever)")
	fs.Int64Var(&o.cfg.Seed, "seed", 1, "seed for faults, jitter, request IDs (after --id-prefix) and video bytes")
	fs.Float64Var(&o.cfg.Faults.Rate429, "fault-429", 0, "fraction of API requests answered 429 with Retry-After")
	fs.IntVar(&o.retryMS, "retry-after-ms", int(sim.DefaultRetryAfter.Milliseconds()), "Retry-After sent with injected 429s (`ms`, rounded up to seconds)")
	fs.Float64Var(&o.cfg.Faults.Rate5xx, "fault-5xx", 0, "fraction of API requests answered 5xx")
	fs.Float64Var(&o.cfg.Faults.RateDrop, "fault-drop", 0, "fraction of API connections dropped before processing")
	fs.Float64Var(&o.cfg.Faults.RateLostResponse, "fault-lost", 0, "fraction of submits that create a job but lose the response")
	fs.Float64Var(&o.cfg.Faults.RateTruncate, "fault-truncate", 0, "fraction of downloads cut off midway")
	fs.Float64Var(&o.cfg.Faults.RateFail, "fault-fail", 0, "fraction of generations that fail")
	fs.Float64Var(&o.cfg.Faults.RateExpire, "fault-expire", 0, "fraction of result URLs already expired when fetched")
	fs.Float64Var(&o.cfg.Faults.RateNeverFinish, "fault-never", 0, "fraction of jobs that never finish")
	fs.Float64Var(&o.cfg.Faults.Rate402, "fault-402", 0, "fraction of submits refused for lack of credits (HTTP 402, error_code 400002)")
	fs.Float64Var(&o.cfg.Faults.RateGatewayAfterCreate, "fault-gateway", 0,
		"fraction of submits that create the job, then answer 502/504 with a gateway's HTML page (a paid job the client is not told about)")
	fs.Float64Var(&o.cfg.Faults.RateOddStatus, "fault-odd-status", 0,
		"fraction of status/result answers for queued or running jobs with a word outside the docs (pending, waiting, starting, processing)")
	fs.BoolVar(&o.cfg.Faults.OddQueued, "fault-odd-queued", false,
		`with --fault-odd-status, queued jobs may also read "queued", a word no RunComfy client knows`)
	fs.IntVar(&o.cfg.BalanceJobs, "balance-jobs", 0,
		"the account pays for `N` jobs (of the default 5 seconds), then submits get error_code 400002 until topped up (0 = unlimited)")
	fs.Float64Var(&o.cfg.BalanceUSD, "balance-usd", 0,
		"the account holds `USD` dollars; each accepted submit takes its catalog price, then submits get 400002 (0 = unlimited)")
	fs.IntVar(&o.cfg.BalanceStatus, "balance-status", sim.DefaultBalanceStatus,
		"HTTP `status` of a submit the balance cannot pay (error_code 400002): 402 or 400")
	fs.StringVar(&o.cfg.Timestamps, "timestamps", sim.TimestampsSeconds, "precision of created_at/finished_at: s, ms or none")
	fs.StringVar(&o.cfg.ErrorShape, "error-shape", sim.ShapeErrorMessage,
		"error body: error_message, message_detail, nested, or mixed (rotates through the three)")
	fs.IntVar(&o.cfg.BadTokenStatus, "bad-token-status", sim.DefaultBadTokenStatus, "HTTP `status` of a missing or wrong token (error_code 400004): 401 or 400")
	fs.BoolVar(&o.cfg.FetchInputs, "fetch-inputs", false, "GET each file input (image, …_url) when a job starts, as the API does, and fail the job when it cannot be fetched: catches an expired or unsigned URL in a rehearsal (http and https only, from whatever host the URL names)")
	fs.StringVar(&o.cfg.IDPrefix, "id-prefix", "", "first 12 lowercase `hex` digits of every request ID (default random, so two simulators never share an ID)")
	return c
}

// runSim serves the simulated API until ctx ends.
func runSim(ctx context.Context, o simOptions, stdout io.Writer) error {
	cfg := o.cfg
	// Trimmed as run reads it, or the two would not agree.
	envToken := strings.TrimSpace(os.Getenv("RUNCOMFY_API_TOKEN"))
	if cfg.Token == "" {
		cfg.Token = envToken
	}
	cfg.QueueTime = time.Duration(o.queueMS) * time.Millisecond
	cfg.RunTime = time.Duration(o.runMS) * time.Millisecond
	if o.runMS == 0 {
		// sim.Config reads a zero RunTime as its default; asked for on the
		// command line, 0 means jobs that finish at once (the scale bench).
		cfg.RunTime = time.Nanosecond
	}
	cfg.URLTTL = time.Duration(o.ttlMS) * time.Millisecond
	cfg.Faults.RetryAfter = time.Duration(o.retryMS) * time.Millisecond
	madeUp := cfg.Token == ""

	srv, err := sim.Start(cfg, o.addr)
	if errors.Is(err, sim.ErrInvalidConfig) {
		return usagef("%v", err)
	}
	if err != nil {
		return fmt.Errorf("start simulator: %w", err)
	}
	defer srv.Close()
	srv.WriteBanner(stdout, madeUp)
	fmt.Fprintln(stdout, demo.TryLine(srv.APIURL, srv.Token(), envToken, exampleManifest))
	<-ctx.Done()
	return ctx.Err()
}

// exampleManifest is the repository's example manifest, from its root.
const exampleManifest = "examples/manifest.csv"
