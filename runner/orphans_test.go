package runner_test

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"

	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner"
	"github.com/pikabatch/pikabatch/runner/internal/clocktest"
	"github.com/pikabatch/pikabatch/runner/results"
	"github.com/pikabatch/pikabatch/runner/sim"
	"github.com/pikabatch/pikabatch/store"
)

// writeCSV writes the manifest from a header and records.
func (e *env) writeCSV(header []string, recs [][]string) {
	e.t.Helper()
	f, err := os.Create(e.manifest)
	require.NoError(e.t, err)
	w := csv.NewWriter(f)
	require.NoError(e.t, w.Write(header))
	require.NoError(e.t, w.WriteAll(recs))
	require.NoError(e.t, f.Close())
}

// index reads results.jsonl.
func (e *env) index() map[string]results.Entry {
	e.t.Helper()
	f, err := os.Open(filepath.Join(e.out, results.IndexFile))
	require.NoError(e.t, err)
	defer f.Close()
	out := map[string]results.Entry{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var ie results.Entry
		require.NoError(e.t, json.Unmarshal(sc.Bytes(), &ie))
		out[ie.Key] = ie
	}
	require.NoError(e.t, sc.Err())
	return out
}

// stopAfterSubmits runs once and stops the run as soon as n request IDs
// are recorded: with the simulator's clock held, every job is in flight.
func (e *env) stopAfterSubmits(n int64) {
	e.t.Helper()
	ctx, cancel := context.WithCancel(e.t.Context())
	defer cancel()
	var submitted atomic.Int64
	_, err := e.runOnce(ctx, func(c *runner.Config) {
		c.Hooks.Submitted = func(string, string) {
			if submitted.Add(1) == n {
				cancel()
			}
		}
	})
	require.ErrorIs(e.t, err, context.Canceled)
}

// assertVideo checks that key is done with the simulator's video of its
// own request ID in its own file.
func (e *env) assertVideo(j store.Job) {
	e.t.Helper()
	require.Equal(e.t, store.StateDone, j.State, "%s: %s", j.Key, j.LastError)
	require.Len(e.t, j.Outputs, 1)
	assert.Equal(e.t, j.Key+".mp4", j.Outputs[0].Path)
	got, err := os.ReadFile(filepath.Join(e.out, j.Outputs[0].Path))
	require.NoError(e.t, err)
	want, ok := e.sim.Video(j.RequestID, 0)
	require.True(e.t, ok)
	assert.Equal(e.t, want, got, "the video of %s's own render", j.Key)
}

func TestOrphansAreReportedFlaggedAndCollected(t *testing.T) {
	t.Parallel()
	header := []string{"id", "image", "promptText", "seed"}
	rows := func(ids ...string) [][]string {
		var recs [][]string
		for i, id := range ids {
			recs = append(recs, []string{id, fmt.Sprintf("https://img.example.com/%d.jpg", i), fmt.Sprintf("scene %d", i), fmt.Sprint(i)})
		}
		return recs
	}
	ids := []string{"clip-0", "clip-1", "clip-2", "clip-3", "clip-4"}
	noIDs := []string{"", "", "", "", ""}
	cases := []struct {
		name string
		// v1 and v2 write the manifest before and after the edit.
		v1, v2 func(e *env)
	}{
		{"renamed id",
			func(e *env) { e.writeCSV(header, rows(ids...)) },
			func(e *env) { e.writeCSV(header, rows("clip-0", "clip-1", "renamed-2", "clip-3", "clip-4")) }},
		{"id case changed",
			func(e *env) { e.writeCSV(header, rows(ids...)) },
			func(e *env) { e.writeCSV(header, rows("clip-0", "clip-1", "CLIP-2", "clip-3", "clip-4")) }},
		{"no-id row edited",
			func(e *env) { e.writeCSV(header, rows(noIDs...)) },
			func(e *env) {
				recs := rows(noIDs...)
				recs[2][2] = "an edited prompt"
				e.writeCSV(header, recs)
			}},
		{"no-id row given an id",
			func(e *env) { e.writeCSV(header, rows(noIDs...)) },
			func(e *env) { e.writeCSV(header, rows("", "", "given-2", "", "")) }},
	}
	for _, tc := range cases {
		for _, inFlight := range []bool{false, true} {
			name := tc.name + "/done"
			if inFlight {
				name = tc.name + "/in flight"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				// The simulator's clock runs until the test stops it: jobs
				// then stay where they are, so "in flight when the run
				// stopped" holds without a race.
				clock := clocktest.Running()
				e := setup(t, 0, sim.Config{Now: clock.Now})
				tc.v1(e)
				if inFlight {
					clock.Stop()
					e.stopAfterSubmits(5)
					clock.Advance(time.Hour) // every job has finished
					clock.Start()
				} else {
					_, err := e.runOnce(t.Context(), nil)
					require.NoError(t, err)
				}
				before := e.jobs()
				require.Len(t, before, 5)

				tc.v2(e)
				sum, err := e.runOnce(t.Context(), nil)
				require.NoError(t, err, "every row is done; an orphan does not fail the run")
				assert.EqualValues(t, 6, e.sim.Counters().Submits, "the edited row is a new job, paid once; the orphan is never submitted")
				assert.Equal(t, 1, sum.Submitted)

				after := e.jobs()
				require.Len(t, after, 6)
				var orphan string
				for k := range before {
					if after[k].Orphan {
						require.Empty(t, orphan, "one orphan")
						orphan = k
					}
				}
				require.NotEmpty(t, orphan)
				assert.Equal(t, 1, sum.Orphans)
				assert.Equal(t, []string{orphan}, sum.OrphanKeys)
				assert.Equal(t, 5, sum.Final[store.StateDone], "orphans are not rows")
				e.assertVideo(after[orphan])
				if inFlight {
					assert.Contains(t, []store.State{store.StateSubmitted, store.StateQueued, store.StateRunning}, before[orphan].State)
					assert.Equal(t, 1, sum.OrphansInFlight)
					assert.Equal(t, 1, sum.OrphansCollected, "the paid render is downloaded")
				} else {
					assert.Zero(t, sum.OrphansInFlight)
					assert.Equal(t, before[orphan].DownloadedAt, after[orphan].DownloadedAt, "a done orphan is left alone")
				}
				idx := e.index()
				require.Len(t, idx, 6)
				for k, ie := range idx {
					assert.Equal(t, k == orphan, ie.Orphan, "index line of %s", k)
				}

				// The same manifest again: nothing to do, still reported.
				downloads := e.sim.Counters().Downloads
				sum, err = e.runOnce(t.Context(), nil)
				require.NoError(t, err)
				assert.Equal(t, 1, sum.Orphans)
				assert.Zero(t, sum.OrphansInFlight)
				assert.EqualValues(t, 6, e.sim.Counters().Submits)
				assert.Equal(t, downloads, e.sim.Counters().Downloads)

				// The old manifest back: its row claims the orphan again,
				// and the edited row's job is the orphan now.
				tc.v1(e)
				sum, err = e.runOnce(t.Context(), nil)
				require.NoError(t, err)
				assert.EqualValues(t, 6, e.sim.Counters().Submits)
				assert.Equal(t, 1, sum.Orphans)
				assert.NotEqual(t, []string{orphan}, sum.OrphanKeys)
				assert.False(t, e.jobs()[orphan].Orphan, "claimed again")
			})
		}
	}
}

func TestARowEditedInFlightHasItsRenderCollected(t *testing.T) {
	t.Parallel()
	clock := clocktest.Running()
	e := setup(t, 5, sim.Config{Now: clock.Now})
	clock.Stop()
	e.stopAfterSubmits(5)
	before := e.jobs()
	clock.Advance(time.Hour)
	clock.Start()

	e.writeManifest(5, func(i int, rec []string) {
		if i == 2 {
			rec[2] = "a different prompt"
		}
	})
	sum, err := e.runOnce(t.Context(), nil)
	require.ErrorIs(t, err, runner.ErrChanged)
	assert.Equal(t, 1, sum.Changed)
	assert.EqualValues(t, 5, e.sim.Counters().Submits, "the changed row is not submitted again")
	assert.Zero(t, sum.Orphans, "its key is still claimed")

	j := e.jobs()["clip-0002"]
	assert.Equal(t, before["clip-0002"].RequestID, j.RequestID)
	e.assertVideo(j) // downloaded under its recorded name
	assert.Equal(t, 5, sum.Downloaded)

	// Reported as changed again next time, never re-rendered.
	sum, err = e.runOnce(t.Context(), nil)
	require.ErrorIs(t, err, runner.ErrChanged)
	assert.Equal(t, 1, sum.Changed)
	assert.EqualValues(t, 5, e.sim.Counters().Submits)
}

func TestAnUncertainOrphanIsNeverSentAgain(t *testing.T) {
	t.Parallel()
	// Every submit's answer is lost: each row ends uncertain, re-sent once.
	// Three rows: more lost answers in a row stop the run
	// (TestAnAPIThatLosesEveryAnswerStopsTheRun).
	e := setup(t, 3, sim.Config{Faults: sim.Faults{RateLostResponse: 1}})
	_, err := e.runOnce(t.Context(), nil)
	require.ErrorIs(t, err, runner.ErrHeld)
	require.EqualValues(t, 6, e.sim.Counters().Submits)
	before := e.jobs()["clip-0002"]
	require.Equal(t, store.StateUncertain, before.State)

	e.writeManifest(3, func(i int, rec []string) {
		if i == 2 {
			rec[0] = "renamed-2"
		}
	})
	// A second re-send is allowed now: the two claimed rows take it, the
	// renamed row is sent and re-sent twice; the orphan is not sent.
	sum, err := e.runOnce(t.Context(), func(c *runner.Config) { c.MaxResends = 2 })
	require.ErrorIs(t, err, runner.ErrHeld)
	assert.EqualValues(t, 6+2+3, e.sim.Counters().Submits)
	assert.Equal(t, 1, sum.Orphans)
	assert.Zero(t, sum.OrphansInFlight, "an uncertain submit has no request ID to collect")
	after := e.jobs()["clip-0002"]
	assert.True(t, after.Orphan)
	assert.Equal(t, store.StateUncertain, after.State)
	assert.Equal(t, before.Attempts, after.Attempts, "never sent again")
}
