package main

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/pikabatch/pikabatch/runner/bucket"
	"github.com/pikabatch/pikabatch/runner/bucketsync"
)

// TestBucketRefusalExitsNoPermission: copies that wait because the bucket
// could not be reached exit "try again later"; copies that wait because
// it refused access exit "no permission", since waiting will not cure it.
func TestBucketRefusalExitsNoPermission(t *testing.T) {
	ctx := context.Background()
	unreachable := &bucketsync.WaitingError{Files: 2, Cause: fmt.Errorf("dial tcp: connection refused")}
	assert.Equal(t, exitTempFail, exitCode(ctx, fmt.Errorf("run: %w", unreachable)))
	refused := &bucketsync.WaitingError{Files: 2, Cause: fmt.Errorf("s3://b/k: %w: AccessDenied", bucket.ErrDenied)}
	assert.Equal(t, exitNoPerm, exitCode(ctx, fmt.Errorf("run: %w", refused)))
}
