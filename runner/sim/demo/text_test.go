package demo

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestTryLineElsewhere(t *testing.T) {
	t.Parallel()
	line := TryLine("http://127.0.0.1:8787", "sim_x", "", filepath.Join(t.TempDir(), "none.csv"))
	assert.Equal(t, "try: RUNCOMFY_API_BASE=http://127.0.0.1:8787 RUNCOMFY_API_TOKEN=sim_x pikabatch run --manifest YOUR-MANIFEST.csv --out out", line)
	assert.Contains(t, TryLine("http://h", "a b'c", "", ""), `RUNCOMFY_API_TOKEN='a b'\''c'`, "quoted for the shell")
}

// The way back names the same demo again, quoted for the shell, and the
// outcome decides the first line.
func TestWriteNext(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	WriteNext(&b, "my clips.csv", "o", errors.New("stopped"), true)
	assert.Contains(t, b.String(), "demo: interrupted: ")
	assert.Contains(t, b.String(), "`pikabatch demo --manifest 'my clips.csv' --out o` again collects them")
	assert.Contains(t, b.String(), "  where each row stands:   pikabatch status --out o\n")
	b.Reset()
	WriteNext(&b, "", DefaultOut, nil, false)
	assert.True(t, strings.HasPrefix(b.String(), "demo: done: every row is in out (videos, results.jsonl); `pikabatch demo` again"), b.String())
}
