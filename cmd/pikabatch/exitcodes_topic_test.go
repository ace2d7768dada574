package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestExitCodesTopicListsEveryCode: every exit code main.go declares has a
// row in `pikabatch help exit-codes`, and the topic lists no code the
// binary never uses, so a cron wrapper written from the topic sees no
// surprise.
func TestExitCodesTopicListsEveryCode(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "main.go", nil, 0)
	require.NoError(t, err)
	declared := map[int]bool{}
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok {
			return true
		}
		for i, name := range vs.Names {
			if !strings.HasPrefix(name.Name, "exit") || i >= len(vs.Values) {
				continue
			}
			if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.INT {
				code, err := strconv.Atoi(lit.Value)
				require.NoError(t, err)
				declared[code] = true
			}
		}
		return true
	})
	require.Greater(t, len(declared), 8, "the exit code constants are found in main.go")

	b, err := topicFiles.ReadFile("topics/exit-codes.md")
	require.NoError(t, err)
	listed := map[int]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\| (\d+) \|`).FindAllStringSubmatch(string(b), -1) {
		code, err := strconv.Atoi(m[1])
		require.NoError(t, err)
		listed[code] = true
	}
	assert.Equal(t, declared, listed, "exit codes declared in main.go vs rows of topics/exit-codes.md")
}
