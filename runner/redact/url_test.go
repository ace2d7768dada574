package redact_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner/redact"
)

func TestURL(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"https://img.example.com/a.png":           "https://img.example.com/a.png",
		"https://u:p@img.example.com/a.png?x=1#f": "https://REDACTED@img.example.com/a.png?x=1#f",
		"https://u@img.example.com":               "https://REDACTED@img.example.com",
		"https://img.example.com/a@b.png":         "https://img.example.com/a@b.png",
		"https://b.s3.amazonaws.com/a.png?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA%2F2026&X-Amz-Signature=abc123&X-Amz-Expires=900": "https://b.s3.amazonaws.com/a.png?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=REDACTED&X-Amz-Signature=REDACTED&X-Amz-Expires=900",
		"https://a.blob.core.windows.net/c/a.png?sv=2024&sig=abc%3D&se=2026":                                                                      "https://a.blob.core.windows.net/c/a.png?sv=2024&sig=REDACTED&se=2026",
		"https://d.cloudfront.net/a.png?Policy=p&Signature=s&Key-Pair-Id=k":                                                                       "https://d.cloudfront.net/a.png?Policy=REDACTED&Signature=REDACTED&Key-Pair-Id=REDACTED",
		"https://h/a.png?token=t&access_token=t&api_key=k&X-Goog-Signature=s&page=2&flag":                                                         "https://h/a.png?token=REDACTED&access_token=REDACTED&api_key=REDACTED&X-Goog-Signature=REDACTED&page=2&flag",
		"not a url user:pass@host":    "not a url user:pass@host",
		"https://u:p@h/a b\x7f?sig=1": "https://REDACTED@h/a b\x7f?sig=REDACTED",
	} {
		assert.Equal(t, want, redact.URL(in), in)
	}
}

func TestSkipsWhatCannotChange(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"https://img.example.com/batch/0000001.png", "https://img.example.com/batch/0000001.png"},
		{"see https://img.example.com/a.png, then", "see https://img.example.com/a.png, then"},
		{"https://img.example.com/a.png?sig=s3cr3t", "https://img.example.com/a.png?sig=REDACTED"},
		{"fetch https://u:p@img.example.com/a.png: 403", "fetch https://REDACTED@img.example.com/a.png: 403"},
	} {
		assert.Equal(t, tc.want, redact.URLsIn(tc.in), tc.in)
	}
	for _, tc := range []struct{ in, want string }{
		{`{"image":"https://img.example.com/a.png","seed":1}`, `{"image":"https://img.example.com/a.png","seed":1}`},
		{`{"image":"https://img.example.com/a.png?sig=s3cr3t"}`, `{"image":"https://img.example.com/a.png?sig=REDACTED"}`},
		// An escaped ? still marks a query.
		{`{"image":"https://img.example.com/a.png\u003fsig=s3cr3t"}`, `{"image":"https://img.example.com/a.png?sig=REDACTED"}`},
	} {
		assert.Equal(t, tc.want, string(redact.JSONStrings([]byte(tc.in))), tc.in)
	}
}

// TestURLsInAndURLError pins how URLs in free text and client errors are
// shown (TestURL pins what URL keeps and drops).
func TestURLsInAndURLError(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "could not fetch https://REDACTED@h/x.jpg?token=REDACTED: 403",
		redact.URLsIn("could not fetch https://u:p@h/x.jpg?token=s3cr3t: 403"))
	_, err := http.Get("http://u:p@127.0.0.1:1/x?sig=secret")
	require.Error(t, err)
	msg := redact.URLError(err).Error()
	assert.NotContains(t, msg, "secret")
	assert.NotContains(t, msg, "u:p")
}

func TestResultURL(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "https://cdn.example.com/out/a.png", redact.ResultURL("https://u:p@cdn.example.com/out/a.png?X-Amz-Signature=s3cr3t#f"))
	assert.Equal(t, "(unparseable URL)", redact.ResultURL("https://h/%zz"))
}

func TestWithoutURL(t *testing.T) {
	t.Parallel()
	_, err := http.Get("http://127.0.0.1:1/hooks/T0/B0/s3cr3t")
	require.Error(t, err)
	msg := redact.WithoutURL(err).Error()
	assert.NotContains(t, msg, "s3cr3t")
	assert.Contains(t, msg, "Get")
}
