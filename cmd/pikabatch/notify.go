package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/pikabatch/pikabatch/runner/account"
	"github.com/pikabatch/pikabatch/runner/api"
	"github.com/pikabatch/pikabatch/runner/redact"
)

// notifyTimeout bounds the end-of-run POST: a slow webhook must not hold
// up a cron job's exit.
const notifyTimeout = 10 * time.Second

// notifyPayload is what --notify-url receives. "text" makes Slack-style
// incoming webhooks post it as a message; the rest is for scripts. Its
// size does not grow with the manifest: Summary.FailReasons holds the
// reasons.Shown most frequent reasons and one count for the rest.
type notifyPayload struct {
	Version   int             `json:"version"`
	Text      string          `json:"text"`
	Outcome   string          `json:"outcome"` // done, failed, incomplete, interrupted, error
	ExitCode  int             `json:"exit_code"`
	Error     string          `json:"error,omitempty"`
	Host      string          `json:"host"`
	Manifest  string          `json:"manifest"`
	StateFile string          `json:"state_file"`
	Summary   account.Figures `json:"summary"` // as in run --json
	APICalls  api.Calls       `json:"api_calls"`
}

// checkNotifyURL accepts absolute http(s) URLs.
func checkNotifyURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return usagef("--notify-url must be an absolute http or https URL")
	}
	return nil
}

// outcome names an exit code for people.
func outcome(code int) string {
	switch code {
	case exitOK:
		return "done"
	case exitFailedRows:
		return "failed"
	case exitTempFail:
		return "incomplete"
	case exitSIGINT, exitSIGTERM:
		return "interrupted"
	}
	return "error"
}

// notify POSTs the run's summary to rawURL. A failure is logged, never
// fatal: the run's outcome is already decided and recorded.
func notify(ctx context.Context, rawURL string, p notifyPayload, log *slog.Logger) {
	host, _ := os.Hostname()
	p.Host = host
	s := p.Summary
	p.Text = fmt.Sprintf("pikabatch on %s: %s (exit %d): %s; this run submitted %d, downloaded %d, failed %d, cancelled %d; %s",
		host, p.Outcome, p.ExitCode, s.Account, s.Submitted, s.Downloaded, s.Failed, s.Cancelled, s.Wall.Round(time.Second))
	if line := s.Account.Spend.String(); line != "" {
		p.Text += "; " + line
	}
	if p.Error != "" {
		p.Text += " — " + p.Error
	}
	body, err := json.Marshal(p)
	if err != nil {
		log.Warn("notify: summary not encoded", "err", err)
		return
	}
	// The URL itself may be a secret (webhook URLs are): only its host is logged.
	u, _ := url.Parse(rawURL)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), notifyTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rawURL, bytes.NewReader(body))
	if err != nil {
		log.Warn("notify: bad URL", "host", u.Host)
		return
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "pikabatch/"+api.Version)
	resp, err := (&http.Client{Transport: transport(1)}).Do(req)
	if err != nil {
		log.Warn("notify: not sent", "host", u.Host, "err", redact.WithoutURL(err))
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		log.Warn("notify: refused", "host", u.Host, "status", resp.StatusCode)
		return
	}
	log.Info("notified", "host", u.Host)
}

// secretFlags are flags whose values must not be written to the owner
// file, the live status or a LockedError message.
var secretFlags = []string{"notify-url"}
