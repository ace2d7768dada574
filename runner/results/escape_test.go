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

func TestNeutraliseFormula(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"=1+1": "'=1+1", "+1+1": "'+1+1", "-1+1": "'-1+1", "@SUM(A1)": "'@SUM(A1)", "\t=1": "'\t=1", "\r=1": "'\r=1",
		"-5": "-5", "-0.25": "-0.25", "-1e-3": "-1e-3", "5": "5", "": "", "a=b": "a=b", "-": "'-", "-5x": "'-5x", "-.5": "'-.5",
	} {
		assert.Equal(t, want, NeutraliseFormula(in), "%q", in)
	}
}
