package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pikabatch/pikabatch/runner/sim"
)

// The slot-bound scenario: long jobs whose run times vary, an account of
// few slots, and more rows than slots, so that rows wait for a slot all
// night and every second between a job's finish and its client noticing
// it is a second that slot sits idle. pikabatch runs beside two clients a
// user could write in an afternoon (submit, poll the status at a fixed
// interval, fetch the result, download; five threads): one polling four
// times a second, near what the account's rate allows, as the reference
// for how soon a finish can be noticed, and one polling every two seconds.
// Each client has its own simulator, in its own process, and every row
// runs the same time on each (the simulator draws a row's run time from
// a hash of its input), so they all get the same work at the same time.
const (
	slotboundSlots   = 5
	slotboundRun     = 20 * time.Second
	slotboundQueue   = 2 * time.Second
	slotboundWorkers = 5
	slotboundFast    = 250 * time.Millisecond
	slotboundSlow    = 2 * time.Second
)

// slotboundSpreads are the run times' spreads, ± fractions of slotboundRun.
var slotboundSpreads = []float64{0.2, 0.5}

// slotboundTargets are, per spread, pikabatch's makespan over the fast
// client's at most, and its status and result calls per job at most.
var slotboundTargets = map[float64][2]float64{0.2: {1.03, 6}, 0.5: {1.04, 8}}

// slotboundClients are the clients compared, in the figures' order.
var slotboundClients = []string{"pikabatch", "script_250ms", "script_2s"}

func slotboundScenario() scenario {
	return scenario{
		name: "slotbound", rows: 40, least: 20,
		setup: func(p params) string {
			return fmt.Sprintf("S=%d slots, N=%d rows of D=%s ±20%% and ±50%% (by row, the same for every client), %s in queue; "+
				"pikabatch run --concurrency %d, default flags, beside scripts of %d threads polling /status every %s and every %s, each on its own simulator process; "+
				"makespan is the simulator's first submit to last finish; calls are status and result calls per job, the result fetch included",
				slotboundSlots, p.rows, p.dur(slotboundRun), p.dur(slotboundQueue), slotboundSlots, slotboundWorkers,
				p.dur(slotboundFast), p.dur(slotboundSlow))
		},
		figures: slotboundFigures,
		prepare: prepareRows,
		run:     runSlotbound,
	}
}

func spreadTag(spread float64) string { return "pm" + strconv.Itoa(int(math.Round(spread*100))) }

func slotboundFigures(params) []Figure {
	var fs []Figure
	for _, spread := range slotboundSpreads {
		tag, t := spreadTag(spread), slotboundTargets[spread]
		fs = append(fs,
			atMost(fig(tag+"_vs_250ms", "×"), t[0]),
			atMost(fig(tag+"_vs_2s", "×"), 1),
			atMost(fig(tag+"_calls_per_job", ""), t[1]))
		for _, c := range slotboundClients {
			fs = append(fs, fig(tag+"_makespan_"+c, "s"))
		}
		for _, c := range slotboundClients[1:] {
			fs = append(fs, fig(tag+"_calls_per_job_"+c, ""))
		}
	}
	return fs
}

// slotboundOutcome is what one client's simulator saw.
type slotboundOutcome struct {
	makespan time.Duration
	calls    float64 // status and result calls per completed job
	inputs   []string
	err      error
}

// runSlotbound runs every client against every spread at once, each pair
// on its own simulator: the jobs' run times, not the CPU, set the pace.
func runSlotbound(ctx context.Context, s *session, p params, i int) (map[string]float64, error) {
	rows := slotboundRows(p.rows)
	out := map[string]*slotboundOutcome{}
	var wg sync.WaitGroup
	for _, spread := range slotboundSpreads {
		for _, c := range slotboundClients {
			o := &slotboundOutcome{}
			out[spreadTag(spread)+"/"+c] = o
			wg.Go(func() { *o = s.slotboundClient(ctx, p, i, spread, c, rows) })
		}
	}
	wg.Wait()
	got := map[string]float64{}
	for _, spread := range slotboundSpreads {
		tag := spreadTag(spread)
		pb := out[tag+"/pikabatch"]
		for _, c := range slotboundClients {
			o := out[tag+"/"+c]
			if o.err != nil {
				return nil, fmt.Errorf("%s %s: %w", tag, c, o.err)
			}
			if strings.Join(o.inputs, "\n") != strings.Join(pb.inputs, "\n") {
				return nil, fmt.Errorf("%s %s: its rows are not pikabatch's, so their run times differ", tag, c)
			}
			got[tag+"_makespan_"+c] = seconds(o.makespan)
			if c != "pikabatch" {
				got[tag+"_calls_per_job_"+c] = o.calls
			}
		}
		got[tag+"_vs_250ms"] = float64(pb.makespan) / float64(out[tag+"/script_250ms"].makespan)
		got[tag+"_vs_2s"] = float64(pb.makespan) / float64(out[tag+"/script_2s"].makespan)
		got[tag+"_calls_per_job"] = pb.calls
	}
	return got, nil
}

// slotboundClient starts a simulator and runs client c against it.
func (s *session) slotboundClient(ctx context.Context, p params, i int, spread float64, c string, rows []map[string]any) slotboundOutcome {
	ms := func(d time.Duration) string { return strconv.FormatInt(p.dur(d).Milliseconds(), 10) }
	srv, err := s.startSimChild(ctx, "--slots", strconv.Itoa(slotboundSlots), "--run-ms", ms(slotboundRun),
		"--queue-ms", ms(slotboundQueue), "--jitter", strconv.FormatFloat(spread, 'g', -1, 64), "--jitter-by-input",
		"--video-size", strconv.Itoa(videoSize), "--seed", strconv.Itoa(i+1))
	if err != nil {
		return slotboundOutcome{err: err}
	}
	defer srv.stop()
	switch c {
	case "pikabatch":
		out := filepath.Join(p.dir, fmt.Sprintf("run-%d-%s", i+1, spreadTag(spread)))
		_, _, err = s.runBatchEnv(ctx, srv.env(), p.manifest(), out, "--concurrency", strconv.Itoa(slotboundSlots))
	case "script_250ms":
		err = srv.script(p.dur(slotboundFast)).run(ctx, rows)
	default:
		err = srv.script(p.dur(slotboundSlow)).run(ctx, rows)
	}
	if err != nil {
		return slotboundOutcome{err: err}
	}
	return srv.outcome(ctx)
}

// outcome reads the simulator's timeline and counters after a client ran.
func (c *simChild) outcome(ctx context.Context) slotboundOutcome {
	var jobs []sim.JobInfo
	if err := c.getJSON(ctx, "/_sim/jobs", &jobs); err != nil {
		return slotboundOutcome{err: err}
	}
	cnt, err := c.counters(ctx)
	if err != nil {
		return slotboundOutcome{err: err}
	}
	if cnt.Completed == 0 {
		return slotboundOutcome{err: errNotDone}
	}
	o := slotboundOutcome{makespan: timelineOf(jobs).makespan,
		calls: float64(cnt.StatusCalls+cnt.ResultCalls) / float64(cnt.Completed)}
	for _, j := range jobs {
		o.inputs = append(o.inputs, string(j.Input))
	}
	slices.Sort(o.inputs)
	return o
}

// getJSON decodes the simulator's answer to GET path into v.
func (c *simChild) getJSON(ctx context.Context, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.apiURL+path, nil)
	if err != nil {
		return err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return fmt.Errorf("sim %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("sim %s: HTTP %d", path, resp.StatusCode)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// slotboundRows are the inputs writeManifest's rows submit: the script
// clients send the same, so the simulator gives each row the same run time.
func slotboundRows(n int) []map[string]any {
	rows := make([]map[string]any, n)
	for i := range rows {
		rows[i] = map[string]any{
			"image":      fmt.Sprintf("https://img.example.com/batch/%07d.png", i),
			"promptText": fmt.Sprintf("a slow pan over scene %d with soft light", i),
			"seed":       i, "resolution": "720p", "duration": 5,
		}
	}
	return rows
}

// script is the client a user writes in an afternoon: workers threads,
// each submitting a row, polling its status every interval until it
// finishes, fetching the result and downloading the video.
type script struct {
	base, token string
	interval    time.Duration
	client      *http.Client
}

func (c *simChild) script(interval time.Duration) *script {
	return &script{base: c.apiURL, token: simChildToken, interval: interval,
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 2 * slotboundWorkers}}}
}

func (sc *script) run(ctx context.Context, rows []map[string]any) error {
	next := make(chan map[string]any)
	errs := make(chan error, slotboundWorkers)
	var wg sync.WaitGroup
	for range slotboundWorkers {
		wg.Go(func() {
			for row := range next {
				if err := sc.render(ctx, row); err != nil {
					errs <- err
					return
				}
			}
		})
	}
feed:
	for _, row := range rows {
		select {
		case next <- row:
		case err := <-errs:
			close(next)
			wg.Wait()
			return err
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return ctx.Err()
	}
}

// render takes one row from submit to downloaded video.
func (sc *script) render(ctx context.Context, row map[string]any) error {
	body, err := json.Marshal(row)
	if err != nil {
		return err
	}
	var sub struct {
		RequestID string `json:"request_id"`
	}
	if err := sc.call(ctx, http.MethodPost, "/v1/models/"+model, string(body), &sub); err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(sc.interval):
		}
		var st struct {
			Status string `json:"status"`
		}
		if err := sc.call(ctx, http.MethodGet, "/v1/requests/"+sub.RequestID+"/status", "", &st); err != nil {
			return err
		}
		if st.Status == "completed" || st.Status == "failed" || st.Status == "cancelled" {
			break
		}
	}
	var res struct {
		Status string `json:"status"`
		Output struct {
			Video string `json:"video"`
		} `json:"output"`
	}
	if err := sc.call(ctx, http.MethodGet, "/v1/requests/"+sub.RequestID+"/result", "", &res); err != nil {
		return err
	}
	if res.Output.Video == "" {
		return fmt.Errorf("request %s ended %q with no video", sub.RequestID, res.Status)
	}
	return sc.download(ctx, res.Output.Video)
}

func (sc *script) call(ctx context.Context, method, path, body string, v any) error {
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, sc.base+path, r)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+sc.token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := sc.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("%s %s: HTTP %d: %s", method, path, resp.StatusCode, msg)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

func (sc *script) download(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := sc.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("download: HTTP %d", resp.StatusCode)
	}
	_, err = io.Copy(io.Discard, resp.Body)
	return err
}
