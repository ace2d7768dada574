package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/pikabatch/pikabatch/runner/bucket/versitygw"
	"github.com/pikabatch/pikabatch/runner/sim"
)

// syncVideoSize is the sync scenario's video: large enough that copying
// it costs something next to downloading it.
const syncVideoSize = 256 << 10

// s3Server is the bucket the sync scenario copies to: a local versitygw
// when its binary is found or can be built (a real server, checking
// signatures, writing to disk), else gofakes3 in this process.
type s3Server interface {
	// syncTo is the --sync-to URL of prefix in its bucket, "bench".
	syncTo(prefix string) string
	// env points a child's AWS SDK at the server and nowhere else.
	env() []string
	close()
}

// startS3 starts versitygw with its data in dir when it can, else gofakes3.
func startS3(ctx context.Context, dir string) (s3Server, error) {
	if bin := versityBin(); bin != "" {
		return startVersity(ctx, bin, dir)
	}
	return startFakeS3()
}

// versityBin is the versitygw binary the bench uses (see versitygw.Find:
// $PIKABATCH_VERSITYGW, else a build in the user's cache folder); "" when
// there is none to be had.
func versityBin() string {
	bin, err := versitygw.Find()
	if err != nil {
		return ""
	}
	return bin
}

// fakeS3 is gofakes3 on loopback, in memory. It keeps every object in
// this process's memory (2.5 GB at scale 1), and serialises the writes.
type fakeS3 struct {
	srv *http.Server
	url string
}

func startFakeS3() (*fakeS3, error) {
	backend := s3mem.New()
	if err := backend.CreateBucket("bench"); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	b := &fakeS3{url: "http://" + ln.Addr().String(),
		srv: &http.Server{Handler: gofakes3.New(backend, gofakes3.WithLogger(gofakes3.DiscardLog())).Server(), ReadHeaderTimeout: 10 * time.Second}}
	go func() { _ = b.srv.Serve(ln) }()
	return b, nil
}

func (b *fakeS3) syncTo(prefix string) string {
	return "s3://bench/" + prefix + "?region=us-east-1&use_path_style=true&disable_https=true&endpoint=" + b.url
}

func (b *fakeS3) env() []string {
	return []string{"AWS_ACCESS_KEY_ID=bench", "AWS_SECRET_ACCESS_KEY=bench-secret", "AWS_REGION=us-east-1",
		"AWS_CONFIG_FILE=" + os.DevNull, "AWS_SHARED_CREDENTIALS_FILE=" + os.DevNull, "AWS_EC2_METADATA_DISABLED=true"}
}

func (b *fakeS3) close() { _ = b.srv.Close() }

// versity is versitygw serving a fresh folder, with the bucket "bench".
type versity struct{ srv *versitygw.Server }

func startVersity(ctx context.Context, bin, dir string) (*versity, error) {
	root := filepath.Join(dir, "versitygw")
	if err := os.RemoveAll(root); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, err
	}
	srv, err := versitygw.Launch(ctx, bin, root)
	if err != nil {
		return nil, err
	}
	if err := srv.MakeBucket(ctx, "bench"); err != nil {
		srv.Close()
		return nil, err
	}
	return &versity{srv: srv}, nil
}

// syncTo is a plain URL: the endpoint is in the child's environment.
func (v *versity) syncTo(prefix string) string { return "s3://bench/" + prefix }
func (v *versity) env() []string               { return v.srv.Env() }
func (v *versity) close()                      { v.srv.Close() }

// copiesSummary is the part of `run --json` that says what was copied.
type copiesSummary struct {
	Copies *struct {
		Uploaded int `json:"uploaded"`
		Waiting  int `json:"waiting"`
	} `json:"bucket_copies"`
}

// Copying each video to a bucket (--sync-to) as it lands must not be the
// bottleneck: the same batch with and without it. In sync the simulator
// answers at once, as in overhead, so that nothing but pikabatch sets the
// pace and the copies compete with the downloads for the same disk and
// CPU: the harshest case, and a measure of what a copy costs. In
// sync-paced the jobs render for 2 s on 256 slots (at most 128 jobs/s),
// as an API paces a real batch. The runs alternate which goes first, so
// the machine's drift falls on both.
func syncScenario(name string, runTime time.Duration) scenario {
	return scenario{
		name: name, rows: 10_000, least: 50,
		setup: func(p params) string {
			server := "gofakes3 in the bench's process, in memory"
			if versityBin() != "" {
				server = "a local versitygw " + versitygw.Version + " (posix backend, on this disk)"
			}
			pace := "no queue or run time"
			if runTime > zeroRunTime {
				pace = fmt.Sprintf("%d slots, jobs of %s", 4*overheadConcurrency, p.dur(runTime))
			}
			return fmt.Sprintf("%d rows, 256 KiB videos, %s, no rate limit; run --concurrency %d --download-concurrency %d --rps 0, without and with --sync-to %s on loopback",
				p.rows, pace, overheadConcurrency, overheadDownloads, server)
		},
		figures: func(params) []Figure {
			return []Figure{
				fig("jobs_per_s", "jobs/s"),
				fig("jobs_per_s_sync", "jobs/s"),
				atLeast(fig("sync_ratio", "×"), 0.8),
				fig("peak_rss", "MB"),
				atMost(fig("peak_rss_sync", "MB"), 150),
				fig("cpu_per_job_sync", "ms"),
			}
		},
		prepare: prepareRows,
		run: func(ctx context.Context, s *session, p params, i int) (map[string]float64, error) {
			return runSync(ctx, s, p, i, p.dur(runTime))
		},
	}
}

// runSync runs the batch once without and once with --sync-to, the one
// with first in every other run.
func runSync(ctx context.Context, s *session, p params, i int, runTime time.Duration) (map[string]float64, error) {
	var plain, synced childResult
	order := []bool{false, true}
	if i%2 == 1 {
		order = []bool{true, false}
	}
	for k, withSync := range order {
		settle() // the first run's writes are not the second's cost
		res, err := syncRun(ctx, s, p, 2*i+k, runTime, withSync)
		if err != nil {
			return nil, err
		}
		if withSync {
			synced = res
		} else {
			plain = res
		}
	}
	return map[string]float64{
		"jobs_per_s":       float64(p.rows) / seconds(plain.wall),
		"jobs_per_s_sync":  float64(p.rows) / seconds(synced.wall),
		"sync_ratio":       seconds(plain.wall) / seconds(synced.wall),
		"peak_rss":         float64(plain.maxRSS) / mb,
		"peak_rss_sync":    float64(synced.maxRSS) / mb,
		"cpu_per_job_sync": millis(synced.cpu) / float64(p.rows),
	}, nil
}

// syncRun renders the batch into a fresh folder (the n-th), copying it to
// a fresh bucket when withSync, and checks every video was copied.
func syncRun(ctx context.Context, s *session, p params, n int, runTime time.Duration, withSync bool) (childResult, error) {
	srv, out, err := p.start(sim.Config{Slots: 4 * overheadConcurrency, RunTime: max(runTime, zeroRunTime), VideoSize: syncVideoSize,
		Seed: int64(n + 1)}, n)
	if err != nil {
		return childResult{}, err
	}
	defer srv.close()
	env := []string{"RUNCOMFY_API_BASE=" + srv.apiURL, "RUNCOMFY_API_TOKEN=" + srv.Token(), "RUNCOMFY_API_TOKEN_FILE="}
	flags := []string{"--concurrency", strconv.Itoa(overheadConcurrency), "--download-concurrency", strconv.Itoa(overheadDownloads), "--rps", "0"}
	if withSync {
		b, err := startS3(ctx, p.dir)
		if err != nil {
			return childResult{}, err
		}
		defer b.close()
		env = append(env, b.env()...)
		flags = append(flags, "--sync-to", b.syncTo("run-"+strconv.Itoa(n)))
	}
	res, _, err := s.runBatchEnv(ctx, env, p.manifest(), out, flags...)
	if err != nil || !withSync {
		return res, err
	}
	var sum copiesSummary
	if err := json.Unmarshal(res.stdout, &sum); err != nil {
		return res, fmt.Errorf("read run summary: %w", err)
	}
	if sum.Copies == nil || sum.Copies.Waiting > 0 || sum.Copies.Uploaded < p.rows {
		return res, fmt.Errorf("%w: not every video copied: %s", errNotDone, res.stdout)
	}
	return res, nil
}
