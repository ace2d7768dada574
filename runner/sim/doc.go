// Package sim is a simulated RunComfy Model API: the stand-in for the real
// service in tests, benchmarks, `pikabatch demo` and users' dry runs
// (`pikabatch sim`).
//
// It follows RunComfy's documented contract (its Model API docs) to the
// letter: the same paths, JSON shapes and job states, bearer-token auth,
// and input validation against the schema of pika/pika-2-2/image-to-video.
// The result endpoint says "succeeded" where the status endpoint says
// "completed"; cancel answers 202 with an outcome ("cancelled" for a queued
// job, with the documented example's status "completed", or
// "not_cancellable" for a running or finished one, which goes on); errors
// carry a numeric error_code (the Code constants) and a message. Result
// files are served by a second handler, FilesHandler, meant to run on a
// different origin like a real storage host; its URLs are pre-signed, may
// expire, need no token, and count every request that carries one.
//
// # Account model
//
// The account has Config.Slots GPU slots and one FIFO queue. A job waits in
// the queue (in_queue, with queue_position) until a slot is free and
// Config.QueueTime has passed since it was submitted, runs for its run time
// (in_progress), then ends completed or failed. The timeline is computed
// lazily from Config.Now: every request first advances the account to the
// current time, processing finishes in time order and starting the next
// queued job at the exact instant a slot frees. There are no goroutines or
// timers per job, so a test moves a fake clock and sees an exact schedule no
// matter when its requests arrive, and 20,000 jobs cost O(log n) each.
//
// # Where the docs are silent
//
// The docs do not say which HTTP status carries each error_code, where the
// message sits, how precise timestamps are, or which status words besides the
// documented ones may appear. The defaults are what RunComfy's own clients
// read ({"error_code": …, "error_message": …}, whole-second timestamps);
// Config.ErrorShape, Config.BadTokenStatus, Config.BalanceStatus,
// Config.Timestamps and Faults.RateOddStatus vary them so that a client is
// tested against each. By default an empty balance answers HTTP 402 and
// the odd status words are pending, waiting, starting and processing: what
// RunComfy's ComfyUI nodes read (Faults.OddQueued adds "queued", which they
// do not know).
// Config.BalanceJobs and Config.BalanceUSD play an account that runs out of
// money mid-run and is topped up while the simulator runs (AddBalanceUSD,
// POST /_sim/balance); GET /prod/v2/balance reports it as RunComfy's CLI reads
// it. The catalog (Config.Catalog, GET /v1/models, shaped as RunComfy's CLI
// and partner nodes read it) prices each job, per output or per second of
// output (video models, pika included, per second of their duration, as
// RunComfy's catalog prices video), and the result endpoint reports it as "cost" when asked with
// include_cost=true;
// Expire and Disown make a request answer 404001 or 403001.
//
// Request IDs are UUIDs whose first 12 hex digits are a prefix random per
// Server (Config.IDPrefix fixes it) and whose other digits come from
// Config.Seed: two simulators never hand out the same ID, and a test that
// needs the same IDs again sets both IDPrefix and Seed.
//
// # Faults
//
// Config.Faults injects what a careful client must survive: 429s with
// Retry-After, 5xx, dropped connections, submits that create a job but lose
// their response (the paid-duplicate hazard), truncated and expired
// downloads, failed generations, jobs that never finish, and submits that
// create a job and then answer 502 or 504 as a gateway that gave up would
// (the same hazard, which a client cannot tell from a refusal). Every random
// choice comes from Config.Seed (request IDs after their prefix), so a run is
// reproducible for a sequential client. Request faults (drop, 429, 5xx, lost
// response, 402, gateway after create, odd status words) use one stream and
// per-job choices (run-time jitter, failure, never finishing, an expired
// first URL, a truncated first download) use another, so changing one rate
// does not reshuffle the request IDs.
//
// Two faults are applied once per job rather than on every attempt, so that a
// rate of 1.0 still lets a correct client finish: RateExpire expires the first
// URL issued for a job (asking the result endpoint again issues a valid one),
// and RateTruncate cuts off the first download of each file (a Range request
// or a new download then succeeds).
//
// A job drawn by RateNeverFinish reads in_progress forever once it starts and
// keeps its slot, as a job running on a GPU does; it cannot be cancelled, so
// each one shrinks the account for the rest of the run.
//
// # Inputs
//
// By default the simulator only checks that a file input is an absolute
// http or https URL (or, for pika's image, a base64 data:image URI, as
// RunComfy's own nodes send inline files). With Config.FetchInputs it
// also GETs each file input when the job takes a slot, as the API does
// before it generates, and a job whose input answers anything but 2xx, or
// nothing within Config.FetchTimeout, fails when the fetch answers with a failed
// result naming the field and the status, never the URL (a pre-signed URL
// is a credential). The simulator listens on loopback, but these fetches
// go to whatever http or https host the URL names: it is a rehearsal of
// the manifest the user would submit.
//
// # Observing
//
// Counters reports what the simulator saw (also as JSON at GET
// /_sim/counters on the API handler, without auth), Jobs lists every job with
// its timeline (also at GET /_sim/jobs), and Video returns the exact bytes served for an output so
// tests can check downloads byte for byte.
//
// Start runs both handlers on loopback listeners for the CLI and end-to-end
// tests; tests that want httptest servers use APIHandler, FilesHandler and
// SetFilesBase instead.
package sim
