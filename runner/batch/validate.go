package batch

import (
	"context"
	"net/http"

	"github.com/pikabatch/pikabatch/manifest"
	"github.com/pikabatch/pikabatch/manifest/probe"
	"github.com/pikabatch/pikabatch/runner/api"
	"github.com/pikabatch/pikabatch/runner/bucket"
	"github.com/pikabatch/pikabatch/runner/money"
	"github.com/pikabatch/pikabatch/runner/results"
)

// ValidateConfig says what Validate checks: the manifest read as a run
// with Config would read it, priced as its preview prices it, and, with
// URLs, whether each image host serves the rows' files.
type ValidateConfig struct {
	Config
	URLs             bool    // also ask each image host for the rows' files
	CheckConcurrency int     // image hosts asked at once
	CheckRPS         float64 // requests per second to image hosts
}

// Validation is what Validate found: the manifest's counts and the cost
// of its rows at the preview's price.
type Validation struct {
	Summary   manifest.Summary
	Cost      money.Total
	Pricer    money.Pricer
	PriceNote string
	// Read is how the manifest was read: its format, schema and columns.
	Read manifest.Config
}

// Validate refuses settings validate cannot start with (a ConfigError),
// reads the model's schema (the catalog's when none is built in) and
// checks and prices every row of the manifest. Nothing is sent to the
// model.
func Validate(ctx context.Context, c ValidateConfig) (Validation, error) {
	var v Validation
	var err error
	if v.Read, err = c.manifestConfig(); err != nil {
		return v, err
	}
	if err := CheckAmounts(c.PriceUSD, c.MaxCostUSD); err != nil {
		return v, err
	}
	if v.Read.Schema == nil {
		if v.Read.Schema, err = ReadCatalogSchema(ctx, c.catalogClient, c.Model, "validate reads no state file"); err != nil {
			return v, err
		}
	}
	v.Pricer, v.PriceNote = PreviewPricer(ctx, c.PriceUSD, c.UseCatalog, c.catalogClient, c.Model)
	v.Summary, err = manifest.ValidateConfig(ctx, c.Manifest, v.Read, func(row manifest.Row) error {
		v.Cost.Add(v.Pricer, row.Input.Lookup)
		return nil
	})
	if err != nil {
		return v, ManifestError(err)
	}
	return v, nil
}

// manifestConfig refuses options validate cannot start with and returns
// how to read the manifest: its format, schema and columns.
func (c ValidateConfig) manifestConfig() (manifest.Config, error) {
	var f manifest.Config
	if c.Manifest == "" {
		return f, configf("--manifest is required")
	}
	var err error
	if f.Format, err = manifest.ParseFormat(c.Format); err != nil {
		return f, configf("--format: %v", err)
	}
	// nil for a model without a built-in schema: Validate reads the
	// catalog's, after every other refusal.
	if f.Schema, err = LoadSchema(c.Model, c.Schema); err != nil {
		return f, err
	}
	f.Map, f.Keep, f.Reserved = c.ColumnMap, c.KeepColumns, results.OwnColumns()
	if f.Files, err = LocalFiles(c.StageTo, c.Inline); err != nil {
		return f, err
	}
	if !c.URLs {
		return f, nil
	}
	if c.CheckConcurrency < 1 || c.CheckRPS <= 0 {
		return f, configf("--check-concurrency must be at least 1 and --check-rps above 0")
	}
	// Checking the URLs reads the manifest a second time.
	return f, RequireRegularManifest(c.Manifest, "validate --check-urls")
}

// CheckURLs checks every file input of every row of the manifest as v
// read it (probe.CheckRows), passing each verdict to emit as it comes.
func (c ValidateConfig) CheckURLs(ctx context.Context, v Validation, emit func(probe.RowCheck)) (probe.Tally, error) {
	rows, err := manifest.OpenConfig(c.Manifest, v.Read)
	if err != nil {
		return probe.Tally{}, ManifestError(err)
	}
	defer rows.Close()
	// Bucket URLs are asked of the bucket, with the cloud's credentials.
	bc := bucket.NewClient()
	defer bc.Close()
	p := probe.New(probe.Config{Concurrency: c.CheckConcurrency, RPS: c.CheckRPS, Objects: bc,
		// Image hosts get no token: this client has never seen it.
		HTTPClient: &http.Client{Transport: Transport(c.CheckConcurrency)}})
	return probe.CheckRows(ctx, p, rows, emit)
}

// CatalogClient is a client for the catalog and the balance, for commands
// that read them without a run (models, balance, a preview's price). It
// reads the token from the environment.
func CatalogClient(apiBase, balanceBase string) (*api.Client, error) {
	return Config{APIBase: apiBase, BalanceBase: balanceBase, TokenSource: api.TokenFromEnv}.catalogClient()
}
