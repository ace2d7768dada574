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
package runner
