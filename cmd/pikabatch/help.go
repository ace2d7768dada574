package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/pikabatch/pikabatch/manifest"
)

// usageTemplate is every command's usage: the same headers everywhere
// (Usage, Examples, Commands, Flags), and the root's usage line names
// COMMAND rather than cobra's "[flags]" and "[command]" pair.
const usageTemplate = `Usage:{{if .HasAvailableSubCommands}}
  {{.CommandPath}} COMMAND [flags]{{else if .Runnable}}
  {{.UseLine}}{{end}}{{if .HasExample}}

Examples:
{{.Example}}{{end}}{{if .HasAvailableSubCommands}}

Commands:{{range .Commands}}{{if (or .IsAvailableCommand (eq .Name "help"))}}
  {{rpad .Name .NamePadding }} {{.Short}}{{end}}{{end}}{{end}}{{if .HasHelpSubCommands}}

Help topics ('{{.CommandPath}} help TOPIC'):{{range .Commands}}{{if .IsAdditionalHelpTopicCommand}}
  {{rpad .Name .NamePadding }} {{.Short}}{{end}}{{end}}{{end}}{{if .HasAvailableLocalFlags}}

Flags:
{{.LocalFlags.FlagUsages | trimTrailingWhitespaces}}{{end}}{{if .HasAvailableSubCommands}}

Run '{{.CommandPath}} COMMAND --help' for a command's flags.{{end}}
`

// quietUsage is -q's help wherever it means what progressMode and
// newLogger make of it.
const quietUsage = "quiet: no progress display (unless --progress names one), warnings and errors only"

// markRequired marks c's flags names as required: cobra refuses the
// command without them, naming them, and help says so.
func markRequired(c *cobra.Command, names ...string) {
	for _, n := range names {
		if err := c.MarkFlagRequired(n); err != nil {
			panic(err) // a flag the command does not define: a bug here
		}
		c.Flags().Lookup(n).Usage += " (required)"
	}
}

// markBatchRequired requires --out or --state, the batch a command asks
// about.
func markBatchRequired(c *cobra.Command) {
	c.MarkFlagsOneRequired("out", "state")
	c.Flags().Lookup("out").Usage += " (this or --state is required)"
}

// completeWords makes shell completion offer words for the value of c's
// flag.
func completeWords(c *cobra.Command, flag string, words ...string) {
	if err := c.RegisterFlagCompletionFunc(flag, cobra.FixedCompletions(words, cobra.ShellCompDirectiveNoFileComp)); err != nil {
		panic(err) // a flag the command does not define, or twice: a bug here
	}
}

// unknownCommand is the root's argument check: a word that is no command
// is a usage error, with the nearest commands' names.
func unknownCommand(c *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q", args[0])
	if s := c.SuggestionsFor(args[0]); len(s) > 0 {
		msg += "; did you mean " + strings.Join(s, " or ") + "?"
	}
	return usagef("%s\n%s", msg, helpHint(c))
}

// flagError turns cobra's flag-parse error into a usage error of one
// line, with the flag the user probably meant, and a pointer to the help.
func flagError(c *cobra.Command, err error) error {
	var ie *pflag.InvalidValueError
	if errors.As(err, &ie) {
		f := ie.GetFlag()
		return usagef("--%s %q: %s\n%s", f.Name, ie.GetValue(), valueWanted(f, ie.Unwrap()), helpHint(c))
	}
	var ne *pflag.NotExistError
	if !errors.As(err, &ne) {
		return usagef("%v\n%s", err, helpHint(c))
	}
	if !c.HasParent() && len(c.Flags().Args()) > 0 {
		// "pikabatch statsu --out x": the root has no --out, but the word
		// before it is what went wrong, a command cobra did not find.
		return unknownCommand(c, c.Flags().Args())
	}
	typed := "--" + ne.GetSpecifiedName()
	if short := ne.GetSpecifiedShortnames(); short != "" {
		typed = "-" + short
	}
	msg := "unknown flag " + typed
	if s := nearestFlag(c.Flags(), strings.TrimLeft(typed, "-")); s != "" {
		msg += "; did you mean " + s + "?"
	}
	return usagef("%s\n%s", msg, helpHint(c))
}

// valueWanted says what flag f takes, given why its value was refused: a
// number's parse error (strconv's) names Go functions, not the value.
func valueWanted(f *pflag.Flag, cause error) string {
	var ne *strconv.NumError
	switch t := f.Value.Type(); {
	case t == "duration":
		return "want a duration such as 90s, 5m or 1h30m"
	case t == "bool":
		return "want true or false"
	case !errors.As(cause, &ne):
		return cause.Error()
	case strings.HasPrefix(t, "int"):
		return "want a whole number"
	case strings.HasPrefix(t, "float"):
		return "want a number"
	}
	return cause.Error()
}

func helpHint(c *cobra.Command) string {
	return fmt.Sprintf("Run '%s --help' for usage.", c.CommandPath())
}

// nearestFlag is the flag of fs a user who typed typed (without dashes)
// most likely meant, as "--name", or "" when none is close: one whose name
// is at most two edits away, or the only one it begins. A long name typed
// with one dash ("-out") finds itself.
func nearestFlag(fs *pflag.FlagSet, typed string) string {
	best, bestDist := "", 3
	var prefixed []string
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Hidden {
			return
		}
		if d := manifest.EditDistance(typed, f.Name); d < bestDist {
			best, bestDist = f.Name, d
		}
		if strings.HasPrefix(f.Name, typed) {
			prefixed = append(prefixed, f.Name)
		}
	})
	switch {
	case best != "":
		return "--" + best
	case len(prefixed) == 1:
		return "--" + prefixed[0]
	}
	return ""
}

// newHelpCmd is `pikabatch help [command]`. Cobra's own printed the root's
// help and exited 0 for a topic that is no command; this one answers as
// every other usage error does: one line, a suggestion, the hint (64).
func newHelpCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "help [command|topic]",
		Short: "Help about any command",
		ValidArgsFunction: func(c *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
			var out []cobra.Completion
			for _, sub := range c.Root().Commands() {
				if (sub.IsAvailableCommand() || sub.IsAdditionalHelpTopicCommand()) && strings.HasPrefix(sub.Name(), toComplete) {
					out = append(out, cobra.CompletionWithDesc(sub.Name(), sub.Short))
				}
			}
			return out, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(c *cobra.Command, args []string) error {
			root := c.Root()
			cmd, rest, err := root.Find(args)
			if err != nil || len(rest) > 0 {
				msg := fmt.Sprintf("unknown help topic %q", strings.Join(args, " "))
				s := root.SuggestionsFor(args[0])
				if t := nearestTopic(root, args[0]); t != "" {
					s = append(s, t)
				}
				if len(s) > 0 && cmd == root {
					msg += "; did you mean " + strings.Join(s, " or ") + "?"
				}
				return usagef("%s\n%s", msg, helpHint(root))
			}
			return cmd.Help()
		},
	}
}

// completionShells are the shells cobra writes completion scripts for.
var completionShells = []string{"bash", "zsh", "fish", "powershell"}

// refuseUnknownShells makes `completion SHELL` for a shell cobra has no
// script for, or with no shell, a usage error (64): cobra's completion
// command, which runs nothing itself, printed its help and exited 0.
func refuseUnknownShells(root *cobra.Command) {
	root.InitDefaultCompletionCmd()
	comp, _, err := root.Find([]string{"completion"})
	if err != nil || comp == root {
		return
	}
	shells := strings.Join(completionShells[:len(completionShells)-1], ", ") + " or " + completionShells[len(completionShells)-1]
	comp.Args = func(c *cobra.Command, args []string) error {
		if len(args) > 0 {
			return usagef("unknown shell %q: completion is for %s\n%s", args[0], shells, helpHint(c))
		}
		return nil
	}
	comp.RunE = func(c *cobra.Command, _ []string) error {
		return usagef("completion needs a shell: %s\n%s", shells, helpHint(c))
	}
}
