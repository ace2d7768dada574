// Package notify posts a finished run's summary to a webhook: Slack-style
// incoming webhooks take a JSON body with a "text" field. A notice informs;
// it never changes a run's outcome, so every failure is logged, never
// returned, and the post is bounded in time.
package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/pikabatch/pikabatch/runner/api"
	"github.com/pikabatch/pikabatch/runner/redact"
)

// Timeout bounds the post: a slow webhook must not hold up a cron job's
// exit.
const Timeout = 10 * time.Second

// ErrBadURL is a webhook URL that is not an absolute http or https URL.
var ErrBadURL = errors.New("not an absolute http or https URL")

// CheckURL accepts absolute http(s) URLs.
func CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return ErrBadURL
	}
	return nil
}

// Post sends payload as JSON to rawURL, within Timeout even when ctx is
// cancelled (a run stopped by a signal still says so). The URL itself may
// be a secret, as webhook URLs are: only its host is logged.
func Post(ctx context.Context, rawURL string, payload any, client *http.Client, log *slog.Logger) {
	body, err := json.Marshal(payload)
	if err != nil {
		log.Warn("notify: summary not encoded", "err", err)
		return
	}
	u, _ := url.Parse(rawURL)
	host := ""
	if u != nil {
		host = u.Host
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rawURL, bytes.NewReader(body))
	if err != nil {
		log.Warn("notify: bad URL", "host", host)
		return
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "pikabatch/"+api.Version)
	resp, err := client.Do(req)
	if err != nil {
		log.Warn("notify: not sent", "host", host, "err", redact.WithoutURL(err))
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		log.Warn("notify: refused", "host", host, "status", resp.StatusCode)
		return
	}
	log.Info("notified", "host", host)
}
