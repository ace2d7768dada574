package inputs

import (
	"errors"
	"regexp"

	"github.com/pikabatch/pikabatch/runner/api"
	"github.com/pikabatch/pikabatch/runner/redact"
)

// dataURIText matches a data: URI's payload in a message, to cut it.
var dataURIText = regexp.MustCompile(`(data:[A-Za-z0-9.+/-]*(?:;[A-Za-z0-9=.+-]*)*;base64,)[A-Za-z0-9+/=]+`)

// scrubText removes from an API message what a prepared body put in the
// request and the state must not keep: pre-signed URLs' signatures and the
// bytes of data: URIs, should the API quote its input back.
func scrubText(s string) string {
	s = redact.URLsIn(s)
	if len(s) > 5 && dataURIText.MatchString(s) {
		s = dataURIText.ReplaceAllString(s, "${1}…")
	}
	return s
}

// scrubError scrubs err's message (see scrubText), and the API's own
// message in it, which the runner records as the row's error.
func scrubError(err error) error {
	if err == nil {
		return nil
	}
	var se *api.StatusError
	if errors.As(err, &se) {
		se.Message = scrubText(se.Message) // the client made it for this call alone
	}
	text := scrubText(err.Error())
	if text == err.Error() {
		return err
	}
	return &scrubbedError{msg: text, err: err}
}

// scrubbedError is an error with its text scrubbed, unwrapping to the
// error it was made from so that callers still branch on it.
type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }
