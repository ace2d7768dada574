package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Job states, as normalised by the client. The API's "succeeded" reads as
// StatusCompleted and "canceled" as StatusCancelled. Any other word
// ("pending", "starting", "processing", a word added later) reads as
// StatusUnknown, never as an error: the job is still there and may still
// finish, so a caller keeps looking at it.
const (
	StatusInQueue    = "in_queue"
	StatusInProgress = "in_progress"
	StatusCompleted  = "completed"
	StatusCancelled  = "cancelled"
	StatusFailed     = "failed"
	StatusUnknown    = "unknown"
)

// SubmitResponse is the API's answer to an accepted submit. The URLs are
// informational only: the client builds status, result and cancel URLs from
// its base URL and RequestID, because these may point elsewhere.
type SubmitResponse struct {
	RequestID string `json:"request_id"`
	StatusURL string `json:"status_url"`
	ResultURL string `json:"result_url"`
	CancelURL string `json:"cancel_url"`
}

// Status is a job's current state.
type Status struct {
	RequestID string `json:"request_id"`
	// Status is one of the Status* constants.
	Status string `json:"status"`
	// Word is the API's own status word when Status is StatusUnknown
	// (e.g. "pending"), with control characters and the token removed and
	// at most 100 bytes; empty otherwise.
	Word string `json:"word,omitempty"`
	// QueuePosition is the number of jobs ahead while queued; -1 when the
	// API does not say.
	QueuePosition int `json:"queue_position"`
}

// Result is a job's outcome, or its current state before it finishes.
type Result struct {
	RequestID string
	// Status is one of the Status* constants. A job that completed without
	// any output reads as StatusFailed.
	Status string
	// Word is the API's own status word when Status is StatusUnknown, as
	// in Status.Word; empty otherwise.
	Word string
	// Outputs holds the http(s) URLs from output.video, output.videos,
	// output.image and output.images, in that order, without duplicates.
	// It is empty unless Status is StatusCompleted. The URLs point at a
	// storage host: fetch them without the token.
	Outputs []string
	// Error is the API's message for a failed generation, or "completed
	// without output"; empty otherwise (and when the API gave no message).
	Error      string
	CreatedAt  time.Time
	FinishedAt time.Time
	// Cost is what the job cost in dollars, from the answer's "cost" (a
	// number or a numeric string); nil when the API did not say, which is
	// unknown, not free.
	Cost *float64
}

// Limits on text taken from response bodies.
const (
	maxBodyText    = 500  // bytes of raw body used as a message
	maxMessageText = 1000 // bytes of a message the API put in a field
	maxCodeText    = 100  // bytes of an error_code
	maxWordText    = 100  // bytes of a status or outcome word
)

// normaliseStatus maps the API's status word to a Status* constant;
// StatusUnknown for a word the client does not know.
func normaliseStatus(s string) string {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case StatusInQueue:
		return StatusInQueue
	case StatusInProgress:
		return StatusInProgress
	case StatusCompleted, "succeeded":
		return StatusCompleted
	case StatusCancelled, "canceled":
		return StatusCancelled
	case StatusFailed:
		return StatusFailed
	}
	return StatusUnknown
}

// fields is a JSON object whose values are decoded on demand, so that one
// body can be read leniently in several shapes.
type fields map[string]json.RawMessage

// decodeObject decodes a JSON object.
func decodeObject(data []byte) (fields, error) {
	var f fields
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, err
	}
	if f == nil { // the body was null
		return nil, errors.New("body is null, not an object")
	}
	return f, nil
}

// str returns the string at key, or "" if it is absent or not a string.
func (f fields) str(key string) string {
	var s string
	if json.Unmarshal(f[key], &s) != nil {
		return ""
	}
	return s
}

// errorCode returns the body's error_code: at the top level, else inside
// "error": {"code": …}. n is its value when it is a number or a numeric
// string; text is what it says otherwise. Both are zero when it is absent
// or says "no error" (null, "", 0, false).
func (f fields) errorCode() (n int, text string) {
	n, text = codeOf(f["error_code"])
	if n != 0 || text != "" {
		return n, text
	}
	var inner fields
	if json.Unmarshal(f["error"], &inner) != nil || inner == nil {
		return 0, ""
	}
	if n, text = codeOf(inner["code"]); n != 0 || text != "" {
		return n, text
	}
	return codeOf(inner["error_code"])
}

// hasErrorCode reports whether the body carries an error_code.
func (f fields) hasErrorCode() bool {
	n, text := f.errorCode()
	return n != 0 || text != ""
}

// codeOf reads one error_code value; see errorCode.
func codeOf(raw json.RawMessage) (int, string) {
	raw = bytes.TrimSpace(raw)
	switch string(raw) {
	case "", "null", `""`, "0", "false":
		return 0, ""
	}
	text := string(raw)
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return 0, ""
		}
		text = strings.TrimSpace(s)
	}
	if text == "" || text == "0" {
		return 0, ""
	}
	// An integer, possibly written as 400004.0: anything else is text.
	if v, err := strconv.ParseFloat(text, 64); err == nil {
		if v == math.Trunc(v) && v > 0 && v <= math.MaxInt32 {
			return int(v), ""
		}
	}
	if raw[0] == '{' || raw[0] == '[' {
		return 0, "" // not a code at all
	}
	return 0, text
}

// queuePosition returns queue_position, given as a number or a numeric
// string; -1 when absent, null, negative or not a number.
func (f fields) queuePosition() int {
	raw := bytes.TrimSpace(f["queue_position"])
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return -1
		}
		raw = []byte(strings.TrimSpace(s))
	}
	n, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || n < 0 || n > math.MaxInt32 || math.IsNaN(n) {
		return -1
	}
	return int(n)
}

// Key orders for the API's message. An error document names the message
// first; a result names the generation's error first.
var (
	errorMessageKeys  = []string{"error_message", "message", "detail", "error"}
	resultMessageKeys = []string{"error", "error_message", "message", "detail"}
	nestedMessageKeys = []string{"message", "error_message", "detail", "msg", "error"}
)

// message returns the first non-empty message under keys. A value may be a
// string, an object holding a message, or an array of either (as in
// FastAPI's 422 "detail" list), joined with "; ".
func message(f fields, keys []string) string {
	for _, k := range keys {
		if s := textOf(f[k], 0); s != "" {
			return s
		}
	}
	return ""
}

func textOf(raw json.RawMessage, depth int) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || depth > 3 {
		return ""
	}
	switch raw[0] {
	case '"':
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return ""
		}
		return strings.TrimSpace(s)
	case '{':
		var f fields
		if json.Unmarshal(raw, &f) != nil {
			return ""
		}
		for _, k := range nestedMessageKeys {
			if s := textOf(f[k], depth+1); s != "" {
				return s
			}
		}
	case '[':
		var items []json.RawMessage
		if json.Unmarshal(raw, &items) != nil {
			return ""
		}
		var parts []string
		for _, it := range items {
			if s := textOf(it, depth+1); s != "" {
				parts = append(parts, s)
			}
		}
		return strings.Join(parts, "; ")
	}
	return ""
}

// outputKeys are read in this order; pika image-to-video answers "video".
var outputKeys = []string{"video", "videos", "image", "images"}

// outputURLs collects the file URLs of a result's output.
func outputURLs(raw json.RawMessage) []string {
	var urls []string
	add := func(s string) {
		s = strings.TrimSpace(s)
		if isFileURL(s) && !slices.Contains(urls, s) {
			urls = append(urls, s)
		}
	}
	var f fields
	if json.Unmarshal(raw, &f) == nil && f != nil {
		for _, k := range outputKeys {
			collectURLs(f[k], 0, add)
		}
		return urls
	}
	// Not an object: take a bare URL or list rather than drop a paid output.
	collectURLs(raw, 0, add)
	return urls
}

// collectURLs finds URLs in a string, an object with "url", or an array of these.
func collectURLs(raw json.RawMessage, depth int, add func(string)) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || depth > 2 {
		return
	}
	switch raw[0] {
	case '"':
		var s string
		if json.Unmarshal(raw, &s) == nil {
			add(s)
		}
	case '{':
		var f fields
		if json.Unmarshal(raw, &f) == nil {
			collectURLs(f["url"], depth+1, add)
		}
	case '[':
		var items []json.RawMessage
		if json.Unmarshal(raw, &items) == nil {
			for _, it := range items {
				collectURLs(it, depth+1, add)
			}
		}
	}
}

// isFileURL reports whether s is an absolute http(s) URL with a host.
func isFileURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != ""
}

var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
}

// parseTime reads an RFC 3339 time (a zone-less one is UTC) or Unix seconds
// (milliseconds when the number is that large); zero if it is neither.
func parseTime(raw json.RawMessage) time.Time {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return time.Time{}
	}
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return time.Time{}
		}
		s = strings.TrimSpace(s)
		for _, layout := range timeLayouts {
			if t, err := time.Parse(layout, s); err == nil {
				return t.UTC()
			}
		}
		return time.Time{}
	}
	n, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || n <= 0 || math.IsInf(n, 0) {
		return time.Time{}
	}
	if n > 1e12 {
		return time.UnixMilli(int64(n)).UTC()
	}
	sec, frac := math.Modf(n)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC()
}

// sanitize turns control characters (a terminal escape from a hostile body)
// into spaces, collapses runs of white space and trims the result.
func sanitize(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			space = true
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(r)
	}
	return b.String()
}

// truncate cuts s to at most n bytes on a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
