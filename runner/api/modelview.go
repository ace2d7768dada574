package api

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/pikabatch/pikabatch/manifest"
)

// ModelEntry is a model as `models --json` lists it: the catalog's words
// and price, without the schema.
type ModelEntry struct {
	ModelID      string   `json:"model_id"`
	DisplayName  string   `json:"display_name,omitempty"`
	Categories   []string `json:"categories,omitempty"`
	BasePriceUSD *float64 `json:"base_price_usd,omitempty"`
	PriceUnit    string   `json:"price_unit,omitempty"`
}

// Entry is m as a list shows it.
func (m Model) Entry() ModelEntry {
	return ModelEntry{ModelID: m.ID, DisplayName: m.DisplayName, Categories: m.Categories,
		BasePriceUSD: m.BasePriceUSD, PriceUnit: m.PriceUnit}
}

// ModelPage is a page of the catalog as `models --json` prints it.
type ModelPage struct {
	Models []ModelEntry `json:"models"` // [], never null
	Total  int          `json:"total"`
}

// Page is l as `models --json` prints it.
func (l ModelList) Page() ModelPage {
	p := ModelPage{Models: make([]ModelEntry, 0, len(l.Models)), Total: l.Total}
	for _, m := range l.Models {
		p.Models = append(p.Models, m.Entry())
	}
	return p
}

// ModelDetail is a model as `models show --json` prints it: its entry, its
// fields with their values decoded, and its schema as the catalog gave it.
type ModelDetail struct {
	ModelEntry
	Fields []FieldValues `json:"fields"`
	// InputSchema is the catalog's JSON Schema as it is: saved to a file,
	// it is what --schema takes when the catalog cannot be reached.
	InputSchema json.RawMessage `json:"input_schema,omitempty"`
}

// FieldValues is a Field whose default and allowed values are decoded, so
// that a script reads them as values, not as JSON text.
type FieldValues struct {
	Name     string   `json:"name"`
	Type     string   `json:"type"`
	Required bool     `json:"required"`
	Default  any      `json:"default,omitempty"`
	Enum     []any    `json:"enum,omitempty"`
	Minimum  *float64 `json:"minimum,omitempty"`
	Maximum  *float64 `json:"maximum,omitempty"`
	Format   string   `json:"format,omitempty"`
}

// Detail is m with its fields (m.Fields) as `models show --json` prints it.
func (m Model) Detail(fields []Field) ModelDetail {
	d := ModelDetail{ModelEntry: m.Entry(), Fields: make([]FieldValues, 0, len(fields)), InputSchema: m.InputSchema}
	for _, f := range fields {
		fv := FieldValues{Name: f.Name, Type: f.Type, Required: f.Required, Minimum: f.Min, Maximum: f.Max, Format: f.Format}
		fv.Default = rawValue(f.Default)
		for _, e := range f.Enum {
			fv.Enum = append(fv.Enum, rawValue(e))
		}
		d.Fields = append(d.Fields, fv)
	}
	return d
}

// rawValue decodes a value the catalog gave; nil when there is none.
func rawValue(raw json.RawMessage) any {
	var v any
	if len(raw) == 0 || json.Unmarshal(raw, &v) != nil {
		return nil
	}
	return v
}

// WriteText prints the page as `models` lists it: a table, then how many
// of how many. price is a model's price as the table shows it.
func (l ModelList) WriteText(w io.Writer, price func(Model) string) error {
	if len(l.Models) == 0 {
		fmt.Fprintln(w, "no model matches")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "MODEL\tPRICE\tCATEGORIES\tNAME")
	for _, m := range l.Models {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", manifest.Printable(m.ID), manifest.Printable(price(m)),
			manifest.Printable(strings.Join(m.Categories, ",")), manifest.Printable(m.DisplayName))
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "%d of %d models; pikabatch models show ID lists a model's fields\n", len(l.Models), l.Total)
	return nil
}

// WriteText prints m as `models show` does: its names, its price, then its
// fields (m.Fields). Every word the catalog gives is printed escaped: it
// reaches the terminal, and a name holding escapes must not act on it.
func (m Model) WriteText(w io.Writer, fields []Field, price string) error {
	fmt.Fprintf(w, "%s", manifest.Printable(m.ID))
	if m.DisplayName != "" {
		fmt.Fprintf(w, " (%s)", manifest.Printable(m.DisplayName))
	}
	fmt.Fprintln(w)
	if len(m.Categories) > 0 {
		fmt.Fprintf(w, "categories: %s\n", manifest.Printable(strings.Join(m.Categories, ", ")))
	}
	fmt.Fprintf(w, "price: %s\n", manifest.Printable(price))
	if len(fields) == 0 {
		fmt.Fprintln(w, "no input schema in the catalog")
		return nil
	}
	fmt.Fprintln(w, "fields (the manifest's columns):")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  NAME\tTYPE\tREQUIRED\tDEFAULT\tALLOWED")
	for _, f := range fields {
		req := ""
		if f.Required {
			req = "yes"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", manifest.Printable(f.Name), manifest.Printable(f.Type), req,
			manifest.Printable(string(f.Default)), manifest.Printable(f.Allowed()))
	}
	return tw.Flush()
}
