package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/pikabatch/pikabatch/manifest"
	"github.com/pikabatch/pikabatch/runner"
	"github.com/pikabatch/pikabatch/runner/api"
	"github.com/pikabatch/pikabatch/runner/sim"
	"github.com/pikabatch/pikabatch/store"
)

// scenarios are the bench's measurements, in the order Run runs them.
func scenarios() []scenario {
	return []scenario{
		overheadScenario("overhead", sim.TimestampsSeconds),
		overheadScenario("overhead-ms", sim.TimestampsMillis),
		slotsScenario(slotsSpec{name: "slots", rows: 160, runTime: 2 * time.Second}),
		slotsScenario(slotsSpec{name: "jitter", rows: 160, runTime: 2 * time.Second, jitter: 0.2}),
		slotsScenario(slotsSpec{name: "slots-rps", rows: 64, runTime: 4 * time.Second, defaultRate: true}),
		queueScenario(),
		slotboundScenario(),
		accountScenario(),
		rateScenario(20),
		rateScenario(100),
		validateScenario(),
		resumeScenario(),
		storeScenario(),
		syncScenario("sync", zeroRunTime),
		syncScenario("sync-paced", 2*time.Second),
		scaleScenario(),
		scaleShardsScenario(),
	}
}

const (
	model     = "pika/pika-2-2/image-to-video"
	videoSize = 64 << 10
	mb        = 1 << 20

	// zeroRunTime stands for "no run time": the simulator reads 0 as its
	// default.
	zeroRunTime = time.Nanosecond

	// overheadConcurrency and overheadDownloads are scenario 1's pool sizes.
	overheadConcurrency = 256
	overheadDownloads   = 32
)

func fig(name, unit string) Figure { return Figure{Name: name, Unit: unit} }

func atMost(f Figure, limit float64) Figure {
	f.Target = &Target{AtMost: true, Limit: limit}
	return f
}

func atLeast(f Figure, limit float64) Figure {
	f.Target = &Target{Limit: limit}
	return f
}

func reportOnly(fs []Figure) []Figure {
	for i := range fs {
		if fs[i].Target != nil {
			t := *fs[i].Target
			t.ReportOnly = true
			fs[i].Target = &t
		}
	}
	return fs
}

func (p params) manifest() string { return filepath.Join(p.dir, "manifest.csv") }

// start serves a simulator for run i and empties the run's output folder.
func (p params) start(cfg sim.Config, i int) (*simServer, string, error) {
	out, err := p.out(i)
	if err != nil {
		return nil, "", err
	}
	srv, err := startSim(cfg)
	return srv, out, err
}

// out is run i's output folder, emptied first.
func (p params) out(i int) (string, error) {
	dir := filepath.Join(p.dir, "run-"+strconv.Itoa(i+1))
	if err := os.RemoveAll(dir); err != nil {
		return "", err
	}
	return dir, nil
}

func seconds(d time.Duration) float64 { return d.Seconds() }

func millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// pollsPerJob is the status and result calls beyond one result fetch per
// completed job, as the simulator counted them.
func pollsPerJob(c sim.Counters) float64 {
	if c.Completed == 0 {
		return math.NaN()
	}
	return float64(c.StatusCalls+c.ResultCalls-c.Completed) / float64(c.Completed)
}

// 1. Raw overhead: the simulator answers at once, so pikabatch is all there is.
// The result's created_at and finished_at come in whole seconds, as the
// simulator gives them by default (an instant job reads 0 s), or in
// milliseconds: the first should stay within 20% of the second, so that
// the coarser timestamps the API may give cost little.
func overheadScenario(name, timestamps string) scenario {
	return scenario{
		name: name, rows: 20_000, least: 50,
		setup: func(p params) string {
			return fmt.Sprintf("%d rows, 64 KiB videos, no queue or run time, no rate limit, timestamps in %s; run --concurrency %d --download-concurrency %d --rps 0",
				p.rows, timestamps, overheadConcurrency, overheadDownloads)
		},
		figures: func(params) []Figure {
			return []Figure{
				atLeast(fig("jobs_per_s", "jobs/s"), 1000),
				atMost(fig("peak_rss", "MB"), 150),
				fig("cpu_per_job", "ms"),
				fig("wall", "s"),
				fig("polls_per_job", ""),
			}
		},
		prepare: prepareRows,
		run: func(ctx context.Context, s *session, p params, i int) (map[string]float64, error) {
			srv, out, err := p.start(sim.Config{Slots: 4 * overheadConcurrency, RunTime: zeroRunTime, VideoSize: videoSize,
				Timestamps: timestamps, Seed: int64(i + 1)}, i)
			if err != nil {
				return nil, err
			}
			defer srv.close()
			res, _, err := s.runBatch(ctx, srv, p.manifest(), out,
				"--concurrency", strconv.Itoa(overheadConcurrency), "--download-concurrency", strconv.Itoa(overheadDownloads), "--rps", "0")
			if err != nil {
				return nil, err
			}
			return map[string]float64{
				"jobs_per_s":    float64(p.rows) / seconds(res.wall),
				"peak_rss":      float64(res.maxRSS) / mb,
				"cpu_per_job":   millis(res.cpu) / float64(p.rows),
				"wall":          seconds(res.wall),
				"polls_per_job": pollsPerJob(srv.Counters()),
			}, nil
		},
	}
}

// slotsSpec is one slot-utilisation scenario.
type slotsSpec struct {
	name    string
	rows    int
	runTime time.Duration
	jitter  float64 // ± fraction of the run time
	// defaultRate runs with pikabatch's default --rps instead of --rps 0:
	// the wave of result looks and refills that follows a wave of finishes
	// must not queue behind the shared rate while slots stand idle. It needs
	// jobs long enough for the default rate to carry the minimum of two
	// calls (submit and result) per job: 16 slots of 4 s jobs need 8
	// calls/s of 10, where 2 s jobs would need 16.
	defaultRate bool
}

// 2–4. Slot utilisation, pickup latency and API economy, measured together:
// as many jobs in flight as the account has slots, so a slow pickup leaves
// a slot idle and shows in the makespan.
func slotsScenario(spec slotsSpec) scenario {
	const slots = 16
	runTime, jitter := spec.runTime, spec.jitter
	rate := []string{"--rps", "0"}
	if spec.defaultRate {
		rate = nil
	}
	return scenario{
		name: spec.name, rows: spec.rows, least: 2 * slots,
		setup: func(p params) string {
			j := ""
			if jitter > 0 {
				j = fmt.Sprintf(" ±%g%%", jitter*100)
			}
			r := "--rps 0"
			if spec.defaultRate {
				r = "the default --rps"
			}
			return fmt.Sprintf("S=%d slots, D=%s%s, N=%d rows; run --concurrency %d, %s; makespan is the simulator's first submit to last finish, ideal ⌈N/S⌉·D",
				slots, p.dur(runTime), j, p.rows, slots, r)
		},
		figures: func(p params) []Figure {
			fs := []Figure{
				atMost(fig("makespan_ratio", "× ideal"), 1.05),
				fig("makespan", "s"),
				atMost(fig("pickup_p50", "ms"), millis(p.dur(runTime))/10),
				fig("pickup_p90", "ms"),
				fig("pickup_max", "ms"),
				atMost(fig("polls_per_job", ""), 3),
				fig("wall", "s"),
			}
			if jitter > 0 {
				fs = reportOnly(fs)
			}
			return fs
		},
		prepare: prepareRows,
		run: func(ctx context.Context, s *session, p params, i int) (map[string]float64, error) {
			d := p.dur(runTime)
			srv, out, err := p.start(sim.Config{Slots: slots, RunTime: d, RunJitter: jitter, VideoSize: videoSize, Seed: int64(i + 1)}, i)
			if err != nil {
				return nil, err
			}
			defer srv.close()
			args := append([]string{"--concurrency", strconv.Itoa(slots)}, rate...)
			res, _, err := s.runBatch(ctx, srv, p.manifest(), out, args...)
			if err != nil {
				return nil, err
			}
			tl := timelineOf(srv.Jobs())
			return map[string]float64{
				"makespan_ratio": tl.makespanRatio(p.rows, slots, d),
				"makespan":       seconds(tl.makespan),
				"pickup_p50":     quantile(tl.pickupMS, 0.5),
				"pickup_p90":     quantile(tl.pickupMS, 0.9),
				"pickup_max":     quantile(tl.pickupMS, 1),
				"polls_per_job":  pollsPerJob(srv.Counters()),
				"wall":           seconds(res.wall),
			}, nil
		},
	}
}

// Not one of the performance targets: more jobs in flight than slots, so most
// wait in the simulator's queue and the policy has queue_position to go by.
// The queue keeps the slots busy whatever the pickup, so economy is the
// figure to watch.
func queueScenario() scenario {
	const slots, concurrency = 4, 16
	const runTime = time.Second
	return scenario{
		name: "queue", rows: 64, least: 2 * concurrency,
		setup: func(p params) string {
			return fmt.Sprintf("S=%d slots, D=%s, N=%d rows; run --concurrency %d --rps 0 (jobs wait in the queue)",
				slots, p.dur(runTime), p.rows, concurrency)
		},
		figures: func(p params) []Figure {
			return reportOnly([]Figure{
				atMost(fig("makespan_ratio", "× ideal"), 1.05),
				atMost(fig("polls_per_job", ""), 3),
				fig("pickup_p50", "ms"),
			})
		},
		prepare: prepareRows,
		run: func(ctx context.Context, s *session, p params, i int) (map[string]float64, error) {
			d := p.dur(runTime)
			srv, out, err := p.start(sim.Config{Slots: slots, RunTime: d, VideoSize: videoSize, Seed: int64(i + 1)}, i)
			if err != nil {
				return nil, err
			}
			defer srv.close()
			if _, _, err := s.runBatch(ctx, srv, p.manifest(), out, "--concurrency", strconv.Itoa(concurrency), "--rps", "0"); err != nil {
				return nil, err
			}
			tl := timelineOf(srv.Jobs())
			return map[string]float64{
				"makespan_ratio": tl.makespanRatio(p.rows, slots, d),
				"polls_per_job":  pollsPerJob(srv.Counters()),
				"pickup_p50":     quantile(tl.pickupMS, 0.5),
			}, nil
		},
	}
}

// Not one of the performance targets: an account that takes fewer jobs at once
// than --concurrency asks for, and refuses the rest with 429 (new accounts
// commonly start at about 5). The refused submits cost no money but every
// one is a call, and a run that only backs off leaves the account's room
// unused until its next knock. The makespan counts that; refusals per job
// count the knocks.
func accountScenario() scenario {
	const slots, account, concurrency = 2, 4, 16
	const runTime = time.Second
	return scenario{
		name: "account", rows: 40, least: 2 * account,
		setup: func(p params) string {
			return fmt.Sprintf("S=%d slots, account limit %d jobs at once (429 above it, Retry-After 1s), D=%s, N=%d rows; run --concurrency %d --rps 10",
				slots, account, p.dur(runTime), p.rows, concurrency)
		},
		figures: func(p params) []Figure {
			return reportOnly([]Figure{
				atMost(fig("makespan_ratio", "× ideal"), 1.05),
				fig("refusals_per_job", "429s"),
				fig("limit_seen", "jobs"),
				fig("polls_per_job", ""),
				fig("pickup_p50", "ms"),
				fig("pickup_max", "ms"),
			})
		},
		prepare: prepareRows,
		run: func(ctx context.Context, s *session, p params, i int) (map[string]float64, error) {
			d := p.dur(runTime)
			srv, out, err := p.start(sim.Config{Slots: slots, MaxConcurrentSubmits: account, RunTime: d, VideoSize: videoSize, Seed: int64(i + 1)}, i)
			if err != nil {
				return nil, err
			}
			defer srv.close()
			_, sum, err := s.runBatch(ctx, srv, p.manifest(), out, "--concurrency", strconv.Itoa(concurrency), "--rps", "10")
			if err != nil {
				return nil, err
			}
			tl := timelineOf(srv.Jobs())
			c := srv.Counters()
			return map[string]float64{
				"makespan_ratio":   tl.makespanRatio(p.rows, slots, d),
				"refusals_per_job": float64(c.RateLimited) / float64(p.rows),
				"limit_seen":       float64(sum.AccountJobs),
				"polls_per_job":    pollsPerJob(c),
				"pickup_p50":       quantile(tl.pickupMS, 0.5),
				"pickup_max":       quantile(tl.pickupMS, 1),
			}, nil
		},
	}
}

// prepareRows writes the scenario's manifest: p.rows distinct rows.
func prepareRows(_ context.Context, _ *session, p params) error {
	return writeManifest(p.manifest(), p.rows, false)
}

// timeline is what the simulator's per-job record says about a run.
type timeline struct {
	makespan time.Duration // first submit accepted to last job finished
	pickupMS []float64     // finish to first download, per completed job, sorted
}

// makespanRatio is the makespan over the ideal ⌈rows/slots⌉·d: every slot
// busy from the first submit to the last finish.
func (tl timeline) makespanRatio(rows, slots int, d time.Duration) float64 {
	ideal := time.Duration(math.Ceil(float64(rows)/float64(slots))) * d
	return float64(tl.makespan) / float64(ideal)
}

func timelineOf(jobs []sim.JobInfo) timeline {
	var tl timeline
	var first, last time.Time
	for _, j := range jobs {
		if first.IsZero() || j.CreatedAt.Before(first) {
			first = j.CreatedAt
		}
		if j.FinishedAt.After(last) {
			last = j.FinishedAt
		}
		if j.State == sim.StateCompleted && !j.FirstDownloadAt.IsZero() {
			tl.pickupMS = append(tl.pickupMS, millis(j.FirstDownloadAt.Sub(j.FinishedAt)))
		}
	}
	tl.makespan = last.Sub(first)
	slices.Sort(tl.pickupMS)
	return tl
}

// 5. Rate fidelity: a simulator that answers 429 above r requests/s and a
// client told --rps r, with far more work than r allows.
func rateScenario(r float64) scenario {
	const runTime = 500 * time.Millisecond
	return scenario{
		name: fmt.Sprintf("rate-%g", r), rows: int(6 * r), least: 20,
		setup: func(p params) string {
			return fmt.Sprintf("simulator limit %g req/s (token bucket, burst %g), %d rows of D=%s on 256 slots; run --concurrency 64 --rps %g; rate over first request to last submit",
				r, max(1, r/10), p.rows, p.dur(runTime), r)
		},
		figures: func(params) []Figure {
			return []Figure{
				// The client's burst (one second of the rate) meets the
				// simulator's smaller bucket (a tenth of a second) once:
				// its first 429 ends the burst, and requests leave evenly
				// spaced from then on, so at most one burst is refused.
				atMost(fig("rate_limited", "429s"), r),
				fig("achieved", "req/s"),
				atLeast(fig("achieved_ratio", "× limit"), 0.95),
			}
		},
		prepare: prepareRows,
		run: func(ctx context.Context, s *session, p params, i int) (map[string]float64, error) {
			srv, out, err := p.start(sim.Config{Slots: 256, RunTime: p.dur(runTime), RateLimit: r, VideoSize: videoSize, Seed: int64(i + 1)}, i)
			if err != nil {
				return nil, err
			}
			defer srv.close()
			if _, _, err := s.runBatch(ctx, srv, p.manifest(), out, "--concurrency", "64", "--rps", strconv.FormatFloat(r, 'g', -1, 64)); err != nil {
				return nil, err
			}
			achieved := achievedRate(srv.requests())
			return map[string]float64{
				"rate_limited":   float64(srv.Counters().RateLimited),
				"achieved":       achieved,
				"achieved_ratio": achieved / r,
			}, nil
		},
	}
}

// achievedRate is the request rate from the first request to the last
// submit: while rows remain to submit, the client always has work waiting
// for the rate limiter, so this is the rate it allows itself.
func achievedRate(reqs []arrival) float64 {
	last := -1
	for i, a := range reqs {
		if a.submit {
			last = i
		}
	}
	if last < 1 {
		return math.NaN()
	}
	return float64(last) / reqs[last].at.Sub(reqs[0].at).Seconds()
}

// 6a. Validating a million-row manifest streams.
func validateScenario() scenario {
	return scenario{
		name: "validate", rows: 1_000_000, least: 1000,
		setup: func(p params) string {
			return fmt.Sprintf("pikabatch validate of a %d-row CSV (a third of the keys derived from parameters)", p.rows)
		},
		figures: func(params) []Figure {
			return []Figure{
				atMost(fig("wall", "s"), 10),
				atMost(fig("peak_rss", "MB"), 150),
				fig("rows_per_s", "rows/s"),
			}
		},
		prepare: func(_ context.Context, _ *session, p params) error {
			return writeManifest(p.manifest(), p.rows, true)
		},
		run: func(ctx context.Context, s *session, p params, _ int) (map[string]float64, error) {
			res, err := s.child(ctx, nil, "validate", "--manifest", p.manifest(), "--json")
			if err != nil {
				return nil, err
			}
			var sum manifest.Summary
			if err := json.Unmarshal(res.stdout, &sum); err != nil {
				return nil, fmt.Errorf("read validate summary: %w", err)
			}
			if sum.Rows != p.rows {
				return nil, fmt.Errorf("validate counted %d rows, want %d", sum.Rows, p.rows)
			}
			return map[string]float64{
				"wall":       seconds(res.wall),
				"peak_rss":   float64(res.maxRSS) / mb,
				"rows_per_s": float64(p.rows) / seconds(res.wall),
			}, nil
		},
	}
}

// 6b. Re-running a finished batch has nothing to do, and finds that out by stat.
func resumeScenario() scenario {
	// One simulator answers every run: the first run binds the state file
	// to its API origin, and a run against another one would be refused.
	var srv *simServer
	return scenario{
		name: "resume", rows: 100_000, least: 200,
		setup: func(p params) string {
			return fmt.Sprintf("pikabatch run over a finished %d-row batch (rendered beforehand by the real pipeline, 256-byte videos): validate, plan, stat every file, write the index", p.rows)
		},
		figures: func(params) []Figure {
			return []Figure{
				atMost(fig("wall", "s"), 3),
				atMost(fig("peak_rss", "MB"), 150),
				fig("cpu", "s"),
			}
		},
		prepare: func(ctx context.Context, _ *session, p params) error {
			if err := writeManifest(p.manifest(), p.rows, false); err != nil {
				return err
			}
			// The finished batch is rendered by the real pipeline, not
			// written directly: the state file's size and page fill are
			// what a re-run has to read, and only the runner's own write
			// pattern gives them (writing done records at once left pages
			// 42% full and the file 1.6× larger).
			srv, err := startSim(sim.Config{Slots: 4 * overheadConcurrency, RunTime: zeroRunTime, VideoSize: 256, Seed: 1})
			if err != nil {
				return err
			}
			defer srv.close()
			_, _, err = runInProcess(ctx, srv, p.manifest(), filepath.Join(p.dir, "out"))
			return err
		},
		run: func(ctx context.Context, s *session, p params, i int) (map[string]float64, error) {
			if srv == nil {
				var err error
				if srv, err = startSim(sim.Config{}); err != nil {
					return nil, err
				}
			}
			if i == s.cfg.Runs-1 {
				defer func() { srv.close(); srv = nil }()
			}
			res, sum, err := s.runBatch(ctx, srv, p.manifest(), filepath.Join(p.dir, "out"))
			if err != nil {
				return nil, err
			}
			if sum.SkippedDone != p.rows || sum.Submitted != 0 || srv.Counters().Requests != 0 {
				return nil, fmt.Errorf("%w: %d of %d rows skipped as done, %d submitted, %d API requests",
					errNotDone, sum.SkippedDone, p.rows, sum.Submitted, srv.Counters().Requests)
			}
			return map[string]float64{
				"wall":     seconds(res.wall),
				"peak_rss": float64(res.maxRSS) / mb,
				"cpu":      seconds(res.cpu),
			}, nil
		},
	}
}

// 7. The store under scenario 1's load, in this process so that its
// counters can be read.
func storeScenario() scenario {
	return scenario{
		name: "store", rows: 5000, least: 50,
		setup: func(p params) string {
			return fmt.Sprintf("%d rows as in overhead (concurrency %d, no run time), runner in-process; fsyncs are committed bbolt transactions",
				p.rows, overheadConcurrency)
		},
		figures: func(params) []Figure {
			return []Figure{
				fig("writes_per_s", "writes/s"),
				fig("writes_per_job", ""),
				fig("fsyncs_per_job", ""),
				fig("jobs_per_s", "jobs/s"),
			}
		},
		prepare: prepareRows,
		run: func(ctx context.Context, _ *session, p params, i int) (map[string]float64, error) {
			srv, out, err := p.start(sim.Config{Slots: 4 * overheadConcurrency, RunTime: zeroRunTime, VideoSize: videoSize, Seed: int64(i + 1)}, i)
			if err != nil {
				return nil, err
			}
			defer srv.close()
			stats, wall, err := runInProcess(ctx, srv, p.manifest(), out)
			if err != nil {
				return nil, err
			}
			return map[string]float64{
				"writes_per_s":   float64(stats.Writes) / seconds(wall),
				"writes_per_job": float64(stats.Writes) / float64(p.rows),
				"fsyncs_per_job": float64(stats.Commits) / float64(p.rows),
				"jobs_per_s":     float64(p.rows) / seconds(wall),
			}, nil
		},
	}
}

// runInProcess runs the manifest with the runner in this process, wired as
// `pikabatch run` wires it, and returns the store's counters.
func runInProcess(ctx context.Context, srv *simServer, manifestPath, out string) (store.Stats, time.Duration, error) {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return store.Stats{}, 0, err
	}
	st, err := store.Open(filepath.Join(out, ".pikabatch.db"), store.Options{})
	if err != nil {
		return store.Stats{}, 0, err
	}
	defer st.Close()
	apiTransport := &http.Transport{MaxIdleConnsPerHost: 2 * overheadConcurrency}
	defer apiTransport.CloseIdleConnections()
	fileTransport := &http.Transport{MaxIdleConnsPerHost: 2 * overheadDownloads}
	defer fileTransport.CloseIdleConnections()
	client, err := api.New(api.Config{BaseURL: srv.apiURL, Token: api.Token(srv.Token()),
		HTTPClient: &http.Client{Transport: apiTransport}})
	if err != nil {
		return store.Stats{}, 0, err
	}
	r, err := runner.New(runner.Config{Model: model, OutDir: out,
		Concurrency: overheadConcurrency, DownloadConcurrency: overheadDownloads,
		HTTPClient: &http.Client{Transport: fileTransport}}, client, st)
	if err != nil {
		return store.Stats{}, 0, err
	}
	rows, err := manifest.Open(manifestPath, manifest.FormatAuto)
	if err != nil {
		return store.Stats{}, 0, err
	}
	defer rows.Close()
	sum, err := r.Run(ctx, rows)
	if err != nil {
		return store.Stats{}, 0, err
	}
	if sum.Final[store.StateDone] != sum.Rows {
		return store.Stats{}, 0, fmt.Errorf("%w: %d of %d done", errNotDone, sum.Final[store.StateDone], sum.Rows)
	}
	return st.Stats(), sum.Wall, nil
}
