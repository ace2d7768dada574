package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Field is one top-level input field of a model, as its catalog entry's
// JSON Schema describes it: a manifest column. Default and Enum are the
// schema's JSON as it is.
type Field struct {
	Name     string            `json:"name"`
	Type     string            `json:"type"`
	Required bool              `json:"required"`
	Default  json.RawMessage   `json:"default,omitempty"`
	Enum     []json.RawMessage `json:"enum,omitempty"`
	Min      *float64          `json:"minimum,omitempty"`
	Max      *float64          `json:"maximum,omitempty"`
	Format   string            `json:"format,omitempty"`
}

// Fields lists the top-level properties of m's input schema, required
// ones first, each group in the schema's own order (RunComfy lists a
// model's important fields first). A model without a schema has none.
func (m Model) Fields() ([]Field, error) {
	if len(m.InputSchema) == 0 {
		return nil, nil
	}
	var s struct {
		Required   []string        `json:"required"`
		Properties json.RawMessage `json:"properties"`
	}
	if err := json.Unmarshal(m.InputSchema, &s); err != nil {
		return nil, fmt.Errorf("input schema: %w", err)
	}
	fields, err := schemaProperties(s.Properties, s.Required)
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(fields, func(a, b Field) int {
		switch {
		case a.Required == b.Required:
			return 0
		case a.Required:
			return -1
		}
		return 1
	})
	return fields, nil
}

// schemaProperties reads a schema's properties object in order: a map
// would lose the model's own order.
func schemaProperties(props json.RawMessage, required []string) ([]Field, error) {
	if len(props) == 0 {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(props))
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("input schema properties: %w", err)
	}
	var fields []Field
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("input schema properties: %w", err)
		}
		name, _ := tok.(string)
		var p struct {
			Type    any               `json:"type"`
			Default json.RawMessage   `json:"default"`
			Enum    []json.RawMessage `json:"enum"`
			Min     *float64          `json:"minimum"`
			Max     *float64          `json:"maximum"`
			Format  string            `json:"format"`
		}
		if err := dec.Decode(&p); err != nil {
			return nil, fmt.Errorf("input schema property %q: %w", name, err)
		}
		f := Field{Name: name, Type: typeText(p.Type), Required: slices.Contains(required, name),
			Default: p.Default, Enum: p.Enum, Min: p.Min, Max: p.Max, Format: p.Format}
		if f.Type == "float" {
			f.Type = "number" // a spelling RunComfy's catalog has used
		}
		fields = append(fields, f)
	}
	return fields, nil
}

// typeText reads a schema type: a word, or a list of words.
func typeText(t any) string {
	switch v := t.(type) {
	case string:
		return v
	case []any:
		words := make([]string, 0, len(v))
		for _, w := range v {
			if s, ok := w.(string); ok {
				words = append(words, s)
			}
		}
		return strings.Join(words, "|")
	}
	return ""
}
