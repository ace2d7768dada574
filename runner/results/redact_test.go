package results

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestRedactSkipsWhatCannotChange(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"https://img.example.com/batch/0000001.png", "https://img.example.com/batch/0000001.png"},
		{"see https://img.example.com/a.png, then", "see https://img.example.com/a.png, then"},
		{"https://img.example.com/a.png?sig=s3cr3t", "https://img.example.com/a.png?sig=REDACTED"},
		{"fetch https://u:p@img.example.com/a.png: 403", "fetch https://REDACTED@img.example.com/a.png: 403"},
	} {
		assert.Equal(t, tc.want, RedactURLsIn(tc.in), tc.in)
	}
	for _, tc := range []struct{ in, want string }{
		{`{"image":"https://img.example.com/a.png","seed":1}`, `{"image":"https://img.example.com/a.png","seed":1}`},
		{`{"image":"https://img.example.com/a.png?sig=s3cr3t"}`, `{"image":"https://img.example.com/a.png?sig=REDACTED"}`},
		// An escaped ? still marks a query.
		{`{"image":"https://img.example.com/a.png\u003fsig=s3cr3t"}`, `{"image":"https://img.example.com/a.png?sig=REDACTED"}`},
	} {
		assert.Equal(t, tc.want, string(redactJSONStrings([]byte(tc.in))), tc.in)
	}
}
