package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/pikabatch/pikabatch/runner/sim"
)

// TestAGatewayThatCreatesEveryJobExits69: a gateway that lets every submit
// create its paid job and answers 502 or 504 stops the run after a handful
// of jobs (it created 200 for 100 rows, and rendered none), with exit 69
// and one line naming the cause and the way on.
func TestAGatewayThatCreatesEveryJobExits69(t *testing.T) {
	srv := startSim(t, sim.Config{Slots: 16, Faults: sim.Faults{RateGatewayAfterCreate: 1}})
	dir := t.TempDir()
	var m strings.Builder
	m.WriteString("id,image,promptText\n")
	for i := range 100 {
		fmt.Fprintf(&m, "r%d,https://img.example.com/%d.jpg,waves %d\n", i, i, i)
	}
	manifest := writeFile(t, filepath.Join(dir, "m.csv"), m.String())
	code, stdout, stderr := invoke(t, tokenEnv(srv.APIURL),
		"run", "--manifest", manifest, "--out", filepath.Join(dir, "out"), "--concurrency", "4")
	assert.Equal(t, exitUnavailable, code, stderr)
	c := srv.Counters()
	assert.LessOrEqual(t, c.Submits, int64(12), "jobs created")
	assert.Contains(t, stderr, "submits are being answered with errors after possibly creating jobs")
	assert.Contains(t, stderr, "check the account's jobs")
	assert.Contains(t, stderr, "--hold-uncertain")
	assert.Contains(t, stdout, fmt.Sprintf("submits whose answer was lost: %d this run; re-sent %d", c.Submits, c.DuplicateSubmits))
}
