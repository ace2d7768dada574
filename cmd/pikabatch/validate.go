package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/spf13/cobra"

	"github.com/pikabatch/pikabatch/manifest"
	"github.com/pikabatch/pikabatch/manifest/probe"
	"github.com/pikabatch/pikabatch/runner/api"
	"github.com/pikabatch/pikabatch/runner/batch"
	"github.com/pikabatch/pikabatch/runner/money"
	"github.com/pikabatch/pikabatch/runner/results"
)

// validateOptions are validate's flags.
type validateOptions struct {
	manifest, format string
	asJSON           bool
	checkURLs        bool
	checkConc        int     // image hosts asked at once
	checkRPS         float64 // requests per second to image hosts
	schema           string  // --schema: the model's input schema, a JSON Schema file
	columnMap        map[string]string
	keepColumns      []string
	model, apiBase   string // for the cost estimate
	cost             costOptions
	inputs           inputOptions // how local files would be sent: they are read, and held to the inline caps
}

func newValidateCmd(stdout io.Writer) *cobra.Command {
	var o validateOptions
	c := &cobra.Command{
		Use:   "validate --manifest FILE",
		Short: "Check a manifest; nothing is sent",
		Example: `  pikabatch validate --manifest clips.csv
  pikabatch validate --manifest clips.csv --stage-to s3://my-bucket/pikabatch-in
  pikabatch validate --manifest clips.jsonl --check-urls --json`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("unexpected argument %q (the manifest is --manifest FILE)", args[0])
			}
			return nil
		},
		RunE: func(c *cobra.Command, _ []string) error {
			return runValidate(c.Context(), o, stdout)
		},
	}
	fs := c.Flags()
	fs.StringVar(&o.manifest, "manifest", "", "manifest `file` (CSV or JSONL)")
	fs.StringVar(&o.format, "format", "auto", "manifest format: auto (by extension), csv or jsonl")
	fs.BoolVar(&o.asJSON, "json", false, "print the summary as JSON")
	fs.BoolVar(&o.checkURLs, "check-urls", false, "also ask each image host whether the image is reachable, an image, and at most 50 MB (HEAD, else a ranged GET)")
	fs.IntVar(&o.checkConc, "check-concurrency", 8, "image hosts asked at once with --check-urls")
	fs.Float64Var(&o.checkRPS, "check-rps", 10, "requests per second to image hosts with --check-urls")
	fs.StringVar(&o.schema, "schema", "", "the model's input schema, a JSON Schema `file` (default: the model's: built in for pika/pika-2-2/image-to-video, else the catalog's)")
	registerColumnFlags(fs, &o.columnMap, &o.keepColumns)
	o.inputs.register(fs, false)
	fs.StringVar(&o.model, "model", defaultModel, "model `ID`: rows are checked with its schema (built in, else the catalog's; reading it sends the token) and priced for the estimate")
	fs.StringVar(&o.apiBase, "api-base", envOr("RUNCOMFY_API_BASE", api.DefaultBaseURL), "API base URL for --catalog (env RUNCOMFY_API_BASE)")
	o.cost.registerPreview(fs)
	markRequired(c, "manifest")
	completeWords(c, "format", "auto", "csv", "jsonl")
	return c
}

// runValidate checks every row of the manifest and, with --check-urls,
// its image URLs.
func runValidate(ctx context.Context, o validateOptions, stdout io.Writer) error {
	f, err := checkValidateOptions(o)
	if err != nil {
		return err
	}
	if err := o.cost.check(); err != nil {
		return err
	}
	if f.Schema == nil {
		acct := accountOptions{apiBase: o.apiBase, balanceBase: o.cost.balanceBase}
		if f.Schema, err = batch.ReadCatalogSchema(ctx, acct.client, o.model, "validate reads no state file"); err != nil {
			return err
		}
	}
	pricer, priceNote := previewPricer(ctx, o.cost, o.apiBase, o.model)
	var cost money.Total
	sum, err := manifest.ValidateConfig(ctx, o.manifest, f, func(row manifest.Row) error {
		cost.Add(pricer, row.Input.Lookup)
		return nil
	})
	if err != nil {
		return manifestError(err)
	}
	if o.asJSON {
		if !o.checkURLs {
			v := validateJSONOf(sum)
			if o.cost.priceUSD > 0 || o.cost.useCatalog {
				v.EstimatedCost = totalJSON(cost, pricer)
			}
			return writeJSON(stdout, v)
		}
		out, err := newURLsJSON(stdout, sum)
		if err != nil {
			return err
		}
		_, err = checkURLs(ctx, o.manifest, f, o.checkConc, o.checkRPS, out.add)
		out.close()
		return err
	}
	printValidation(stdout, o, sum)
	printMapping(stdout, f)
	printCostLine(stdout, cost, pricer, priceNote, false)
	if o.checkURLs {
		return checkURLsText(ctx, stdout, o, f, sum)
	}
	return nil
}

// checkValidateOptions refuses options validate cannot start with and
// returns how to read the manifest: its format and schema.
func checkValidateOptions(o validateOptions) (manifest.Config, error) {
	var f manifest.Config
	if o.manifest == "" {
		return f, usagef("--manifest is required")
	}
	var err error
	if f.Format, err = manifest.ParseFormat(o.format); err != nil {
		return f, usagef("--format: %v", err)
	}
	// nil for a model without a built-in schema: runValidate reads the
	// catalog's, after every usage error.
	if f.Schema, err = batch.LoadSchema(o.model, o.schema); err != nil {
		return f, err
	}
	f.Map, f.Keep, f.Reserved = o.columnMap, o.keepColumns, results.OwnColumns()
	if f.Files, err = batch.LocalFiles(o.inputs.stageTo, o.inputs.inline); err != nil {
		return f, err
	}
	if !o.checkURLs {
		return f, nil
	}
	if o.checkConc < 1 || o.checkRPS <= 0 {
		return f, usagef("--check-concurrency must be at least 1 and --check-rps above 0")
	}
	// Checking the URLs reads the manifest a second time.
	return f, requireRegularManifest(o.manifest, "validate --check-urls")
}

// printValidation prints the manifest's counts: rows, resolutions,
// durations and repeats.
func printValidation(stdout io.Writer, o validateOptions, sum manifest.Summary) {
	if o.checkURLs {
		// No verdict yet: the URLs may still fail. It comes last.
		fmt.Fprintf(stdout, "%s: %s\n", o.manifest, plural(sum.Rows, "row"))
	} else {
		fmt.Fprintf(stdout, "%s: %s, valid\n", o.manifest, plural(sum.Rows, "row"))
	}
	res := make([]string, 0, len(sum.ByResolution))
	for r := range sum.ByResolution {
		res = append(res, r)
	}
	sort.Strings(res)
	for _, r := range res {
		fmt.Fprintf(stdout, "  resolution %-6s %d\n", manifest.Printable(r), sum.ByResolution[r])
	}
	durs := make([]int, 0, len(sum.ByDuration))
	for d := range sum.ByDuration {
		durs = append(durs, d)
	}
	sort.Ints(durs)
	for _, d := range durs {
		fmt.Fprintf(stdout, "  duration %2ds    %d\n", d, sum.ByDuration[d])
	}
	if sum.DuplicateRows > 0 {
		fmt.Fprintf(stdout, "  %d rows repeat an earlier row's parameters (each is still its own job)\n", sum.DuplicateRows)
	}
}

// checkURLsText checks the image URLs, printing each failure, then the
// verdict.
func checkURLsText(ctx context.Context, stdout io.Writer, o validateOptions, f manifest.Config, sum manifest.Summary) error {
	t, err := checkURLs(ctx, o.manifest, f, o.checkConc, o.checkRPS, printURLCheck(stdout, o.manifest))
	if err == nil || errors.Is(err, probe.ErrBadURLs) {
		fmt.Fprintln(stdout, t.line())
	}
	switch {
	case err == nil:
		fmt.Fprintf(stdout, "%s: %s, valid; every %s URL ok\n", o.manifest, plural(sum.Rows, "row"), t.noun())
	case errors.Is(err, probe.ErrBadURLs):
		fmt.Fprintf(stdout, "%s: %s, %d would fail: their %s URLs failed the check\n", o.manifest, plural(sum.Rows, "row"), t.BadRows, t.noun())
	}
	return err
}

// requireRegularManifest refuses a manifest that is a pipe, a socket or a
// device: cmd reads the manifest twice (every row is checked before
// anything is sent, then it is read again to submit or check), and a pipe
// such as --manifest /dev/stdin yields its rows only once, so the second
// pass found it empty after the first had called it valid. A
// hidden copy would work, but would put a manifest of any size on a disk
// the user did not choose, and a resume needs the same manifest again
// anyway: a file is the honest answer. A directory or a missing file is
// left to the reader, which names the problem.
func requireRegularManifest(path, cmd string) error { return batch.RequireRegularManifest(path, cmd) }
