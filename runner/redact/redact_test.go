package redact_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/pikabatch/pikabatch/runner/redact"
)

func TestArgs(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "pikabatch run --notify-url [redacted] --out o",
		redact.Args([]string{"pikabatch", "run", "--notify-url", "https://hooks.example.com/T/B/x", "--out", "o"}, "notify-url"))
	assert.Equal(t, "pikabatch run -notify-url=[redacted]",
		redact.Args([]string{"pikabatch", "run", "-notify-url=https://hooks.example.com/T/B/x"}, "notify-url"))
	assert.Equal(t, "pikabatch run --out notify-url", redact.Args([]string{"pikabatch", "run", "--out", "notify-url"}, "notify-url"))
}

func TestSecrets(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "Bearer [redacted], echoed [redacted]", redact.Secrets(`Bearer tok"en, echoed tok\"en`, []string{`tok"en`, `tok\"en`}))
	assert.Equal(t, "nothing to hide", redact.Secrets("nothing to hide", []string{""}))
}
