package store

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
)

// A done job's result URLs are pre-signed and expire: the store drops them,
// whoever writes the job, and keeps them until then (a rendered job is
// downloaded from them).
func TestDoneJobKeepsNoResultURL(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	outs := []Output{{URL: "https://files.example/a.mp4?sig=x"}, {URL: "https://files.example/b.mp4?sig=y"}}
	j := newJob("a")
	j.State, j.RequestID, j.Outputs = StateRendered, "req-a", outs
	require.NoError(t, f.store.Put(ctx, j))
	got, err := f.store.Get(ctx, "a")
	require.NoError(t, err)
	assert.Equal(t, outs, got.Outputs, "rendered: the URLs are still needed")

	done, err := f.store.Update(ctx, "a", func(j *Job) error {
		j.State = StateDone
		for i := range j.Outputs {
			j.Outputs[i].Path, j.Outputs[i].Size, j.Outputs[i].SHA256 = fmt.Sprintf("a-%d.mp4", i+1), 10, "ab"
		}
		return nil
	})
	require.NoError(t, err)
	want := []Output{{Path: "a-1.mp4", Size: 10, SHA256: "ab"}, {Path: "a-2.mp4", Size: 10, SHA256: "ab"}}
	assert.Equal(t, want, done.Outputs)
	got, err = f.store.Get(ctx, "a")
	require.NoError(t, err)
	assert.Equal(t, want, got.Outputs)

	j.State, j.Outputs = StateDone, outs
	require.NoError(t, f.store.Put(ctx, j))
	got, err = f.store.Get(ctx, "a")
	require.NoError(t, err)
	assert.Equal(t, []Output{{}, {}}, got.Outputs, "Put drops them too")
	assert.Equal(t, "https://files.example/a.mp4?sig=x", outs[0].URL, "the caller's slice is left alone")
}

// oldRecord is a done job as the store wrote it before State and Orphan
// came first and URLs were dropped.
const oldRecord = `{"key":"old","param_hash":"f0db","line":2,"input":{"image":"https://img.example.com/0.png","state":"pending"},` +
	`"state":"done","request_id":"5bf3","attempts":1,"polls":1,"outputs":[{"url":"http://127.0.0.1:1/files/0.mp4?sig=e6",` +
	`"path":"old.mp4","size":8192,"sha256":"083a"}],"created_at":"2026-11-30T05:38:54.039980929Z",` +
	`"submitted_at":"2026-11-30T05:38:54.060915437Z","finished_at":"2026-11-30T05:38:54.304874066Z",` +
	`"downloaded_at":"2026-11-30T05:38:54.461260076Z","updated_at":"2026-11-30T05:38:54.461260684Z","orphan":true}`

func TestBriefOfEveryLayout(t *testing.T) {
	t.Parallel()
	costs := []*float64{nil, new(float64), ptr(0.044), ptr(1e-9), ptr(12345678.5)}
	for _, st := range AllStates() {
		for i, orphan := range []bool{false, true} {
			for k, cost := range costs {
				j := newJob("k")
				j.State, j.Orphan, j.Attempts, j.CostUSD = st, orphan, i+k, cost
				j.Input = json.RawMessage(`{"state":"done","orphan":true,"attempts":9}`) // a manifest may say anything
				data, err := json.Marshal(j)
				require.NoError(t, err)
				_, ok := frontBrief(data)
				require.True(t, ok, "read off the front: %s", data)
				b, err := readBrief(data)
				require.NoError(t, err)
				assert.Equal(t, Brief{State: st, Orphan: orphan, Attempts: i + k, CostUSD: cost}, b, "%s", data)
			}
		}
	}
	b, err := readBrief([]byte(oldRecord))
	require.NoError(t, err)
	assert.Equal(t, Brief{State: StateDone, Orphan: true, Attempts: 1}, b, "an old record is decoded")
	_, err = readBrief([]byte(`{"key":"a","state":"pend`))
	assert.Error(t, err)
	b, err = readBrief([]byte(`{"state":"done","attempts":"x","key":"a"}`))
	assert.Error(t, err, "not what the encoder writes: decoded, and refused")
	_ = b
}

func ptr(f float64) *float64 { return &f }

// A state file written before this layout still opens, counts and resumes:
// its records decode, and a write turns them into the new layout.
func TestOldRecordsStillRead(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	require.NoError(t, f.store.Put(ctx, newJob("new")))
	require.NoError(t, f.store.Close())
	rawUpdate(t, f.path, func(tx *bolt.Tx) error { return tx.Bucket(bucketJobs).Put([]byte("old"), []byte(oldRecord)) })
	f.store = f.open(t)

	got, err := f.store.Get(ctx, "old")
	require.NoError(t, err)
	assert.Equal(t, StateDone, got.State)
	assert.True(t, got.Orphan)
	assert.Equal(t, "5bf3", got.RequestID)
	assert.Equal(t, Output{URL: "http://127.0.0.1:1/files/0.mp4?sig=e6", Path: "old.mp4", Size: 8192, SHA256: "083a"}, got.Outputs[0])

	counts, err := f.store.Counts(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, counts[StateDone])
	assert.Equal(t, 1, counts[StatePending])

	updated, err := f.store.Update(ctx, "old", func(j *Job) error { j.Polls++; return nil })
	require.NoError(t, err)
	assert.Equal(t, "", updated.Outputs[0].URL, "rewritten lean")
	assert.Equal(t, "old.mp4", updated.Outputs[0].Path)
	assert.Equal(t, got.RequestID, updated.RequestID)
}

func TestForEachBriefDecodesOnlyWhatIsAsked(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	for i, st := range []State{StatePending, StateFailed, StatePending, StateFailed} {
		j := newJob(fmt.Sprintf("k%d", i))
		j.State, j.Orphan = st, i == 2
		if st == StateFailed {
			j.LastError = fmt.Sprintf("error %d", i)
		}
		require.NoError(t, f.store.Put(ctx, j))
	}
	var briefs []string
	var full []string
	err := f.store.ForEachBrief(ctx, func(key []byte, b Brief) bool {
		briefs = append(briefs, fmt.Sprintf("%s %s %v", key, b.State, b.Orphan))
		return b.State == StateFailed
	}, func(j Job) error {
		full = append(full, j.Key+": "+j.LastError)
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, []string{"k0 pending false", "k1 failed false", "k2 pending true", "k3 failed false"}, briefs)
	assert.Equal(t, []string{"k1: error 1", "k3: error 3"}, full)

	stop := fmt.Errorf("stop")
	n := 0
	err = f.store.ForEachBrief(ctx, func([]byte, Brief) bool { return true }, func(Job) error { n++; return stop })
	assert.Equal(t, stop, err, "fn's error, unwrapped")
	assert.Equal(t, 1, n)
}
