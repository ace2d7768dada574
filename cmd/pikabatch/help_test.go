package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// envNoToken is an environment without an API token.
var envNoToken = map[string]string{"RUNCOMFY_API_TOKEN": "", "RUNCOMFY_API_TOKEN_FILE": "", "RUNCOMFY_TOKEN": ""}

// commands are the CLI's own commands (not cobra's help and completion).
func commands(t *testing.T) []*cobra.Command {
	t.Helper()
	var cmds []*cobra.Command
	for _, c := range newRootCmd(io.Discard, io.Discard).Commands() {
		if c.Name() != "help" && c.Name() != "completion" && !c.IsAdditionalHelpTopicCommand() {
			cmds = append(cmds, c)
		}
	}
	require.NotEmpty(t, cmds)
	return cmds
}

// TestHelpExamples: every command shows an example, and each example's
// command lines name real flags with values that parse.
func TestHelpExamples(t *testing.T) {
	cli := newCLIFlags(t.Context())
	for _, c := range commands(t) {
		t.Run(c.Name(), func(t *testing.T) {
			require.NotEmpty(t, c.Example, "pikabatch %s has no example", c.Name())
			invs := textInvocations("pikabatch "+c.Name()+" --help", 1, c.Example)
			for _, inv := range invs {
				assert.Equal(t, c.Name(), inv.cmd, "an example of %s shows another command", c.Name())
				for _, p := range cli.check(inv) {
					t.Errorf("%s: %s\n\tin: %s", inv.where, p, inv)
				}
			}
			code, stdout, _ := invoke(t, envNoToken, c.Name(), "--help")
			assert.Equal(t, exitOK, code)
			assert.Contains(t, stdout, "\nExamples:\n")
		})
	}
}

// TestHelpText: the help states what is required and what -q does, under
// the same headers everywhere.
func TestHelpText(t *testing.T) {
	help := func(args ...string) string {
		code, stdout, stderr := invoke(t, envNoToken, append(args, "--help")...)
		require.Equal(t, exitOK, code, stderr)
		return stdout
	}
	run := help("run")
	assert.Regexp(t, `--manifest file +manifest .*\(required\)`, run)
	assert.Regexp(t, `--out folder +output .*\(required\)`, run)
	assert.Contains(t, help("validate"), "(required)")
	assert.Contains(t, help("status"), "(this, --state or --from is required)")
	assert.Contains(t, help("cancel"), "(this or --state is required)")
	assert.NotContains(t, help("bench"), "(1 = the issue's sizes)")
	for _, c := range commands(t) {
		if f := c.Flags().Lookup("quiet"); f != nil {
			assert.Equal(t, "q", f.Shorthand, c.Name())
			assert.True(t, strings.HasPrefix(f.Usage, "quiet: "), "%s -q says what it does: %s", c.Name(), f.Usage)
		}
		out := help(c.Name())
		assert.True(t, strings.HasPrefix(out, c.Long+"\n\nUsage:\n") || c.Long == "", "%s:\n%s", c.Name(), out)
		assert.NotContains(t, out, "Global Flags:")
	}
	assert.Contains(t, help(), "Run 'pikabatch COMMAND --help' for a command's flags.")
}

// TestMistypes: a mistyped command or flag is answered in one line, with
// what was probably meant, and a pointer to the help.
func TestMistypes(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"stauts"}, `unknown command "stauts"; did you mean status?`},
		{[]string{"statsu", "--out", "x"}, `unknown command "statsu"; did you mean status?`},
		{[]string{"--zzzzzz"}, "unknown flag --zzzzzz\n"},
		{[]string{"run", "--concurency", "3"}, "unknown flag --concurency; did you mean --concurrency?"},
		{[]string{"status", "--jsn"}, "unknown flag --jsn; did you mean --json?"},
		{[]string{"run", "-manifest", "m.csv"}, "unknown flag -manifest; did you mean --manifest?"},
		{[]string{"run", "--retry"}, "unknown flag --retry; did you mean --retry-failed?"},
		{[]string{"export", "--zzzzzz"}, "unknown flag --zzzzzz\n"},
		{[]string{"run", "--concurrency", "x"}, `--concurrency "x": want a whole number`},
		{[]string{"run", "--rps", "fast"}, `--rps "fast": want a number`},
		{[]string{"run", "--job-timeout", "10"}, `--job-timeout "10": want a duration such as 90s`},
		{[]string{"run", "--json=maybe"}, `--json "maybe": want true or false`},
		{[]string{"run", "--deadline", "7"}, `--deadline "7": want a duration (5h30m), a clock time (06:00)`},
		{[]string{"status", "--out"}, "flag needs an argument: --out"},
		{[]string{"run", "--out", "o"}, `required flag(s) "manifest" not set`},
		{[]string{"export"}, "[out state from] is required"},
		{[]string{"cancel"}, "[out state] is required"},
		{[]string{"help", "nonsense"}, `unknown help topic "nonsense"`},
		{[]string{"help", "stauts"}, `unknown help topic "stauts"; did you mean status?`},
		{[]string{"help", "run", "extra"}, `unknown help topic "run extra"`},
		{[]string{"completion", "tcsh"}, `unknown shell "tcsh": completion is for bash, zsh, fish or powershell`},
		{[]string{"completion"}, "completion needs a shell: bash, zsh, fish or powershell"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, stdout, stderr := invoke(t, envNoToken, tt.args...)
			assert.Equal(t, exitUsage, code)
			assert.Empty(t, stdout)
			lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
			require.Len(t, lines, 2, "one line, then the hint: %q", stderr)
			assert.Contains(t, stderr, tt.want)
			assert.Regexp(t, `^Run 'pikabatch( [a-z]+)? --help' for usage\.$`, lines[1])
		})
	}
}

func TestNearestFlag(t *testing.T) {
	fs := newRootCmd(io.Discard, io.Discard)
	runCmd, _, err := fs.Find([]string{"run"})
	require.NoError(t, err)
	for typed, want := range map[string]string{
		"concurency": "--concurrency", "manifest": "--manifest", "dry": "--dry-run",
		"deadline-gr": "--deadline-grace", "xyzzy": "", "dead": "", // a prefix of several: none (not "max", one edit from --map)
	} {
		assert.Equal(t, want, nearestFlag(runCmd.Flags(), typed), typed)
	}
}

// TestCompletion: cobra's completion scripts, for the shells the README
// names.
func TestCompletion(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish"} {
		code, stdout, stderr := invoke(t, envNoToken, "completion", shell)
		require.Equal(t, exitOK, code, stderr)
		assert.Contains(t, stdout, "pikabatch", shell)
	}
	// help still helps.
	code, stdout, stderr := invoke(t, envNoToken, "help", "run")
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, "pikabatch run")
	code, stdout, stderr = invoke(t, envNoToken, "help")
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, "validate")
	// What the scripts ask the binary: a flag's values.
	code, stdout, stderr = invoke(t, envNoToken, "__complete", "run", "--progress", "")
	require.Equal(t, exitOK, code, stderr)
	assert.Equal(t, []string{"auto", "bar", "plain", "off", ":4"}, strings.Fields(stdout))
}

// TestUsageBeforeToken: a mistake in the command line is a usage error
// (64) even with no token, which would otherwise be the first thing
// missing (77); an --out that is a file cannot take the renders (73).
func TestUsageBeforeToken(t *testing.T) {
	dir := t.TempDir()
	m := writeFile(t, filepath.Join(dir, "m.csv"), "id,image\na,https://img.example.com/a.jpg\n")
	file := writeFile(t, filepath.Join(dir, "a-file"), "x")
	split := filepath.Join(dir, "split")
	require.NoError(t, os.MkdirAll(split, 0o755))
	writeFile(t, filepath.Join(split, ".pikabatch.db"), "") // a whole-manifest run's state
	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"run", "--out", filepath.Join(dir, "o")}, exitUsage, `"manifest" not set`},
		{[]string{"run", "--manifest", m, "--out", filepath.Join(dir, "o"), "--concurrency", "0"}, exitUsage, "--concurrency"},
		{[]string{"run", "--manifest", m, "--out", filepath.Join(dir, "o"), "--rps", "-1"}, exitUsage, "--rps"},
		{[]string{"run", "--manifest", m, "--out", filepath.Join(dir, "o"), "--log-level", "loud"}, exitUsage, "--log-level"},
		{[]string{"run", "--manifest", m, "--out", filepath.Join(dir, "o"), "--progress", "fancy"}, exitUsage, "--progress"},
		{[]string{"run", "--manifest", m, "--out", split, "--shard", "0/2"}, exitUsage, "another split"},
		{[]string{"run", "--manifest", m, "--out", file}, exitCantCreate, "is a file, not a folder"},
		{[]string{"demo", "--manifest", m, "--out", file, "-q"}, exitCantCreate, "is a file, not a folder"},
		{[]string{"run", "--manifest", m, "--out", filepath.Join(dir, "o")}, exitNoPerm, "RUNCOMFY_API_TOKEN"},
	} {
		t.Run(strings.Join(tt.args[len(tt.args)-2:], " "), func(t *testing.T) {
			code, _, stderr := invoke(t, envNoToken, tt.args...)
			assert.Equal(t, tt.code, code, stderr)
			assert.Contains(t, stderr, tt.want)
		})
	}
}
