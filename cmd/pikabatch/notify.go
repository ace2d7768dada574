package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/pikabatch/pikabatch/runner/account"
	"github.com/pikabatch/pikabatch/runner/api"
	"github.com/pikabatch/pikabatch/runner/notify"
)

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
	if notify.CheckURL(raw) != nil {
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

// postNotice posts the run's summary to rawURL (notify.Post). A failure
// is logged, never fatal: the run's outcome is already decided and recorded.
func postNotice(ctx context.Context, rawURL string, p notifyPayload, log *slog.Logger) {
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
	notify.Post(ctx, rawURL, p, &http.Client{Transport: transport(1)}, log)
}

// secretFlags are flags whose values must not be written to the owner
// file, the live status or a LockedError message.
var secretFlags = []string{"notify-url"}
