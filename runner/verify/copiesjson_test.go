package verify_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner/verify"
)

func TestStateCopiesCheck(t *testing.T) {
	t.Parallel()
	skipped, err := json.Marshal(verify.StateCopies{StateFile: "a.db", Skipped: "locked"}.Check())
	require.NoError(t, err)
	assert.Equal(t, `{"state_file":"a.db","copies":0,"ok":0,"waiting":0,"skipped":"locked","findings":[]}`, string(skipped),
		"a skipped state file has findings [], never null")

	f := verify.Finding{Key: "s3://b/p/x.mp4", Path: "x.mp4", Problem: verify.Missing}
	c := verify.StateCopies{StateFile: "b.db", Report: &verify.CopiesReport{To: "s3://b/p", Copies: 3, OK: 2, Waiting: 1,
		Findings: []verify.Finding{f}}}.Check()
	assert.Equal(t, verify.CopiesCheck{StateFile: "b.db", To: "s3://b/p", Copies: 3, OK: 2, Waiting: 1,
		Findings: []verify.Finding{f}}, c)
}
