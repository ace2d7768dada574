package sim_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner/sim"
)

// A simulator restarted from its Snapshot answers for the jobs of the one
// before: finished ones with their outcome and files, unfinished ones finish.
func TestSnapshotRestore(t *testing.T) {
	t.Parallel()
	var saved []sim.Snapshot
	cfg := sim.Config{Slots: 1, RunTime: 10 * time.Second, IDPrefix: "0123456789ab", Seed: 7,
		Faults: sim.Faults{RateFail: 0.5}}
	var first *env
	cfg.OnCreate = func(id string) {
		// Called before the client is answered: the snapshot has the job.
		snap := first.srv.Snapshot()
		require.Equal(t, id, snap.Jobs[len(snap.Jobs)-1].RequestID)
		saved = append(saved, snap)
	}
	first = setup(t, cfg)
	ids := []string{first.submit(input(0)), first.submit(input(1)), first.submit(input(2))}
	first.clock.Advance(10 * time.Second) // the first finished; the second runs; the third is queued
	require.Len(t, saved, 3)
	before := first.srv.Jobs()

	// Through JSON, as the demo keeps it.
	b, err := json.Marshal(first.srv.Snapshot())
	require.NoError(t, err)
	var snap sim.Snapshot
	require.NoError(t, json.Unmarshal(b, &snap))

	cfg.OnCreate = nil
	second := setup(t, cfg)
	require.NoError(t, second.srv.Restore(snap))
	assert.ErrorIs(t, second.srv.Restore(snap), sim.ErrSnapshot, "only into an empty simulator")

	assert.Equal(t, before[0].State, second.job(ids[0]).State, "a finished job keeps its outcome")
	if before[0].State == sim.StateCompleted {
		want, _ := first.srv.Video(ids[0], 0)
		resp, body, err := second.download(second.videoURL(ids[0]), nil)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Equal(t, want, body, "the same bytes: same seed")
	}
	assert.Equal(t, []string{"in_progress", "in_queue#0"}, second.briefStates(ids[1:]...), "unfinished jobs start again in order")
	first.clock.Advance(time.Hour)
	second.clock.Advance(time.Hour)
	for i, id := range ids {
		got := second.job(id)
		assert.Contains(t, []string{sim.StateCompleted, sim.StateFailed}, got.State, "job %d finished", i)
		assert.Equal(t, first.job(id).State, got.State, "job %d: its fate, drawn at creation, is kept", i)
	}

	// Resubmitting a restored job's input is a duplicate; a new one is not.
	second.submit(input(1))
	id := second.submit(input(3))
	assert.NotContains(t, ids, id)
	c := second.srv.Counters()
	assert.EqualValues(t, 2, c.Submits, "counters start from zero")
	assert.EqualValues(t, 1, c.DuplicateSubmits)

	other := setup(t, sim.Config{IDPrefix: "ffffffffffff", Seed: 7})
	assert.ErrorIs(t, other.srv.Restore(snap), sim.ErrSnapshot, "another prefix")
}

// A restored job keeps the price it was created at: the result's cost
// after a restart is what the job was charged, not zero.
func TestSnapshotKeepsPrices(t *testing.T) {
	t.Parallel()
	cat := sim.DefaultCatalog()
	for i := range cat {
		if cat[i].ID == sim.DefaultModel {
			cat[i].BasePriceUSD, cat[i].PriceUnit = 0.05, sim.UnitOutput
		}
	}
	cfg := sim.Config{RunTime: time.Second, IDPrefix: "0123456789ab", Seed: 7, Catalog: cat}
	first := setup(t, cfg)
	done, running := first.submit(input(0)), ""
	first.clock.Advance(time.Second)
	running = first.submit(input(1))
	b, err := json.Marshal(first.srv.Snapshot())
	require.NoError(t, err)
	var snap sim.Snapshot
	require.NoError(t, json.Unmarshal(b, &snap))

	second := setup(t, cfg)
	require.NoError(t, second.srv.Restore(snap))
	second.clock.Advance(time.Hour)
	for _, id := range []string{done, running} {
		code, m, _ := second.mustCall(http.MethodGet, "/v1/requests/"+id+"/result?include_cost=true", nil)
		require.Equal(t, http.StatusOK, code, "%v", m)
		assert.InDelta(t, 0.05, m["cost"], 1e-9, "job %s: %v", id, m)
	}
}
