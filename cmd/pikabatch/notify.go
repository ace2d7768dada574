package main

import (
	"context"
	"log/slog"
	"net/http"
	"os"

	"github.com/pikabatch/pikabatch/runner/batch"
	"github.com/pikabatch/pikabatch/runner/notify"
)

// notifyPayload is what --notify-url receives (notify.Payload).
type notifyPayload = notify.Payload

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
	p.SetText(host)
	notify.Post(ctx, rawURL, p, &http.Client{Transport: batch.Transport(1)}, log)
}

// secretFlags are flags whose values must not be written to the owner
// file, the live status or a LockedError message.
var secretFlags = []string{"notify-url"}
