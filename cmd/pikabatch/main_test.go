package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner/api"
	"github.com/pikabatch/pikabatch/runner/sim"
)

const testToken = "sk-test-0123456789abcdef-SECRET"

// startSim runs the simulator on loopback for one test.
func startSim(t *testing.T, cfg sim.Config) *sim.Running {
	t.Helper()
	cfg.Token = testToken
	if cfg.RunTime == 0 {
		cfg.RunTime = 20 * time.Millisecond
	}
	if cfg.Slots == 0 {
		cfg.Slots = 8
	}
	srv, err := sim.Start(cfg, "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	return srv
}

// tokenEnv is the environment of a run against the API at apiBase with the
// test token (and no token file from the machine running the tests).
func tokenEnv(apiBase string) map[string]string {
	return map[string]string{"RUNCOMFY_API_BASE": apiBase, "RUNCOMFY_API_TOKEN": testToken, "RUNCOMFY_API_TOKEN_FILE": ""}
}

// invoke runs the CLI in-process and returns its exit code and output.
func invoke(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	var stdout, stderr bytes.Buffer
	ctx := context.Background()
	err := run(ctx, args, &stdout, &stderr)
	if err != nil {
		stderr.WriteString(errorLine(err) + "\n")
	}
	return exitCode(ctx, err), stdout.String(), stderr.String()
}

func writeFile(t *testing.T, path, body string) string {
	t.Helper()
	require.NoError(t, os.WriteFile(path, []byte(body), 0o644))
	return path
}

func TestRunExitCodes(t *testing.T) {
	srv := startSim(t, sim.Config{})
	dir := t.TempDir()
	good := writeFile(t, filepath.Join(dir, "good.csv"),
		"id,image,promptText\na,https://img.example.com/a.jpg,waves\nb,https://img.example.com/b.jpg,wind\n")
	bad := writeFile(t, filepath.Join(dir, "bad.csv"),
		"id,image,resolution\na,https://img.example.com/a.jpg,1080\nb,ftp://img.example.com/b.jpg,720p\n")
	base := tokenEnv(srv.APIURL)

	t.Run("invalid manifest submits nothing", func(t *testing.T) {
		code, _, stderr := invoke(t, base, "run", "--manifest", bad, "--out", filepath.Join(dir, "o1"))
		assert.Equal(t, exitDataErr, code)
		assert.Contains(t, stderr, "bad.csv:2")
		assert.Contains(t, stderr, "resolution")
		assert.Contains(t, stderr, "bad.csv:3")
		assert.Zero(t, srv.Counters().Submits)
	})
	t.Run("missing token", func(t *testing.T) {
		code, _, stderr := invoke(t, map[string]string{"RUNCOMFY_API_BASE": srv.APIURL, "RUNCOMFY_API_TOKEN": "", "RUNCOMFY_API_TOKEN_FILE": "", "RUNCOMFY_TOKEN": ""},
			"run", "--manifest", good, "--out", filepath.Join(dir, "o2"))
		assert.Equal(t, exitNoPerm, code)
		assert.Contains(t, stderr, "RUNCOMFY_API_TOKEN")
	})
	t.Run("rejected token stops at once", func(t *testing.T) {
		code, stdout, stderr := invoke(t, map[string]string{"RUNCOMFY_API_BASE": srv.APIURL, "RUNCOMFY_API_TOKEN": "wrong-token-XYZ", "RUNCOMFY_API_TOKEN_FILE": ""},
			"run", "--manifest", good, "--out", filepath.Join(dir, "o3"))
		assert.Equal(t, exitNoPerm, code)
		assert.NotContains(t, stdout+stderr, "wrong-token-XYZ")
		assert.Zero(t, srv.Counters().Submits)
	})
	t.Run("bad usage", func(t *testing.T) {
		code, _, _ := invoke(t, base, "run", "--manifest", good)
		assert.Equal(t, exitUsage, code)
		code, _, _ = invoke(t, base, "nonsense")
		assert.Equal(t, exitUsage, code)
		code, _, _ = invoke(t, base, "validate", "--manifest", good, "stray.csv")
		assert.Equal(t, exitUsage, code)
		code, _, _ = invoke(t, base, "run", "--manifest", good, "--out", filepath.Join(dir, "o0"), "--outage-limit", "-1s")
		assert.Equal(t, exitUsage, code)
	})
	t.Run("plain http to a remote host is refused", func(t *testing.T) {
		code, _, stderr := invoke(t, map[string]string{"RUNCOMFY_API_BASE": "http://api.example.com", "RUNCOMFY_API_TOKEN": testToken},
			"run", "--manifest", good, "--out", filepath.Join(dir, "o4"))
		assert.NotEqual(t, exitOK, code)
		assert.Contains(t, stderr, "https")
	})
	t.Run("success, token never written anywhere", func(t *testing.T) {
		out := filepath.Join(dir, "o5")
		code, stdout, stderr := invoke(t, base, "run", "--manifest", good, "--out", out, "--log-level", "debug")
		require.Equal(t, exitOK, code, stderr)
		assert.Contains(t, stdout, "rows 2: 2 done")
		assert.NotContains(t, stdout+stderr, testToken)
		entries, err := os.ReadDir(out)
		require.NoError(t, err)
		for _, e := range entries {
			b, err := os.ReadFile(filepath.Join(out, e.Name()))
			require.NoError(t, err)
			assert.False(t, bytes.Contains(b, []byte(testToken)), "token found in %s", e.Name())
		}
		assert.FileExists(t, filepath.Join(out, "a.mp4"))
		assert.FileExists(t, filepath.Join(out, "results.jsonl"))
		assert.Zero(t, srv.Counters().FileRequestsWithAuth)
	})
	t.Run("help does not print the token", func(t *testing.T) {
		code, stdout, stderr := invoke(t, base, "run", "-h")
		assert.Equal(t, exitOK, code)
		assert.Contains(t, stdout+stderr, "-concurrency")
		assert.NotContains(t, stdout+stderr, testToken)
	})
}

func TestTokenFromFile(t *testing.T) {
	p := writeFile(t, filepath.Join(t.TempDir(), "tok"), testToken+"\n")
	t.Setenv("RUNCOMFY_API_TOKEN", "")
	t.Setenv("RUNCOMFY_API_TOKEN_FILE", p)
	tok, err := api.TokenFromEnv()
	require.NoError(t, err)
	assert.Equal(t, testToken, string(tok))
	assert.False(t, strings.Contains(tok.String(), testToken))
}

// TestTokenFallback: RUNCOMFY_TOKEN, which RunComfy's own CLI and nodes
// read, is taken when neither RUNCOMFY_API_TOKEN nor its _FILE is set, and
// only then.
func TestTokenFallback(t *testing.T) {
	p := writeFile(t, filepath.Join(t.TempDir(), "tok"), "from-file\n")
	for _, tt := range []struct {
		name             string
		apiToken, file   string
		runcomfyToken    string
		want, wantErrHas string
	}{
		{name: "only RUNCOMFY_TOKEN", runcomfyToken: " from-runcomfy-token\n", want: "from-runcomfy-token"},
		{name: "RUNCOMFY_API_TOKEN first", apiToken: "from-api-token", runcomfyToken: "from-runcomfy-token", want: "from-api-token"},
		{name: "RUNCOMFY_API_TOKEN_FILE before it", file: p, runcomfyToken: "from-runcomfy-token", want: "from-file"},
		{name: "none", wantErrHas: "RUNCOMFY_TOKEN"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("RUNCOMFY_API_TOKEN", tt.apiToken)
			t.Setenv("RUNCOMFY_API_TOKEN_FILE", tt.file)
			t.Setenv("RUNCOMFY_TOKEN", tt.runcomfyToken)
			tok, err := api.TokenFromEnv()
			if tt.wantErrHas != "" {
				require.ErrorIs(t, err, api.ErrNoToken)
				assert.Contains(t, err.Error(), tt.wantErrHas)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, string(tok))
		})
	}
}

// TestUsageErrors: what cobra refuses before a command runs (an unknown
// command or flag, a flag without its value, a stray argument) is a usage
// error, exit 64, with a hint at the command's help.
func TestUsageErrors(t *testing.T) {
	env := map[string]string{"RUNCOMFY_API_TOKEN": "", "RUNCOMFY_API_TOKEN_FILE": "", "RUNCOMFY_TOKEN": ""}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{}, "no command given"},
		{[]string{"nonsense"}, "Run 'pikabatch --help' for usage."},
		{[]string{"run", "--concurency", "3"}, "Run 'pikabatch run --help' for usage."},
		{[]string{"export", "-o"}, "Run 'pikabatch export --help' for usage."},
		{[]string{"status", "--out", "o", "stray"}, `unexpected argument "stray"`},
		{[]string{"run", "-manifest", "m.csv"}, "Run 'pikabatch run --help' for usage."},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, _, stderr := invoke(t, env, tt.args...)
			assert.Equal(t, exitUsage, code, stderr)
			assert.Contains(t, stderr, tt.want)
		})
	}
}
