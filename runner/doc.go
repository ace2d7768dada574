// Package runner drives a batch of image-to-video jobs from a validated
// manifest to downloaded files: it plans each row against the checkpoint
// store, submits through a bounded pool, polls with one adaptive policy,
// collects results and downloads them atomically into the output folder.
//
// The runner's promise is that a run can be stopped at any instant and run
// again: a row is submitted only when the store says it never was (or the
// documented uncertain-submit policy says so), a request ID is durable before
// anything else uses it, and a file appears under its final name only
// complete and fsynced.
//
// # Pacing: four mechanisms, and how they meet
//
// The API is the slow part: a run's speed is how busy it keeps the
// account's slots and how few calls it spends. Four mechanisms tune
// themselves while a run goes on. Each owns one question:
//
//   - How many requests a second? The shared rate limiter (--rps), built
//     by api.NewLimiter and used inside api.Client: a token bucket of one
//     second of the rate, empty at the start, refilled while the run
//     waits for jobs. A pacer in front of it hands tokens to result looks
//     and submits before status looks and cancels, and keeps half the
//     bucket for them, so that the wave of looks and refills after a wave
//     of finishes never waits behind status looks (api/pace.go). A 429
//     first ends the burst, and only 429s while sending evenly halve the
//     rate, which recovers linearly over 20 s (api/adapt.go).
//   - How many jobs on the account at once? jobSlots (slots.go): the
//     run's --concurrency, lowered to the account's own limit when a
//     submit is refused while the run's jobs fill it. The client asks it,
//     through the submit's api.SubmitOptions.Hold, about each 429 on it: slow the
//     shared rate (a rate limit), back off this submit only, or hold it
//     until a job of ours finishes (the account is full).
//   - When to look at each job? pollPolicy (poll.go): one schedule for
//     every job, learned from finished jobs (created_at/finished_at kept
//     within what our own looks saw), handing a freed slot to the job first
//     in line, and waking every poller when it learns something.
//   - When to give up? outage (outage.go): the run stops (exit 69) only
//     when every call has failed for --outage-limit; one job whose own
//     calls keep failing while others succeed is parked instead.
//
// They talk in one direction each: the client reports a submit's 429 to
// the slots, with how many other calls were refused so far (a rate limit
// refuses those too, a full account does not), and the slots answer with a
// decision; the runner reports each call's success or failure to the
// outage clock; the poll policy decides when a job is looked at and hands
// the call to the client, whose limiter decides when it leaves. The poll policy knows nothing of the
// rate: a schedule that spends few calls is what keeps the limiter's
// bucket for the calls that matter.
package runner
