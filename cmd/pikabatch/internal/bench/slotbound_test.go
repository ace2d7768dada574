package bench

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner/sim"
)

// TestScriptRendersEveryRow: the slot-bound scenario's script clients
// take each row from submit to downloaded video, polling only the status
// until it finishes.
func TestScriptRendersEveryRow(t *testing.T) {
	srv, err := startSim(sim.Config{Slots: 2, RunTime: 30 * time.Millisecond, VideoSize: videoSize, Seed: 1})
	require.NoError(t, err)
	defer srv.close()
	sc := &script{base: srv.apiURL, token: srv.Token(), interval: 10 * time.Millisecond, client: &http.Client{}}
	defer sc.client.CloseIdleConnections()
	require.NoError(t, sc.run(context.Background(), slotboundRows(6)))
	c := srv.Counters()
	assert.EqualValues(t, 6, c.Completed)
	assert.EqualValues(t, 6, c.ResultCalls, "one result fetch per job")
	for _, j := range srv.Jobs() {
		assert.Equal(t, 1, j.Downloads, "job %s downloaded once", j.RequestID)
	}
}
