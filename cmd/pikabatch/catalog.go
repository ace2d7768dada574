package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/pikabatch/pikabatch/runner/api"
	"github.com/pikabatch/pikabatch/runner/batch"
	"github.com/pikabatch/pikabatch/runner/money"
)

// tokenHelp ends the help of every command that reads the token.
const tokenHelp = `

Token: RUNCOMFY_API_TOKEN, or RUNCOMFY_API_TOKEN_FILE (a file holding it),
or RUNCOMFY_TOKEN (as RunComfy's own CLI reads it).`

// accountOptions say where the API and the balance are.
type accountOptions struct {
	apiBase, balanceBase string
}

func (o *accountOptions) register(fs *pflag.FlagSet) {
	fs.StringVar(&o.apiBase, "api-base", envOr("RUNCOMFY_API_BASE", api.DefaultBaseURL), "API base URL (env RUNCOMFY_API_BASE); https unless loopback")
	fs.StringVar(&o.balanceBase, "balance-base", envOr("RUNCOMFY_BALANCE_BASE", ""),
		"balance endpoint base URL (env RUNCOMFY_BALANCE_BASE; default "+api.DefaultBalanceURL+" with RunComfy's API, else the API's own host); https unless loopback")
}

// client builds an API client for the catalog and the balance; it reads the
// token from the environment.
func (o accountOptions) client() (*api.Client, error) {
	return batch.CatalogClient(o.apiBase, o.balanceBase)
}

// modelsOptions are the settings of `pikabatch models`.
type modelsOptions struct {
	account          accountOptions
	search, category string
	show             string // a model ID: models show ID
	asJSON           bool
}

func newModelsCmd(stdout io.Writer) *cobra.Command {
	var o modelsOptions
	c := &cobra.Command{
		Use:   "models [--search S] [--category C]",
		Short: "The model catalog; a model's fields (the manifest's columns) and price",
		Long: `List RunComfy's model catalog, or (models show ID) one model's input
fields, which are the manifest's columns, and its price.` + tokenHelp,
		Example: `  pikabatch models --category text-to-video
  pikabatch models --search pika --json
  pikabatch models show pika/pika-2-2/image-to-video`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return runModelsCmd(c.Context(), o, stdout)
		},
	}
	fs := c.Flags()
	o.account.register(fs)
	fs.StringVar(&o.search, "search", "", "only models whose ID or name contains `TEXT`")
	fs.StringVar(&o.category, "category", "", "only models of this `category` (text-to-video, image-to-video, text-to-image…)")
	fs.BoolVar(&o.asJSON, "json", false, "print as JSON")

	var so modelsOptions
	show := &cobra.Command{
		Use:     "show ID",
		Short:   "A model's fields (the manifest's columns) and price",
		Example: "  pikabatch models show pika/pika-2-2/image-to-video --json",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usagef("models show takes one model ID, not %d arguments", len(args))
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			so.show = args[0]
			return runModelsCmd(c.Context(), so, stdout)
		},
	}
	so.account.register(show.Flags())
	show.Flags().BoolVar(&so.asJSON, "json", false, "print as JSON")
	c.AddCommand(show)
	return c
}

// runModelsCmd reads the token and lists or shows.
func runModelsCmd(ctx context.Context, o modelsOptions, stdout io.Writer) error {
	client, err := o.account.client()
	if err != nil {
		return err
	}
	defer client.CloseIdleConnections()
	return runModels(ctx, client, o, stdout)
}

// catalogAPI is what models and balance read.
type catalogAPI interface {
	Models(ctx context.Context, q api.ModelQuery) (api.ModelList, error)
	Model(ctx context.Context, id string) (api.Model, error)
	Balance(ctx context.Context) (api.Balance, error)
}

var _ catalogAPI = (*api.Client)(nil)

// runModels lists the catalog, or shows one model.
func runModels(ctx context.Context, c catalogAPI, o modelsOptions, stdout io.Writer) error {
	if o.show != "" {
		m, err := c.Model(ctx, o.show)
		if err != nil {
			return api.CatalogError(o.show, err)
		}
		return printModel(stdout, m, o.asJSON)
	}
	list, err := c.Models(ctx, api.ModelQuery{Search: o.search, Category: o.category, Limit: 100})
	if err != nil {
		return api.CatalogError("", err)
	}
	if o.asJSON {
		return writeJSON(stdout, modelsJSON{Version: jsonVersion, ModelPage: list.Page()})
	}
	return list.WriteText(stdout, money.ListPrice)
}

// printModel prints one model: its price and its fields.
func printModel(w io.Writer, m api.Model, asJSON bool) error {
	fields, err := m.Fields()
	if err != nil {
		return fmt.Errorf("model %s: %w", m.ID, err)
	}
	if asJSON {
		return writeJSON(w, modelShowJSON{Version: jsonVersion, ModelDetail: m.Detail(fields)})
	}
	return m.WriteText(w, fields, money.ListPrice(m))
}

// balanceOptions are balance's flags.
type balanceOptions struct {
	account accountOptions
	asJSON  bool
}

func newBalanceCmd(stdout io.Writer) *cobra.Command {
	var o balanceOptions
	c := &cobra.Command{
		Use:   "balance",
		Short: "The account's balance",
		Long:  `Print the account's balance (one wallet pays every RunComfy product).` + tokenHelp,
		Example: `  pikabatch balance
  pikabatch balance --json --balance-base https://api.runcomfy.net`,
		Args: noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			client, err := o.account.client()
			if err != nil {
				return err
			}
			defer client.CloseIdleConnections()
			return runBalance(c.Context(), client, o.asJSON, stdout)
		},
	}
	o.account.register(c.Flags())
	c.Flags().BoolVar(&o.asJSON, "json", false, "print as JSON")
	return c
}

// runBalance prints the balance.
func runBalance(ctx context.Context, c catalogAPI, asJSON bool, stdout io.Writer) error {
	b, err := c.Balance(ctx)
	if errors.Is(err, api.ErrNoBalance) {
		return fmt.Errorf("%w: %w", api.ErrUnavailable, err)
	}
	if err != nil {
		return err
	}
	if asJSON {
		return writeJSON(stdout, balanceJSON{Version: jsonVersion, Balance: b})
	}
	fmt.Fprintf(stdout, "balance: %s %s\n", money.USD(b.USD), b.Currency)
	return nil
}
