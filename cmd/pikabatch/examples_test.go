package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// examplesDir is the repository's examples folder, seen from this package.
const examplesDir = "../../examples"

// TestExamples keeps examples/ in step with the CLI: every pikabatch command
// line in an example names a real command, and uses only flags that command
// defines, with values its flag set accepts. The YAML files must parse, and
// an Indexed Job's --shard=auto/N must match its completions.
func TestExamples(t *testing.T) {
	t.Parallel()
	cli := newCLIFlags(t.Context())

	t.Run("flag help matches the flag sets", func(t *testing.T) {
		// The test learns the flag sets from the command tree; prove that
		// reading is exact where the flags are registered by a function it
		// can call.
		var o batchOptions
		want := registeredFlags(o.register)
		got, err := cli.lookup("run")
		require.NoError(t, err)
		assert.Equal(t, want, got, "pikabatch run")
		var bf batchFlags
		for name, takesValue := range registeredFlags(bf.register) {
			for _, cmd := range []string{"status", "cancel", "export"} {
				got, err := cli.lookup(cmd)
				require.NoError(t, err)
				if assert.Contains(t, got, name, "pikabatch %s", cmd) {
					assert.Equal(t, takesValue, got[name], "pikabatch %s %s takes a value", cmd, dashed(name))
				}
			}
		}
		_, err = cli.lookup("no-such-command")
		assert.Error(t, err)
	})

	// The README's command lines, checked as the examples' are.
	t.Run("README.md", func(t *testing.T) {
		b, err := os.ReadFile("../../README.md")
		require.NoError(t, err)
		invs := textInvocations("README.md", 1, string(b))
		assert.Greater(t, len(invs), 10, "the README's command lines are found")
		for _, inv := range invs {
			if isSynopsis(inv) {
				continue
			}
			for _, p := range cli.check(inv) {
				t.Errorf("%s: %s\n\tin: %s", inv.where, p, inv)
			}
		}
	})

	// The help topics' command lines, checked the same way.
	topics, err := helpTopics()
	require.NoError(t, err)
	for _, topic := range topics {
		t.Run("help "+topic.name, func(t *testing.T) {
			for _, inv := range textInvocations("topics/"+topic.name+".md", 2, topic.text) {
				if isSynopsis(inv) {
					continue
				}
				for _, p := range cli.check(inv) {
					t.Errorf("%s: %s\n\tin: %s", inv.where, p, inv)
				}
			}
		})
	}

	files := exampleFiles(t)
	require.NotEmpty(t, files)
	for _, file := range files {
		t.Run(file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join(examplesDir, filepath.FromSlash(file)))
			require.NoError(t, err)
			var invs []invocation
			if ext := path.Ext(file); ext == ".yaml" || ext == ".yml" {
				invs = yamlInvocations(t, file, b)
			} else {
				invs = textInvocations(file, 1, string(b))
			}
			// A timer only starts its service, and a README's prose may
			// show no command; every other example runs pikabatch, and
			// finding nothing there means the extraction missed it.
			if !strings.HasSuffix(file, ".timer") && !strings.HasSuffix(file, ".md") {
				assert.NotEmpty(t, invs, "no pikabatch command line found; see examples/README.md for the forms checked")
			}
			for _, inv := range invs {
				for _, p := range cli.check(inv) {
					t.Errorf("%s: %s\n\tin: %s", inv.where, p, inv)
				}
			}
		})
	}
}

// TestExamplesChecker proves TestExamples would notice drift: the forms
// examples/README.md promises are found, prose is not, and a wrong command,
// flag or value is reported.
func TestExamplesChecker(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, text string
		yaml       bool
		want       []string // the invocations found
		problem    string   // in the problems reported; "" for none
	}{
		{name: "crontab line", text: "0 22 * * * /usr/local/bin/pikabatch run --out o --deadline 7h 2>>log || echo $?",
			want: []string{"pikabatch run --out o --deadline 7h"}},
		{name: "unknown flag", text: "0 22 * * * /usr/local/bin/pikabatch run --out o --deadlin 7h",
			want: []string{"pikabatch run --out o --deadlin 7h"}, problem: "pikabatch run has no flag --deadlin"},
		{name: "long flag with one dash", text: "0 22 * * * /usr/local/bin/pikabatch run --out o -deadline 7h",
			want: []string{"pikabatch run --out o -deadline 7h"}, problem: "a long flag takes two dashes (--deadline)"},
		{name: "unknown command after a prompt", text: "#   $ pikabatch stauts --out o",
			want: []string{"pikabatch stauts --out o"}, problem: `no command "stauts"`},
		{name: "bad value in backquotes", text: "see `pikabatch run --deadline 7 --out o` for",
			want: []string{"pikabatch run --deadline 7 --out o"}, problem: "the flags don't parse"},
		{name: "continued systemd line", text: "ExecStart=/usr/local/bin/pikabatch run \\\n    --out o \\\n    --json extra\nUser=pikabatch",
			want: []string{"pikabatch run --out o --json extra"}, problem: `"extra" is not a flag`},
		{name: "continued comment", text: "#   $ pikabatch export \\\n#       --out o --format csv",
			want: []string{"pikabatch export --out o --format csv"}},
		{name: "unmarked command with a flag", text: "#   kubectl exec job/x -- pikabatch status --out /data --jsn",
			want: []string{"pikabatch status --out /data --jsn"}, problem: "pikabatch status has no flag --jsn"},
		{name: "help of a topic", text: "see `pikabatch help guarantees` for",
			want: []string{"pikabatch help guarantees"}},
		{name: "help of no topic", text: "see `pikabatch help guarantes` for",
			want: []string{"pikabatch help guarantes"}, problem: `no command or topic "guarantes"`},
		{name: "placeholder", text: "#   pikabatch export --state a --state … -o all.csv",
			want: []string{"pikabatch export --state a --state … -o all.csv"}},
		{name: "missing value", text: "`pikabatch status --out`",
			want: []string{"pikabatch status --out"}, problem: "--out needs a value"},
		{name: "prose", text: "# pikabatch itself exits 75; pikabatch.service runs pikabatch run nightly"},
		{name: "folder and user named pikabatch", text: "useradd --home-dir /var/lib/pikabatch --shell /bin/false pikabatch"},
		{name: "YAML command list", yaml: true, text: "command: [pikabatch, run]\nargs: [--out=o, --log-format=json]",
			want: []string{"pikabatch run --out=o --log-format=json"}},
		{name: "YAML shell script", yaml: true, text: "command: [sh, -c, 'exec pikabatch run --out o --rps x']",
			want: []string{"pikabatch run --out o --rps x"}, problem: "the flags don't parse"},
		{name: "YAML comment", yaml: true, text: "# pikabatch export --out /data -o all.csv\nkind: Job",
			want: []string{"pikabatch export --out /data -o all.csv"}},
		{name: "Indexed Job without --shard", yaml: true,
			text: "spec:\n  completionMode: Indexed\n  completions: 4\n  template:\n    command: [pikabatch, run, --out=o]",
			want: []string{"pikabatch run --out=o"}, problem: "needs --shard=auto/N"},
		{name: "Indexed Job with another N", yaml: true,
			text: "spec:\n  completionMode: Indexed\n  completions: 3\n  template:\n    command: [pikabatch, run, --out=o, --shard=auto/4]",
			want: []string{"pikabatch run --out=o --shard=auto/4"}, problem: "completions is 3"},
		{name: "auto shard outside an Indexed Job", yaml: true, text: "command: [pikabatch, run, --out=o, --shard, auto/4]",
			want: []string{"pikabatch run --out=o --shard auto/4"}, problem: "outside an Indexed Job"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var invs []invocation
			if tt.yaml {
				invs = yamlInvocations(t, "x.yaml", []byte(tt.text))
			} else {
				invs = textInvocations("x", 1, tt.text)
			}
			var got, problems []string
			cli := newCLIFlags(t.Context())
			for _, inv := range invs {
				got = append(got, inv.String())
				problems = append(problems, cli.check(inv)...)
			}
			assert.Equal(t, tt.want, got)
			if tt.problem == "" {
				assert.Empty(t, problems)
			} else {
				assert.Contains(t, strings.Join(problems, "\n"), tt.problem)
			}
		})
	}
}

// invocation is one pikabatch command line found in an example.
type invocation struct {
	where string   // file:line
	cmd   string   // the command (run, status…)
	args  []string // what follows the command
	// inYAML: from a YAML command list; completions is then the Indexed
	// Job's spec.completions around it (0 outside an Indexed Job).
	inYAML      bool
	completions int
}

func (inv invocation) String() string {
	return strings.Join(append([]string{"pikabatch", inv.cmd}, inv.args...), " ")
}

// exampleFiles lists the files under examplesDir, slash-separated and
// relative to it, leaving out the manifests.
func exampleFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(examplesDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		switch filepath.Ext(p) {
		case ".csv", ".jsonl", ".ndjson":
			return nil
		}
		rel, err := filepath.Rel(examplesDir, p)
		files = append(files, filepath.ToSlash(rel))
		return err
	})
	require.NoError(t, err)
	return files
}

// invocationCandidate finds the word pikabatch, with what marks it as a
// command: the character before it (a backquote opens inline code), a `$ `
// prompt, or the folder of a path to it. What follows it is checked by
// hand: a match must not swallow the blank before the next one.
var invocationCandidate = regexp.MustCompile("(^|[\\s\"'=(`])(\\$[ \\t]+)?([^\\s\"'=(`]*/)?pikabatch")

// commandWord is what a pikabatch command looks like.
var commandWord = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)

// textInvocations finds the command lines in shell-like text (crontab,
// systemd units, comments, Markdown) whose first line is firstLine. A
// command line is pikabatch and what follows it up to a shell operator, a
// closing backquote or a comment, with backslash continuations joined. It
// counts when pikabatch is marked as a command (a path ending in bin/ or
// ./, a `$ ` prompt, a backquote) or, unmarked, when it is followed by a
// command and a flag: prose such as "pikabatch itself exits 75" is not.
func textInvocations(file string, firstLine int, text string) []invocation {
	var invs []invocation
	for _, ll := range logicalLines(text) {
		for _, m := range invocationCandidate.FindAllStringSubmatchIndex(ll.text, -1) {
			rest := ll.text[m[1]:]
			if !strings.HasPrefix(rest, " ") && !strings.HasPrefix(rest, "\t") {
				continue // pikabatch.service, pikabatch's…, or the end of the line
			}
			lead, prompt, dir := submatch(ll.text, m, 1), submatch(ll.text, m, 2), submatch(ll.text, m, 3)
			words := shellWords(rest)
			isBinary := strings.HasSuffix(dir, "bin/") || dir == "./"
			if len(words) == 0 || (dir != "" && !isBinary) {
				continue // a folder named pikabatch, or nothing to check
			}
			marked := isBinary || prompt != "" || lead == "`"
			if !marked && !(commandWord.MatchString(words[0]) && len(words) > 1 && strings.HasPrefix(words[1], "-")) {
				continue // prose
			}
			invs = append(invs, invocation{
				where: fmt.Sprintf("%s:%d", file, firstLine+ll.line-1),
				cmd:   words[0], args: words[1:],
			})
		}
	}
	return invs
}

func submatch(s string, m []int, i int) string {
	if m[2*i] < 0 {
		return ""
	}
	return s[m[2*i]:m[2*i+1]]
}

type logicalLine struct {
	line int // 1-based, of its first physical line
	text string
}

// logicalLines joins lines continued with a trailing backslash. Inside a
// comment (# or ;), the continued lines' comment markers are dropped.
func logicalLines(text string) []logicalLine {
	lines := strings.Split(text, "\n")
	var out []logicalLine
	for i := 0; i < len(lines); i++ {
		start := i
		l := strings.TrimRight(lines[i], "\r")
		inComment := isCommentLine(l)
		for strings.HasSuffix(l, `\`) && i+1 < len(lines) {
			i++
			next := strings.TrimRight(lines[i], "\r")
			if inComment && isCommentLine(next) {
				next = strings.TrimLeft(next, " \t")[1:]
			}
			l = strings.TrimSuffix(l, `\`) + " " + next
		}
		out = append(out, logicalLine{line: start + 1, text: l})
	}
	return out
}

func isCommentLine(line string) bool {
	l := strings.TrimLeft(line, " \t")
	return strings.HasPrefix(l, "#") || strings.HasPrefix(l, ";")
}

// shellWords splits a command line into words as sh would, as far as the
// examples need (quotes, backslash escapes), up to the end of the command:
// an operator (; & | < >), a backquote, or a comment. A redirection's file
// descriptor (2>>) is dropped.
func shellWords(s string) []string {
	var words []string
	var w strings.Builder
	inWord := false
	flush := func() {
		if inWord {
			words = append(words, w.String())
		}
		w.Reset()
		inWord = false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == ' ' || c == '\t':
			flush()
		case c == '\'':
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				end = len(s) - i - 1
			}
			w.WriteString(s[i+1 : i+1+end])
			inWord = true
			i += end + 1
		case c == '"':
			inWord = true
			for i++; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				w.WriteByte(s[i])
			}
		case c == '\\' && i+1 < len(s):
			i++
			w.WriteByte(s[i])
			inWord = true
		case strings.IndexByte(";&|<>`", c) >= 0:
			if (c == '<' || c == '>') && inWord && strings.Trim(w.String(), "0123456789") == "" {
				w.Reset()
				inWord = false
			}
			flush()
			return words
		case c == '#' && !inWord:
			flush()
			return words
		default:
			w.WriteByte(c)
			inWord = true
		}
	}
	flush()
	return words
}

// yamlInvocations checks that every document in b parses and returns the
// pikabatch command lines in it: command lists whose first item is
// pikabatch (with args appended, as Kubernetes does), command lines inside
// strings (sh -c scripts) and in comments.
func yamlInvocations(t *testing.T, file string, b []byte) []invocation {
	t.Helper()
	var invs []invocation
	dec := yaml.NewDecoder(bytes.NewReader(b))
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err, "%s does not parse as YAML", file)
		invs = append(invs, yamlNodeInvocations(file, &doc, 0)...)
	}

	// Comments: blank every other line, keeping the line numbers.
	lines := strings.Split(string(b), "\n")
	for i, l := range lines {
		if !isCommentLine(l) {
			lines[i] = ""
		}
	}
	return append(invs, textInvocations(file, 1, strings.Join(lines, "\n"))...)
}

func yamlNodeInvocations(file string, n *yaml.Node, completions int) []invocation {
	var invs []invocation
	switch n.Kind {
	case yaml.ScalarNode:
		return textInvocations(file, n.Line, n.Value)
	case yaml.MappingNode:
		if v := yamlMapValue(n, "completionMode"); v != nil && v.Value == "Indexed" {
			completions = -1 // Indexed, with no valid completions
			if c := yamlMapValue(n, "completions"); c != nil {
				if k, err := strconv.Atoi(c.Value); err == nil {
					completions = k
				}
			}
		}
		if cmd := yamlMapValue(n, "command"); cmd != nil && cmd.Kind == yaml.SequenceNode {
			argv := yamlScalars(cmd)
			if args := yamlMapValue(n, "args"); args != nil && args.Kind == yaml.SequenceNode {
				argv = append(argv, yamlScalars(args)...)
			}
			if len(argv) > 0 && path.Base(argv[0]) == "pikabatch" {
				inv := invocation{where: fmt.Sprintf("%s:%d", file, cmd.Line), inYAML: true, completions: completions}
				if len(argv) > 1 {
					inv.cmd, inv.args = argv[1], argv[2:]
				}
				invs = append(invs, inv)
			}
		}
	}
	for _, c := range n.Content {
		invs = append(invs, yamlNodeInvocations(file, c, completions)...)
	}
	return invs
}

// yamlMapValue returns the value of key in the mapping node n, or nil.
func yamlMapValue(n *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

func yamlScalars(seq *yaml.Node) []string {
	var out []string
	for _, c := range seq.Content {
		out = append(out, c.Value)
	}
	return out
}

// cliFlags learns each command's flags from the command tree, once.
type cliFlags struct {
	ctx  context.Context
	sets map[string]helpFlags
}

// helpFlags maps a command's flag names (long, and one-letter shorthands)
// to whether each takes a value (is not boolean); err is set when there is
// no such command.
type helpFlags struct {
	flags map[string]bool
	err   error
}

func newCLIFlags(ctx context.Context) *cliFlags {
	return &cliFlags{ctx: ctx, sets: map[string]helpFlags{}}
}

func (c *cliFlags) lookup(cmd string) (map[string]bool, error) {
	if s, ok := c.sets[cmd]; ok {
		return s.flags, s.err
	}
	root := newRootCmd(io.Discard, io.Discard)
	s := helpFlags{flags: map[string]bool{}}
	found, _, err := root.Find([]string{cmd})
	switch {
	case err != nil:
		s.err = err
	case found == root:
		s.err = fmt.Errorf("unknown command %q", cmd)
	default:
		s.flags = flagSetFlags(found.Flags())
	}
	c.sets[cmd] = s
	return s.flags, s.err
}

// registeredFlags returns the flags register adds to a flag set, as lookup
// reports them.
func registeredFlags(register func(*pflag.FlagSet)) map[string]bool {
	fs := pflag.NewFlagSet("", pflag.ContinueOnError)
	register(fs)
	return flagSetFlags(fs)
}

// flagSetFlags maps fs's flag names and shorthands to whether each takes a
// value.
func flagSetFlags(fs *pflag.FlagSet) map[string]bool {
	flags := map[string]bool{}
	fs.VisitAll(func(f *pflag.Flag) {
		takesValue := f.NoOptDefVal == ""
		flags[f.Name] = takesValue
		if f.Shorthand != "" {
			flags[f.Shorthand] = takesValue
		}
	})
	return flags
}

// check returns what is wrong with inv.
func (c *cliFlags) check(inv invocation) []string {
	if inv.cmd == "" {
		return []string{"no command after pikabatch"}
	}
	if inv.cmd == "help" {
		return checkHelp(inv)
	}
	flags, err := c.lookup(inv.cmd)
	if err != nil {
		return []string{fmt.Sprintf("pikabatch has no command %q: %v", inv.cmd, err)}
	}
	var probs []string
	var args []string // inv.args without placeholders
	for i := 0; i < len(inv.args); i++ {
		if isPlaceholder(inv.args[i]) {
			continue // "--state A --state B …": more of the same
		}
		args = append(args, inv.args[i])
		name, hasValue, ok := parseFlagArg(inv.args[i])
		if ok && len(name) > 1 && !strings.HasPrefix(inv.args[i], "--") {
			probs = append(probs, fmt.Sprintf("%s: a long flag takes two dashes (--%s)", inv.args[i], name))
			continue
		}
		if !ok {
			probs = append(probs, fmt.Sprintf("%q is not a flag, and pikabatch %s takes nothing else (a value for a boolean flag needs =)", inv.args[i], inv.cmd))
			continue
		}
		takesValue, defined := flags[name]
		switch {
		case name == "h" || name == "help":
		case !defined:
			probs = append(probs, fmt.Sprintf("pikabatch %s has no flag %s; its flags: %s", inv.cmd, dashed(name), flagNames(flags)))
		case takesValue && !hasValue:
			if i+1 == len(inv.args) {
				probs = append(probs, fmt.Sprintf("%s needs a value", dashed(name)))
				break
			}
			i++
			args = append(args, inv.args[i])
		}
	}
	if len(probs) == 0 {
		// Parse for real: the values must suit the flags' types (a duration,
		// a number). The trailing -h makes the command stop after parsing.
		var stdout, stderr bytes.Buffer
		if err := run(c.ctx, append(append([]string{inv.cmd}, args...), "-h"), &stdout, &stderr); err != nil {
			probs = append(probs, fmt.Sprintf("the flags don't parse: %v", err))
		}
	}
	return append(probs, checkShard(inv)...)
}

// checkHelp returns what is wrong with a `pikabatch help X` line: X must
// be a command or a help topic (or a placeholder such as TOPIC).
func checkHelp(inv invocation) []string {
	if len(inv.args) != 1 || strings.ToUpper(inv.args[0]) == inv.args[0] {
		return nil
	}
	root := newRootCmd(io.Discard, io.Discard)
	if found, _, err := root.Find(inv.args); err != nil || found == root {
		return []string{fmt.Sprintf("pikabatch help: no command or topic %q", inv.args[0])}
	}
	return nil
}

// isSynopsis reports whether inv shows a command's form rather than a
// command line: "pikabatch COMMAND", optional parts in brackets,
// alternatives, or cobra's completion command, which takes a shell.
func isSynopsis(inv invocation) bool {
	if inv.cmd == "completion" || strings.ToUpper(inv.cmd) == inv.cmd {
		return true
	}
	return slices.ContainsFunc(inv.args, func(a string) bool { return strings.ContainsAny(a, "[]|") })
}

// isPlaceholder reports whether arg stands for more arguments of the same
// kind, as in "--state A --state B …".
func isPlaceholder(arg string) bool { return arg == "…" || arg == "..." }

// parseFlagArg reads -name, --name, -name=value or --name=value.
func parseFlagArg(arg string) (name string, hasValue, ok bool) {
	n, ok := strings.CutPrefix(arg, "-")
	if !ok {
		return "", false, false
	}
	n = strings.TrimPrefix(n, "-")
	name, _, hasValue = strings.Cut(n, "=")
	if name == "" || strings.HasPrefix(name, "-") {
		return "", false, false
	}
	return name, hasValue, true
}

func flagNames(flags map[string]bool) string {
	names := make([]string, 0, len(flags))
	for n := range flags {
		names = append(names, dashed(n))
	}
	slices.Sort(names)
	return strings.Join(names, " ")
}

// dashed is a flag's name as typed: --name, or -n for a shorthand.
func dashed(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

// checkShard: in a Kubernetes Indexed Job, every pod needs --shard=auto/N
// with N the Job's completions, or rows are rendered twice or never.
func checkShard(inv invocation) []string {
	if !inv.inYAML || inv.cmd != "run" {
		return nil
	}
	var shard string
	for i, a := range inv.args {
		if name, hasValue, _ := parseFlagArg(a); name == "shard" {
			if _, v, _ := strings.Cut(a, "="); hasValue {
				shard = v
			} else if i+1 < len(inv.args) {
				shard = inv.args[i+1]
			}
		}
	}
	k, n, _ := strings.Cut(shard, "/")
	switch {
	case inv.completions != 0 && k != "auto":
		return []string{fmt.Sprintf("pikabatch run in an Indexed Job needs --shard=auto/N, not %q: each pod would render every row", shard)}
	case inv.completions == 0 && k == "auto":
		return []string{"--shard=auto/N outside an Indexed Job: nothing sets JOB_COMPLETION_INDEX"}
	case inv.completions != 0 && n != strconv.Itoa(inv.completions):
		return []string{fmt.Sprintf("--shard=%s, but the Indexed Job's completions is %d: they must agree", shard, inv.completions)}
	}
	return nil
}
