package results

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestEscapeControls(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct{ in, want string }{
		"plain":           {"waves at dusk", "waves at dusk"},
		"text controls":   {"a\tb\nc\rd", "a\tb\nc\rd"},
		"escape sequence": {"\x1b[2Jgone", `\x1b[2Jgone`},
		"bell and DEL":    {"\a\x7f", `\x07\x7f`},
		"C1":              {"\u009b31m", `\u009b31m`},
		"unicode kept":    {"façade ✓", "façade ✓"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, EscapeControls(tc.in))
		})
	}
}
