package runner

import (
	"time"

	"github.com/pikabatch/pikabatch/runner/backoff"
)

// retryWait is the runner's backoff before retrying a download, a poll or
// a call during an outage: exponential from base, capped at 10s, with full
// jitter so that many jobs don't retry in step.
func retryWait(base time.Duration) backoff.Policy {
	return backoff.Policy{Base: base, Max: 10 * time.Second}
}
