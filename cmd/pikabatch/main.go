// Command pikabatch renders a manifest of images into videos through
// RunComfy's Model API, resumably. See README.md.
//
// How a command is wired: one file per command holds newXCmd(stdout,
// stderr) *cobra.Command, which binds its flags into an xOptions struct
// and whose RunE calls one function, runX(ctx, opts, stdout, stderr) error.
// runX checks the options, builds the library's config, calls it and
// prints; it returns errors unprinted, and main maps them to an exit code
// in exitCode. No package variable holds a flag's value.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/pikabatch/pikabatch/cmd/pikabatch/internal/bench"
	"github.com/pikabatch/pikabatch/manifest"
	"github.com/pikabatch/pikabatch/manifest/probe"
	"github.com/pikabatch/pikabatch/runner"
	"github.com/pikabatch/pikabatch/runner/api"
	"github.com/pikabatch/pikabatch/runner/batch"
	"github.com/pikabatch/pikabatch/runner/bucket"
	"github.com/pikabatch/pikabatch/runner/bucketsync"
	"github.com/pikabatch/pikabatch/runner/buildinfo"
	"github.com/pikabatch/pikabatch/runner/live"
	"github.com/pikabatch/pikabatch/runner/money"
	"github.com/pikabatch/pikabatch/runner/progress"
	"github.com/pikabatch/pikabatch/store"
)

// Exit codes: BSD sysexits (sysexits.h), the convention RunComfy's official
// CLI follows, so that a script reads both the same way: 64 usage (a
// state file bound to another API or model included), 65 bad manifest
// data, 69 the API unavailable, 73 an output or the state not written, 74
// the state unreadable, 75 try again later, 77 no permission (token or
// balance). 1 means rows failed; 130 and 143 are SIGINT and SIGTERM.
const (
	exitOK          = 0
	exitFailedRows  = 1
	exitUsage       = 64
	exitDataErr     = 65
	exitUnavailable = 69
	exitCantCreate  = 73
	exitIOErr       = 74 // the state file is unreadable or missing beside renders
	exitTempFail    = 75
	exitNoPerm      = 77
	exitSIGINT      = 130
	exitSIGTERM     = 143
)

// interrupted is the cause of the root context's cancellation on a signal.
type interrupted struct{ sig os.Signal }

func (e *interrupted) Error() string { return "interrupted by " + e.sig.String() }

func main() {
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	// The signal notices go through the sink a run's logs do: while a
	// progress bar is drawn, above it rather than overwritten by it.
	stderr := progress.NewLogSink(os.Stderr)
	stopSignals := watchSignals(sigs, cancel, stderr, os.Exit)

	stopProfiles := bench.StartProfiles(os.Getenv, os.Stderr)
	err := run(ctx, os.Args[1:], os.Stdout, stderr)
	stopProfiles()
	code := exitCode(ctx, err)
	if err != nil && !errors.Is(err, errQuiet) && !isInterrupt(ctx, err) {
		fmt.Fprintln(os.Stderr, errorLine(err))
	}
	stopSignals()
	cancel(nil)
	os.Exit(code)
}

// watchSignals handles the signals received on sigs until the returned
// stop is called; stop returns once the watcher has ended. The first
// signal cancels the root context with an *interrupted cause; the second
// calls exit with the signal's code.
func watchSignals(sigs <-chan os.Signal, cancel context.CancelCauseFunc, stderr io.Writer, exit func(code int)) (stop func()) {
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		// First signal: stop submitting, record what is known, exit promptly.
		var s os.Signal
		select {
		case s = <-sigs:
		case <-done:
			return
		}
		fmt.Fprintf(stderr, "pikabatch: %s: stopping; submitted jobs keep running on the API and are collected next run (signal again to exit at once)\n", s)
		cancel(&interrupted{sig: s})
		// Second signal: exit now. Every store write is one bbolt transaction,
		// so the state file is consistent whatever is in flight.
		select {
		case s = <-sigs:
		case <-done:
			return
		}
		fmt.Fprintf(stderr, "pikabatch: %s again: exiting now\n", s)
		exit(signalCode(s))
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			<-stopped
		})
	}
}

// errQuiet marks an error already explained to the user (help, summary).
var errQuiet = errors.New("already reported")

// usageError is a mistake in the command line.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{msg: fmt.Sprintf(format, args...)} }

// run builds the command tree afresh (no flag value outlives a call) and
// runs the command args name. Errors come back unprinted for main; any
// error cobra finds before a command runs (an unknown command or flag, a
// missing required flag, a stray argument) is a usage error.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	root := newRootCmd(stdout, stderr)
	var started bool
	markStarted(root, &started)
	// A non-nil slice: with nil, cobra would read os.Args.
	root.SetArgs(append([]string{}, args...))
	c, err := root.ExecuteContextC(ctx)
	if err == nil || started {
		return err
	}
	var ue *usageError
	if errors.As(err, &ue) {
		return err
	}
	return usagef("%v\n%s", err, helpHint(c))
}

// markStarted makes the RunE of c and its subcommands set *started
// before it runs: errors from then on are the command's own.
func markStarted(c *cobra.Command, started *bool) {
	for _, sub := range c.Commands() {
		markStarted(sub, started)
	}
	if c.RunE == nil {
		return
	}
	runE := c.RunE
	c.RunE = func(c *cobra.Command, args []string) error {
		*started = true
		return runE(c, args)
	}
}

// newRootCmd is the command tree of one run.
func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "pikabatch",
		Short:         "Render a manifest of images into videos with RunComfy's Model API, resumably",
		Version:       buildinfo.Version(api.Version),
		SilenceErrors: true,
		SilenceUsage:  true,
		Args:          unknownCommand,
		// Suggest commands up to two edits away (cobra's default, stated).
		SuggestionsMinimumDistance: 2,
		RunE: func(c *cobra.Command, _ []string) error {
			c.SetOut(stderr)
			_ = c.Help()
			return usagef("no command given")
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetVersionTemplate("pikabatch {{.Version}}\n")
	root.SetFlagErrorFunc(flagError)
	root.SetUsageTemplate(usageTemplate)
	root.SetHelpCommand(newHelpCmd())
	root.AddCommand(
		newRunCmd(stdout, stderr),
		newValidateCmd(stdout),
		newStatusCmd(stdout),
		newCancelCmd(stdout),
		newExportCmd(stdout, stderr),
		newReportCmd(stdout),
		newVerifyCmd(stdout),
		newRecoverCmd(stdout),
		newDemoCmd(stdout, stderr),
		newSimCmd(stdout),
		newModelsCmd(stdout),
		newBalanceCmd(stdout),
		newBenchCmd(stdout, stderr),
		newVersionCmd(stdout),
	)
	addHelpTopics(root)
	refuseUnknownShells(root)
	return root
}

func newVersionCmd(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print the version",
		Example: "  pikabatch version",
		Args:    noArgs,
		RunE: func(*cobra.Command, []string) error {
			fmt.Fprintf(stdout, "pikabatch %s\n", buildinfo.Version(api.Version))
			return nil
		},
	}
}

// noArgs refuses positional arguments: every command takes flags only.
func noArgs(_ *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("unexpected argument %q", args[0])
	}
	return nil
}

// exitCode maps a run's outcome to the documented exit codes.
func exitCode(ctx context.Context, err error) int {
	var ue *usageError
	var ce *batch.ConfigError
	var ve *manifest.ValidationError
	var re *manifest.RowError
	switch {
	case err == nil:
		return exitOK
	case isInterrupt(ctx, err):
		var in *interrupted
		errors.As(context.Cause(ctx), &in)
		return signalCode(in.sig)
	case errors.As(err, &ue), errors.As(err, &ce), errors.Is(err, live.ErrNoState), errors.Is(err, store.ErrBinding), errors.Is(err, api.ErrUnknownModel):
		return exitUsage
	case errors.As(err, &ve), errors.As(err, &re), errors.Is(err, batch.ErrManifest), errors.Is(err, probe.ErrBadURLs),
		errors.Is(err, money.ErrAbsurd), errors.Is(err, money.ErrAbsurdAmount):
		return exitDataErr
	case errors.Is(err, api.ErrUnauthorized), errors.Is(err, api.ErrPaymentRequired), errors.Is(err, api.ErrNoToken), errors.Is(err, bucket.ErrDenied):
		return exitNoPerm
	case errors.Is(err, api.ErrUnavailable), errors.Is(err, runner.ErrUncertainSubmits):
		return exitUnavailable
	case errors.Is(err, store.ErrDamaged), errors.Is(err, store.ErrMissing), errors.Is(err, store.ErrJournal),
		errors.Is(err, store.ErrNotRegular):
		return exitIOErr
	case errors.Is(err, runner.ErrOutput), errors.Is(err, store.ErrWrite):
		return exitCantCreate
	case errors.Is(err, store.ErrLocked), errors.Is(err, live.ErrNotAnswering), errors.Is(err, runner.ErrHeld), errors.Is(err, runner.ErrSubmitsStopped),
		errors.Is(err, runner.ErrLeftInFlight), errors.Is(err, bucketsync.ErrWaiting),
		errors.Is(err, bucketsync.ErrUnreachable):
		return exitTempFail
	}
	return exitFailedRows
}

func isInterrupt(ctx context.Context, err error) bool {
	var in *interrupted
	return err != nil && errors.As(context.Cause(ctx), &in)
}

func signalCode(s os.Signal) int {
	if s == syscall.SIGTERM {
		return exitSIGTERM
	}
	return exitSIGINT
}

// errorLine is how an error that ends a command is shown: its message,
// and, for errors a package reports in its own terms, what to do about it
// in the command's (the flags to use).
func errorLine(err error) string {
	line := "pikabatch: " + err.Error()
	var be *store.BindingError
	if errors.As(err, &be) {
		var keep []string
		origin, model := be.Differs()
		if origin {
			keep = append(keep, "--api-base "+be.Recorded.Origin)
		}
		if model {
			keep = append(keep, "--model "+be.Recorded.Model)
		}
		line += ". Use another --out for a new batch, or " + strings.Join(keep, " ") + " to go on with this one"
	}
	if errors.Is(err, runner.ErrUncertainSubmits) {
		line += ". Each may be a paid job: check the account's jobs before going on, and run again later" +
			" (--hold-uncertain keeps the rows whose answer was lost from being sent again)"
	}
	return line
}
