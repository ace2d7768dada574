package main

import (
	"context"
	"errors"
	"fmt"
	"io"

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
	// cfg holds the manifest, how it is read, the model and the price,
	// as a run would take them.
	cfg       batch.Config
	asJSON    bool
	checkURLs bool
	checkConc int     // image hosts asked at once
	checkRPS  float64 // requests per second to image hosts
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
	fs.StringVar(&o.cfg.Manifest, "manifest", "", "manifest `file` (CSV or JSONL)")
	fs.StringVar(&o.cfg.Format, "format", "auto", "manifest format: auto (by extension), csv or jsonl")
	fs.BoolVar(&o.asJSON, "json", false, "print the summary as JSON")
	fs.BoolVar(&o.checkURLs, "check-urls", false, "also ask each image host whether the image is reachable, an image, and at most 50 MB (HEAD, else a ranged GET)")
	fs.IntVar(&o.checkConc, "check-concurrency", 8, "image hosts asked at once with --check-urls")
	fs.Float64Var(&o.checkRPS, "check-rps", 10, "requests per second to image hosts with --check-urls")
	fs.StringVar(&o.cfg.Schema, "schema", "", "the model's input schema, a JSON Schema `file` (default: the model's: built in for pika/pika-2-2/image-to-video, else the catalog's)")
	registerColumnFlags(fs, &o.cfg)
	registerInputs(fs, &o.cfg, false)
	fs.StringVar(&o.cfg.Model, "model", defaultModel, "model `ID`: rows are checked with its schema (built in, else the catalog's; reading it sends the token) and priced for the estimate")
	fs.StringVar(&o.cfg.APIBase, "api-base", envOr("RUNCOMFY_API_BASE", api.DefaultBaseURL), "API base URL for --catalog (env RUNCOMFY_API_BASE)")
	registerPreviewCost(fs, &o.cfg)
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
	if err := batch.CheckAmounts(o.cfg.PriceUSD, o.cfg.MaxCostUSD); err != nil {
		return err
	}
	if f.Schema == nil {
		acct := accountOptions{apiBase: o.cfg.APIBase, balanceBase: o.cfg.BalanceBase}
		if f.Schema, err = batch.ReadCatalogSchema(ctx, acct.client, o.cfg.Model, "validate reads no state file"); err != nil {
			return err
		}
	}
	pricer, priceNote := previewPricer(ctx, o.cfg)
	var cost money.Total
	sum, err := manifest.ValidateConfig(ctx, o.cfg.Manifest, f, func(row manifest.Row) error {
		cost.Add(pricer, row.Input.Lookup)
		return nil
	})
	if err != nil {
		return batch.ManifestError(err)
	}
	if o.asJSON {
		if !o.checkURLs {
			v := validateJSONOf(sum)
			if o.cfg.PriceUSD > 0 || o.cfg.UseCatalog {
				v.EstimatedCost = totalJSON(cost, pricer)
			}
			return writeJSON(stdout, v)
		}
		out, err := newURLsJSON(stdout, sum)
		if err != nil {
			return err
		}
		_, err = checkURLs(ctx, o.cfg.Manifest, f, o.checkConc, o.checkRPS, out.Add)
		out.Close()
		return err
	}
	printValidation(stdout, o, sum)
	f.WriteMapping(stdout)
	money.WriteCost(stdout, cost, pricer, priceNote, false)
	if o.checkURLs {
		return checkURLsText(ctx, stdout, o, f, sum)
	}
	return nil
}

// checkValidateOptions refuses options validate cannot start with and
// returns how to read the manifest: its format and schema.
func checkValidateOptions(o validateOptions) (manifest.Config, error) {
	var f manifest.Config
	if o.cfg.Manifest == "" {
		return f, usagef("--manifest is required")
	}
	var err error
	if f.Format, err = manifest.ParseFormat(o.cfg.Format); err != nil {
		return f, usagef("--format: %v", err)
	}
	// nil for a model without a built-in schema: runValidate reads the
	// catalog's, after every usage error.
	if f.Schema, err = batch.LoadSchema(o.cfg.Model, o.cfg.Schema); err != nil {
		return f, err
	}
	f.Map, f.Keep, f.Reserved = o.cfg.ColumnMap, o.cfg.KeepColumns, results.OwnColumns()
	if f.Files, err = batch.LocalFiles(o.cfg.StageTo, o.cfg.Inline); err != nil {
		return f, err
	}
	if !o.checkURLs {
		return f, nil
	}
	if o.checkConc < 1 || o.checkRPS <= 0 {
		return f, usagef("--check-concurrency must be at least 1 and --check-rps above 0")
	}
	// Checking the URLs reads the manifest a second time.
	return f, batch.RequireRegularManifest(o.cfg.Manifest, "validate --check-urls")
}

// printValidation prints the manifest's counts: rows, resolutions,
// durations and repeats.
func printValidation(stdout io.Writer, o validateOptions, sum manifest.Summary) {
	if o.checkURLs {
		// No verdict yet: the URLs may still fail. It comes last.
		fmt.Fprintf(stdout, "%s: %s\n", o.cfg.Manifest, plural(sum.Rows, "row"))
	} else {
		fmt.Fprintf(stdout, "%s: %s, valid\n", o.cfg.Manifest, plural(sum.Rows, "row"))
	}
	sum.WriteCounts(stdout)
}

// checkURLsText checks the image URLs, printing each failure, then the
// verdict.
func checkURLsText(ctx context.Context, stdout io.Writer, o validateOptions, f manifest.Config, sum manifest.Summary) error {
	t, err := checkURLs(ctx, o.cfg.Manifest, f, o.checkConc, o.checkRPS, printURLCheck(stdout, o.cfg.Manifest))
	if err == nil || errors.Is(err, probe.ErrBadURLs) {
		fmt.Fprintln(stdout, t.Line())
	}
	switch {
	case err == nil:
		fmt.Fprintf(stdout, "%s: %s, valid; every %s URL ok\n", o.cfg.Manifest, plural(sum.Rows, "row"), t.Noun())
	case errors.Is(err, probe.ErrBadURLs):
		fmt.Fprintf(stdout, "%s: %s, %d would fail: their %s URLs failed the check\n", o.cfg.Manifest, plural(sum.Rows, "row"), t.BadRows, t.Noun())
	}
	return err
}
