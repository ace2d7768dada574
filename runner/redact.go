package runner

import (
	"errors"
	"fmt"
	"net/url"
)

// What of a URL may be shown in logs, errors, the results index and
// exports. An image URL may carry a password (https://user:pass@host/…) or
// a signature in its query: manifest.RedactURL, the one redactor, hides
// those and keeps the rest (results.RedactURLsIn applies it to free text).
// A result URL is pre-signed, its whole query a credential:
// redactResultURL drops it. Only the submit body that goes to
// the API keeps the raw value.

// redactResultURL keeps scheme, host and path of a result URL, never its
// user information, query or fragment: a result URL is pre-signed, and its
// whole query is the credential.
func redactResultURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	u.RawQuery, u.Fragment, u.User = "", "", nil
	return u.String()
}

// RedactURLError drops the URL from an HTTP client error (*url.Error
// prints it whole, query and user information included) and shows it as
// redactResultURL does.
func RedactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s %s: %w", ue.Op, redactResultURL(ue.URL), ue.Err)
	}
	return err
}

// StripURLError drops the URL from an HTTP client error altogether, for a
// URL whose path is itself the secret (a webhook's, --notify-url).
func StripURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}
