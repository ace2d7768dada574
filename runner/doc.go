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
// # Pacing: five policies, and how they meet
//
// The API is the slow part: a run's speed is how busy it keeps the
// account's slots and how few calls it spends. Five mechanisms tune
// themselves while a run goes on. Each owns one question, and each is a
// pure policy: a type whose methods take an observation with the time it
// was made and return a decision, with no goroutine, I/O or context; a
// thin owner around it does the waiting. Each has table tests of its
// decisions.
//
//   - How many requests a second? api.ratePolicy (api/adapt.go): a 429
//     first ends the burst, and only 429s while sending evenly halve the
//     rate, which recovers linearly over 20 s. The client applies its
//     decisions to the shared limiter (--rps), whose pacer hands tokens to
//     result looks and submits before status looks (api/pace.go).
//   - How many jobs on the account at once? accountLimit (slots.go): the
//     run's --concurrency, lowered to the account's own limit when a
//     submit is refused while the run's jobs fill it, and crept back up.
//     jobSlots holds the slots and the waits.
//   - When to look at each job? schedule (poll.go): one schedule for
//     every job, learned from finished jobs (created_at/finished_at kept
//     within what our own looks saw), handing a freed slot to the job first
//     in line. While rows wait for a slot it spends calls noticing finishes
//     sooner (pollbound.go). pollPolicy serialises it and wakes every poller when it
//     says to plan again; the loop that looks is polling.go.
//   - When to give up? outage (outage.go): the run stops (exit 69) only
//     when every call has failed for --outage-limit; one job whose own
//     calls keep failing while others succeed is parked instead.
//   - When to stop paying for answers that never come? answerWatch
//     (answers.go), below.
//
// They meet in four explicit places, each one way. A submit's 429 goes
// from the client to the submit's own api.SubmitOptions.Hold, with
// api.Refusal.PollsRateLimited, the 429s other calls got so far (a rate
// limit refuses those too, a full account does not); accountLimit
// answers with an api.HoldDecision, and only AsRateLimit reaches
// ratePolicy. The run reports each call's success or failure to the
// outage clock. jobSlots tells the schedule whether rows wait for a slot
// (and wakes its pollers when one begins to): only then is a finish
// noticed sooner worth calls. The schedule decides when a job is looked
// at and hands the call to the client, whose limiter decides when it
// leaves; of the rate it knows only --rps, the budget its extra looks stay
// within: a schedule that spends few calls is what keeps the limiter's
// bucket for the calls that matter. All five are the run's own:
// a second Run starts them afresh.
//
// # Submits whose answers are lost
//
// A submit answered with a 5xx, or whose connection drops once it was
// sent, may have created a paid job: a gateway can give up after the API
// took it. A few such answers are the weather: the row is re-sent once
// and the possible duplicate charge counted. But a gateway that creates
// every job and answers 502 makes each row cost two jobs and render
// nothing, and nothing else fails, so the outage clock never ran.
//
// The policy for one row: its job is recorded "submitting", durably, at
// the send gate, before the request leaves. A lost answer, or a run that
// dies before it hears one, leaves the row "uncertain": the API has no
// idempotency key, so nothing tells a job it created from one it never
// saw. An uncertain row is re-sent at most Config.MaxResends times
// (--max-resends, default 1), each re-send counted and reported as a
// possible duplicate charge; with Config.HoldUncertain (--hold-uncertain),
// or once its re-sends are spent, it is held: left uncertain, not sent
// again, and counted in the summary and status. Re-sending by default
// trades a possible duplicate charge for a batch that finishes; holding
// trades it back.
//
// The run watches its submits' answers in the order they come, whatever
// worker sent them (answerWatch). "Lost answers in a row" counted across
// workers means nothing: with 32 workers, answers sent at once come back
// interleaved, and one straggler's success hides a broken gateway while
// a burst of bad luck among many looks like one. So the watch looks at a
// share first: while 70% of the last 10 answers are uncertain, submits go
// one at a time (at a run's start, one lost answer of one is enough: the
// run's first submit goes alone anyway). Sent alone, answers come back in
// the order they were sent, and "in a row" means what it says: 7
// uncertain answers in a row to submits sent alone, with no clear answer
// from anyone in between, stop new rows and re-sends alike. Jobs in
// flight are still collected, and the run ends with ErrUncertainSubmits
// (exit 69). A re-send always goes alone: it follows a lost answer, so it
// is rare when all is well and the first sign when it is not.
//
// The cost of the stop is bounded. A gateway that loses every answer from
// the start costs 8 jobs at any concurrency (it cost two per row). One
// that starts losing them mid-run costs the slots that free up before the
// window is mostly lost (at most twice the concurrency) and 7 more. Its
// false alarms are bounded too: the chaos runs lose about one submit
// answer in nine, and a quarter lost never stops a run
// (TestAnswerWatchNeverStopsOnAFewLostAnswers); the watch stops most runs
// only from about 60% lost, where most rows are sent twice.
//
// An uncertain answer is also a failed call on the outage clock, and any
// call that succeeds resets it: a gateway slow to answer its 502s (one a
// minute) stops the run at --outage-limit, before its count would.
package runner
