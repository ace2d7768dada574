package notify

import (
	"fmt"
	"time"

	"github.com/pikabatch/pikabatch/runner/account"
	"github.com/pikabatch/pikabatch/runner/api"
)

// Payload is what the webhook receives. "text" makes Slack-style incoming
// webhooks post it as a message; the rest is for scripts. Its size does
// not grow with the manifest: Summary.FailReasons holds the reasons.Shown
// most frequent reasons and one count for the rest.
type Payload struct {
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

// SetText names the host the run ran on and writes the message people
// read from the rest: outcome, the batch's account, this run's counts and
// spend, and the error.
func (p *Payload) SetText(host string) {
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
}
