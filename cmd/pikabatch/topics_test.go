package main

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestHelpTopics: every topic file is a help topic, listed in the root's
// help and printed whole by `help NAME`; the README names each one, since
// the reference it once carried lives there now.
func TestHelpTopics(t *testing.T) {
	topics, err := helpTopics()
	require.NoError(t, err)
	require.NotEmpty(t, topics)
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)

	code, root, stderr := invoke(t, envNoToken, "--help")
	require.Equal(t, exitOK, code, stderr)
	for _, topic := range topics {
		assert.Regexp(t, `(?m)^  `+topic.name+` +`+topic.title+`$`, root, "the root's help lists %s", topic.name)
		code, out, stderr := invoke(t, envNoToken, "help", topic.name)
		require.Equal(t, exitOK, code, stderr)
		assert.Contains(t, out, topic.text, "help %s prints the whole topic", topic.name)
		assert.NotContains(t, out, "Usage:", "a topic is no command")
		assert.Contains(t, string(readme), "`"+topic.name+"`", "the README names the topic %s", topic.name)
		assert.NotContains(t, topic.text, "](#", "%s: a link into the README, which no longer holds it", topic.name)
	}

	code, _, stderr = invoke(t, envNoToken, "help", "guarante")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr, "did you mean guarantees?")
	assert.False(t, strings.Contains(stderr, "Usage:"), stderr)
}
