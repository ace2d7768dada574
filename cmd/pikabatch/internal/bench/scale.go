package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/pikabatch/pikabatch/runner/sim"
)

const (
	// scaleVideoSize is the scale scenario's video: small, so that a million of
	// them (8 GB) measure pikabatch and not the disk.
	scaleVideoSize = 8 << 10
	// scaleSampleEvery spaces the samples of the run's memory and of the
	// simulator's counters; smaps, which costs more to read, is read every
	// tenth sample.
	scaleSampleEvery = 100 * time.Millisecond
	scaleShards      = 4
)

// scaleSimFlags are the child simulator's flags for run i: instant jobs,
// 8 KiB videos, whole-second timestamps, and slots enough for
// --concurrency 256.
func scaleSimFlags(i int) []string {
	return []string{"--slots", strconv.Itoa(4 * overheadConcurrency), "--run-ms", "0",
		"--video-size", strconv.Itoa(scaleVideoSize), "--timestamps", "s", "--seed", strconv.Itoa(i + 1)}
}

func scaleRunFlags(concurrency int) []string {
	return []string{"--concurrency", strconv.Itoa(concurrency), "--download-concurrency", strconv.Itoa(overheadDownloads), "--rps", "0"}
}

// sample is one look at a running child and at the simulator.
type sample struct {
	at         time.Time
	mem        procMem
	mapRSS     int64 // resident bytes of the state file's map; -1 if not read
	done       int64 // downloads the simulator served
	requests   int64 // API requests the simulator answered
	countersOK bool
}

// sampler returns a watch for childWatched that appends a sample to *out
// every scaleSampleEvery: the child's memory, the resident part of its map
// of the file named mapPath (if set) and the counters of srv (if set).
// After the child exits it takes one last sample of the counters.
func sampler(ctx context.Context, srv *simChild, mapPath string, out *[]sample) func(pid int) func() {
	look := func(pid int, n int) sample {
		smp := sample{at: time.Now(), mem: readProcMem(pid), mapRSS: -1}
		if mapPath != "" && n%10 == 0 {
			smp.mapRSS = readMappedRSS(pid, mapPath)
		}
		if srv != nil {
			if c, err := srv.counters(ctx); err == nil {
				smp.done, smp.requests, smp.countersOK = c.Downloads, c.Requests, true
			}
		}
		return smp
	}
	return func(pid int) func() {
		done := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			t := time.NewTicker(scaleSampleEvery)
			defer t.Stop()
			for n := 0; ; n++ {
				*out = append(*out, look(pid, n))
				select {
				case <-done:
					return
				case <-t.C:
				}
			}
		})
		return func() {
			close(done)
			wg.Wait()
			if srv != nil {
				*out = append(*out, look(-1, 1)) // the process is gone: counters only
			}
		}
	}
}

// tenths is a run cut into ten parts of rows/10 jobs each (by the
// simulator's downloads), measured from its first API request.
type tenths struct {
	rate   [10]float64 // jobs/s
	anon   [10]int64   // highest RssAnon seen, bytes
	rss    [10]int64   // highest VmRSS
	file   [10]int64   // highest RssFile
	mapRSS [10]int64   // highest resident state-file map; -1 if never read
	// peakAnon is the highest RssAnon of the whole run, the final index
	// write included.
	peakAnon int64
	startup  time.Duration // child start to first API request
	hasMem   bool
}

// cutTenths reads the samples of a run of rows jobs started at start.
func cutTenths(samples []sample, rows int, start time.Time) (tenths, error) {
	var tt tenths
	var ends [11]time.Time
	first := -1
	for i, s := range samples {
		if s.countersOK && s.requests > 0 {
			first = i
			break
		}
	}
	if first < 0 {
		return tt, errors.New("the simulator saw no request")
	}
	ends[0] = samples[first].at
	tt.startup = ends[0].Sub(start)
	for k := 1; k <= 10; k++ {
		at, ok := crossing(samples, float64(rows)*float64(k)/10)
		if !ok {
			return tt, fmt.Errorf("the simulator served fewer than %d of %d downloads", rows*k/10, rows)
		}
		ends[k] = at
	}
	for k := range 10 {
		d := ends[k+1].Sub(ends[k]).Seconds()
		tt.rate[k] = float64(rows) / 10 / d
		tt.anon[k], tt.rss[k], tt.file[k], tt.mapRSS[k] = -1, -1, -1, -1
		// The tenth's own samples, and the last before it: a tenth shorter
		// than the sampling interval still gets a figure.
		for i, s := range samples {
			next := i+1 < len(samples) && !samples[i+1].at.After(ends[k])
			if s.at.After(ends[k+1]) || next {
				continue
			}
			if s.mem.ok {
				tt.hasMem = true
				tt.anon[k] = max(tt.anon[k], s.mem.Anon)
				tt.rss[k] = max(tt.rss[k], s.mem.RSS)
				tt.file[k] = max(tt.file[k], s.mem.File)
			}
			tt.mapRSS[k] = max(tt.mapRSS[k], s.mapRSS)
		}
	}
	for _, s := range samples {
		if s.mem.ok {
			tt.peakAnon = max(tt.peakAnon, s.mem.Anon)
		}
	}
	return tt, nil
}

// crossing is when the simulator's download count reached n, interpolated
// between the two samples around it.
func crossing(samples []sample, n float64) (time.Time, bool) {
	var prev *sample
	for i := range samples {
		s := &samples[i]
		if !s.countersOK {
			continue
		}
		if float64(s.done) >= n {
			if prev == nil || s.done == prev.done {
				return s.at, true
			}
			frac := (n - float64(prev.done)) / float64(s.done-prev.done)
			return prev.at.Add(time.Duration(frac * float64(s.at.Sub(prev.at)))), true
		}
		prev = s
	}
	return time.Time{}, false
}

// mbOrNaN is bytes in MB, or NaN for a figure that could not be read
// (v < 0, or no /proc).
func mbOrNaN(v int64, ok bool) float64 {
	if !ok || v < 0 {
		return math.NaN()
	}
	return float64(v) / mb
}

// stateFacts is what the state file says about itself after a run.
type stateFacts struct {
	size     int64   // bytes on disk (bbolt grows the file ahead of its pages, in steps of up to 16 MB)
	commits  uint64  // committed (fsynced) write transactions, compaction's included
	leafFill float64 // bytes in use over bytes allocated, the jobs bucket's leaf pages
	freePart float64 // share of the pages in use up to the high-water mark that hold no live data (free or pending)
}

// readStateFacts opens a closed state file read-only with bbolt.
func readStateFacts(path string) (stateFacts, error) {
	var f stateFacts
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return f, fmt.Errorf("open state: %w", err)
	}
	defer db.Close()
	fi, err := os.Stat(path)
	if err != nil {
		return f, err
	}
	f.size = fi.Size()
	err = db.View(func(tx *bolt.Tx) error {
		f.commits = uint64(tx.ID())
		if meta := tx.Bucket([]byte("meta")); meta != nil {
			// A compacted file counts again from 1; the store keeps the
			// count of the files it replaced.
			before, _ := strconv.ParseUint(string(meta.Get([]byte("generations_before"))), 10, 64)
			f.commits += before
		}
		pageSize := int64(tx.DB().Info().PageSize)
		used := int64(3) // two meta pages and the root bucket's page
		for _, name := range []string{"jobs", "meta"} {
			b := tx.Bucket([]byte(name))
			if b == nil {
				continue
			}
			st := b.Stats()
			used += int64(st.BranchPageN + st.BranchOverflowN + st.LeafPageN + st.LeafOverflowN)
			if name == "jobs" && st.LeafAlloc > 0 {
				f.leafFill = float64(st.LeafInuse) / float64(st.LeafAlloc)
			}
		}
		f.freePart = 1 - float64(used)/float64(tx.Size()/pageSize)
		return nil
	})
	return f, err
}

// countLines counts the lines of a file.
func countLines(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	n := 0
	r := bufio.NewReaderSize(f, 1<<20)
	buf := make([]byte, 1<<20)
	for {
		k, err := r.Read(buf)
		n += bytes.Count(buf[:k], []byte{'\n'})
		if err != nil {
			return n, nil
		}
	}
}

// afterRun measures what a finished batch in out costs to look at:
// status, export (and its memory) and a re-run with nothing to do.
// With shards > 0 the batch is that many shards in out, and the re-run is
// all of them at once.
func (s *session) afterRun(ctx context.Context, srv *simChild, manifest, out string, rows, shards int, flags []string) (map[string]float64, error) {
	got := map[string]float64{}
	st, err := s.child(ctx, nil, "status", "--out", out, "--json")
	if err != nil {
		return nil, err
	}
	got["status_s"] = seconds(st.wall)

	exported := filepath.Join(filepath.Dir(out), filepath.Base(out)+"-export.jsonl")
	defer os.Remove(exported)
	var exSamples []sample
	ex, err := s.childWatched(ctx, nil, sampler(ctx, nil, "", &exSamples), "export", "--out", out, "-o", exported)
	if err != nil {
		return nil, err
	}
	n, err := countLines(exported)
	if err != nil {
		return nil, err
	}
	if n != rows {
		return nil, fmt.Errorf("export wrote %d rows, the manifest has %d", n, rows)
	}
	got["export_s"] = seconds(ex.wall)
	got["export_rows_per_s"] = float64(rows) / seconds(ex.wall)
	var exAnon int64 = -1
	for _, smp := range exSamples {
		if smp.mem.ok {
			exAnon = max(exAnon, smp.mem.Anon)
		}
	}
	got["export_rss_anon"] = mbOrNaN(exAnon, true)

	before, err := srv.counters(ctx)
	if err != nil {
		return nil, err
	}
	rerun, err := s.runShards(ctx, srv, manifest, out, shards, flags)
	if err != nil {
		return nil, err
	}
	after, err := srv.counters(ctx)
	if err != nil {
		return nil, err
	}
	if rerun.skippedDone != rows || rerun.submitted != 0 || after.Requests != before.Requests {
		return nil, fmt.Errorf("%w: re-run skipped %d of %d rows as done, submitted %d, made %d API requests",
			errNotDone, rerun.skippedDone, rows, rerun.submitted, after.Requests-before.Requests)
	}
	got["rerun_s"] = seconds(rerun.wall)
	return got, nil
}

// shardsRun is what the runs of runShards did together.
type shardsRun struct {
	wall                         time.Duration // from the start of the first to the end of the last
	rows, submitted, skippedDone int
	peakRSS                      int64
	cpu                          time.Duration
}

// runShards runs the batch as shards runs `run --shard K/shards` at once,
// or as one plain run when shards is 0, and checks that each ended with
// every row done.
func (s *session) runShards(ctx context.Context, srv *simChild, manifest, out string, shards int, flags []string) (shardsRun, error) {
	if shards == 0 {
		res, sum, err := s.runBatchEnv(ctx, srv.env(), manifest, out, flags...)
		return shardsRun{wall: res.wall, rows: sum.Rows, submitted: sum.Submitted, skippedDone: sum.SkippedDone,
			peakRSS: res.maxRSS, cpu: res.cpu}, err
	}
	type shardRun struct {
		res childResult
		sum runSummary
		err error
	}
	runs := make([]shardRun, shards)
	var wg sync.WaitGroup
	start := time.Now()
	for k := range runs {
		wg.Go(func() {
			r := &runs[k]
			r.res, r.sum, r.err = s.runBatchEnv(ctx, srv.env(), manifest, out,
				append([]string{"--shard", fmt.Sprintf("%d/%d", k, shards)}, flags...)...)
		})
	}
	wg.Wait()
	all := shardsRun{wall: time.Since(start)}
	for k, r := range runs {
		if r.err != nil {
			return all, fmt.Errorf("shard %d/%d: %w", k, shards, r.err)
		}
		all.rows += r.sum.Rows
		all.submitted += r.sum.Submitted
		all.skippedDone += r.sum.SkippedDone
		all.peakRSS = max(all.peakRSS, r.res.maxRSS)
		all.cpu += r.res.cpu
	}
	return all, nil
}

// scaleScenario is the scale target: a million-row batch end to end, with the
// simulator in its own process and the run's memory followed tenth by
// tenth.
func scaleScenario() scenario {
	return scenario{
		name: "scale", rows: 1_000_000, least: 1000,
		setup: func(p params) string {
			return fmt.Sprintf("%d rows; `pikabatch sim` as a child: instant jobs, 8 KiB videos, whole-second timestamps; run --concurrency %d --download-concurrency %d --rps 0; "+
				"tenths by the simulator's downloads from the first API request; memory from /proc/PID/status (RssAnon = heap and stacks), the state file's map from smaps (n/a without Linux /proc); "+
				"fsyncs are the state file's committed transactions (each download adds its own file fsync)",
				p.rows, overheadConcurrency, overheadDownloads)
		},
		figures: scaleFigures,
		prepare: prepareRows,
		run:     runScale,
	}
}

// scaleFigures are the scale scenario's figures and their targets.
func scaleFigures(params) []Figure {
	fs := []Figure{
		fig("jobs_per_s", "jobs/s"),
		fig("wall", "s"),
		fig("startup", "s"),
	}
	for k := range 10 {
		fs = append(fs, fig(fmt.Sprintf("tenth_%d", k+1), "jobs/s"))
	}
	return append(fs,
		atLeast(fig("last_over_first", "×"), 0.8),
		atMost(fig("rss_anon_peak", "MB"), 200),
		fig("rss_anon_t2", "MB"),
		fig("rss_anon_t10", "MB"),
		atMost(fig("anon_t10_over_t2", "×"), 1.2),
		fig("rss_t2", "MB"),
		fig("rss_t10", "MB"),
		fig("rss_file_t10", "MB"),
		fig("state_map_t10", "MB"),
		atMost(fig("state_bytes_per_job", "B"), 1024),
		fig("leaf_fill", "%"),
		fig("free_pages", "%"),
		fig("fsyncs_per_job", ""),
		fig("calls_per_job", ""),
		fig("cpu_per_job", "ms"),
		atMost(fig("status_s", "s"), 2),
		fig("export_s", "s"),
		atLeast(fig("export_rows_per_s", "rows/s"), 100_000),
		fig("export_rss_anon", "MB"),
		atMost(fig("rerun_s", "s"), 20),
	)
}

// runScale runs the whole batch once against a simulator child, sampling
// its memory and progress, then status, export and a rerun (afterRun).
func runScale(ctx context.Context, s *session, p params, i int) (map[string]float64, error) {
	out, err := p.out(i)
	if err != nil {
		return nil, err
	}
	srv, err := s.startSimChild(ctx, scaleSimFlags(i)...)
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	state := filepath.Join(out, ".pikabatch.db")
	flags := scaleRunFlags(overheadConcurrency)
	var samples []sample
	start := time.Now()
	res, _, err := s.runBatchWatched(ctx, srv.env(), sampler(ctx, srv, state, &samples), p.manifest(), out, flags...)
	if err != nil {
		return nil, err
	}
	tt, err := cutTenths(samples, p.rows, start)
	if err != nil {
		return nil, err
	}
	c, err := srv.counters(ctx)
	if err != nil {
		return nil, err
	}
	facts, err := readStateFacts(state)
	if err != nil {
		return nil, err
	}
	got := scaleRunFigures(p.rows, res, tt, facts, c)
	more, err := s.afterRun(ctx, srv, p.manifest(), out, p.rows, 0, flags)
	if err != nil {
		return nil, err
	}
	for k, v := range more {
		got[k] = v
	}
	return got, nil
}

// scaleRunFigures are the figures of the run itself, per job where a
// total would only say how big the batch was.
func scaleRunFigures(rows int, res childResult, tt tenths, facts stateFacts, c sim.Counters) map[string]float64 {
	got := map[string]float64{
		"jobs_per_s":          float64(rows) / seconds(res.wall),
		"wall":                seconds(res.wall),
		"startup":             seconds(tt.startup),
		"last_over_first":     tt.rate[9] / tt.rate[0],
		"rss_anon_peak":       mbOrNaN(tt.peakAnon, tt.hasMem),
		"rss_anon_t2":         mbOrNaN(tt.anon[1], tt.hasMem),
		"rss_anon_t10":        mbOrNaN(tt.anon[9], tt.hasMem),
		"anon_t10_over_t2":    float64(tt.anon[9]) / float64(tt.anon[1]),
		"rss_t2":              mbOrNaN(tt.rss[1], tt.hasMem),
		"rss_t10":             mbOrNaN(tt.rss[9], tt.hasMem),
		"rss_file_t10":        mbOrNaN(tt.file[9], tt.hasMem),
		"state_map_t10":       mbOrNaN(tt.mapRSS[9], true),
		"state_bytes_per_job": float64(facts.size) / float64(rows),
		"leaf_fill":           100 * facts.leafFill,
		"free_pages":          100 * facts.freePart,
		"fsyncs_per_job":      float64(facts.commits) / float64(rows),
		"calls_per_job":       float64(c.Requests) / float64(rows),
		"cpu_per_job":         millis(res.cpu) / float64(rows),
	}
	if !tt.hasMem {
		got["anon_t10_over_t2"] = math.NaN()
	}
	for k := range 10 {
		got[fmt.Sprintf("tenth_%d", k+1)] = tt.rate[k]
	}
	return got
}

// scaleShardsScenario is scale split in four shards: one machine, one folder,
// one simulator, four `run --shard K/4` at once, each with a quarter of
// scale's concurrency.
func scaleShardsScenario() scenario {
	perShard := overheadConcurrency / scaleShards
	return scenario{
		name: "scale-shards", rows: 1_000_000, least: 1000,
		setup: func(p params) string {
			return fmt.Sprintf("%d rows as in scale, split by four `run --shard K/4 --concurrency %d` started at once into one folder; "+
				"jobs/s is the rows over the slowest shard's wall; status and export read the four state files together",
				p.rows, perShard)
		},
		figures: func(params) []Figure {
			return []Figure{
				fig("jobs_per_s", "jobs/s"),
				fig("wall", "s"),
				atMost(fig("duplicate_submits", ""), 0),
				fig("shard_peak_rss", "MB"),
				fig("state_bytes_per_job", "B"),
				atMost(fig("status_s", "s"), 2),
				fig("export_s", "s"),
				atLeast(fig("export_rows_per_s", "rows/s"), 100_000),
				fig("export_rss_anon", "MB"),
				atMost(fig("rerun_s", "s"), 20),
			}
		},
		prepare: prepareRows,
		run: func(ctx context.Context, s *session, p params, i int) (map[string]float64, error) {
			out, err := p.out(i)
			if err != nil {
				return nil, err
			}
			srv, err := s.startSimChild(ctx, scaleSimFlags(i)...)
			if err != nil {
				return nil, err
			}
			defer srv.stop()
			flags := scaleRunFlags(perShard)
			runs, err := s.runShards(ctx, srv, p.manifest(), out, scaleShards, flags)
			if err != nil {
				return nil, err
			}
			var stateSize int64
			for k := range scaleShards {
				fi, err := os.Stat(filepath.Join(out, fmt.Sprintf(".pikabatch-%d-of-%d.db", k, scaleShards)))
				if err != nil {
					return nil, err
				}
				stateSize += fi.Size()
			}
			rows, wall, peak := runs.rows, runs.wall, runs.peakRSS
			c, err := srv.counters(ctx)
			if err != nil {
				return nil, err
			}
			if rows != p.rows || c.Submits != int64(p.rows) {
				return nil, fmt.Errorf("the shards held %d rows and submitted %d, the manifest has %d", rows, c.Submits, p.rows)
			}
			got := map[string]float64{
				"jobs_per_s":          float64(p.rows) / seconds(wall),
				"wall":                seconds(wall),
				"duplicate_submits":   float64(c.DuplicateSubmits),
				"shard_peak_rss":      mbOrNaN(peak, peak > 0),
				"state_bytes_per_job": float64(stateSize) / float64(p.rows),
			}
			more, err := s.afterRun(ctx, srv, p.manifest(), out, p.rows, scaleShards, flags)
			if err != nil {
				return nil, err
			}
			for k, v := range more {
				got[k] = v
			}
			return got, nil
		},
	}
}
