package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/pikabatch/pikabatch/manifest"
	"github.com/pikabatch/pikabatch/manifest/probe"
	"github.com/pikabatch/pikabatch/runner/api"
	"github.com/pikabatch/pikabatch/runner/batch"
	"github.com/pikabatch/pikabatch/runner/money"
)

// validateOptions are validate's flags. cfg holds the manifest, how it
// is read, the model and the price, as a run would take them, and whether
// the URLs are checked.
type validateOptions struct {
	cfg    batch.ValidateConfig
	asJSON bool
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
	fs.BoolVar(&o.cfg.URLs, "check-urls", false, "also ask each image host whether the image is reachable, an image, and at most 50 MB (HEAD, else a ranged GET)")
	fs.IntVar(&o.cfg.CheckConcurrency, "check-concurrency", 8, "image hosts asked at once with --check-urls")
	fs.Float64Var(&o.cfg.CheckRPS, "check-rps", 10, "requests per second to image hosts with --check-urls")
	fs.StringVar(&o.cfg.Schema, "schema", "", "the model's input schema, a JSON Schema `file` (default: the model's: built in for pika/pika-2-2/image-to-video, else the catalog's)")
	registerColumnFlags(fs, &o.cfg.Config)
	registerInputs(fs, &o.cfg.Config, false)
	fs.StringVar(&o.cfg.Model, "model", defaultModel, "model `ID`: rows are checked with its schema (built in, else the catalog's; reading it sends the token) and priced for the estimate")
	fs.StringVar(&o.cfg.APIBase, "api-base", envOr("RUNCOMFY_API_BASE", api.DefaultBaseURL), "API base URL for --catalog (env RUNCOMFY_API_BASE)")
	registerPreviewCost(fs, &o.cfg.Config)
	markRequired(c, "manifest")
	completeWords(c, "format", "auto", "csv", "jsonl")
	return c
}

// runValidate checks every row of the manifest and, with --check-urls,
// its image URLs.
func runValidate(ctx context.Context, o validateOptions, stdout io.Writer) error {
	o.cfg.TokenSource = api.TokenFromEnv // the catalog's schema or price may need it
	v, err := batch.Validate(ctx, o.cfg)
	if err != nil {
		return err
	}
	if o.asJSON {
		if !o.cfg.URLs {
			j := validateJSONOf(v.Summary)
			if o.cfg.PriceUSD > 0 || o.cfg.UseCatalog {
				j.EstimatedCost = totalJSON(v.Cost, v.Pricer)
			}
			return writeJSON(stdout, j)
		}
		out, err := newURLsJSON(stdout, v.Summary)
		if err != nil {
			return err
		}
		_, err = o.cfg.CheckURLs(ctx, v, out.Add)
		out.Close()
		return err
	}
	rows := plural(v.Summary.Rows, "row")
	if o.cfg.URLs {
		// No verdict yet: the URLs may still fail. It comes last.
		fmt.Fprintf(stdout, "%s: %s\n", o.cfg.Manifest, rows)
	} else {
		fmt.Fprintf(stdout, "%s: %s, valid\n", o.cfg.Manifest, rows)
	}
	v.Summary.WriteCounts(stdout)
	v.Read.WriteMapping(stdout)
	money.WriteCost(stdout, v.Cost, v.Pricer, v.PriceNote, false)
	if o.cfg.URLs {
		return checkURLsText(ctx, stdout, o.cfg, v, rows)
	}
	return nil
}

// newURLsJSON writes `validate --check-urls --json` as it goes: the
// summary's fields, then each row's verdict (probe.JSONStream).
func newURLsJSON(w io.Writer, sum manifest.Summary) (*probe.JSONStream, error) {
	return probe.NewJSONStream(w, validateJSONOf(sum))
}

// checkURLsText checks the image URLs, printing each failure, then the
// verdict.
func checkURLsText(ctx context.Context, stdout io.Writer, c batch.ValidateConfig, v batch.Validation, rows string) error {
	t, err := c.CheckURLs(ctx, v, func(ch probe.RowCheck) { fmt.Fprintln(stdout, ch.Text(c.Manifest)) })
	t.WriteVerdict(stdout, c.Manifest, rows, err)
	return err
}
