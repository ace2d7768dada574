package manifest

import (
	"fmt"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// refCycle finds a schema that applies itself to the same value again
// ("a": {"$ref": "#/properties/a"}, or two $defs naming each other): the
// library compiles such a schema and fails each row it reaches with a
// reference cycle, which read as the rows' fault. It is the schema's, and
// is found here once, before any row. Only keywords that apply a schema to
// the same value ($ref and the applicators allOf, anyOf, oneOf, not,
// if/then/else, dependentSchemas) can close such a loop; the others (items,
// properties...) move into the value and are followed to reach every
// schema.
func refCycle(root *jsonschema.Schema) error {
	const (
		visiting = 1
		done     = 2
	)
	state := map[*jsonschema.Schema]int{}
	var visit func(s *jsonschema.Schema) error
	visit = func(s *jsonschema.Schema) error {
		switch state[s] {
		case visiting:
			where := s.Location
			if i := strings.IndexByte(where, '#'); i >= 0 {
				where = where[i:] // the document's own name is in the error already
			}
			return fmt.Errorf("%s applies itself to the same value again (a reference cycle)", where)
		case done:
			return nil
		}
		state[s] = visiting
		for _, n := range inPlace(s) {
			if err := visit(n); err != nil {
				return err
			}
		}
		state[s] = done
		for _, n := range inside(s) {
			if err := visit(n); err != nil {
				return err
			}
		}
		return nil
	}
	return visit(root)
}

// inPlace lists the schemas s applies to the value it is applied to.
func inPlace(s *jsonschema.Schema) []*jsonschema.Schema {
	var out []*jsonschema.Schema
	add := func(xs ...*jsonschema.Schema) {
		for _, x := range xs {
			if x != nil {
				out = append(out, x)
			}
		}
	}
	add(s.Ref, s.RecursiveRef, s.Not, s.If, s.Then, s.Else)
	if s.DynamicRef != nil {
		add(s.DynamicRef.Ref)
	}
	add(s.AllOf...)
	add(s.AnyOf...)
	add(s.OneOf...)
	for _, d := range s.DependentSchemas {
		add(d)
	}
	for _, d := range s.Dependencies {
		if x, ok := d.(*jsonschema.Schema); ok {
			add(x)
		}
	}
	return out
}

// inside lists the schemas s applies to values inside the one it is
// applied to (properties, items...).
func inside(s *jsonschema.Schema) []*jsonschema.Schema {
	var out []*jsonschema.Schema
	add := func(xs ...*jsonschema.Schema) {
		for _, x := range xs {
			if x != nil {
				out = append(out, x)
			}
		}
	}
	for _, p := range s.Properties {
		add(p)
	}
	for _, p := range s.PatternProperties {
		add(p)
	}
	add(s.PropertyNames, s.UnevaluatedProperties, s.Contains, s.Items2020, s.UnevaluatedItems, s.ContentSchema)
	add(s.PrefixItems...)
	for _, x := range []any{s.AdditionalProperties, s.Items, s.AdditionalItems} {
		switch v := x.(type) {
		case *jsonschema.Schema:
			add(v)
		case []*jsonschema.Schema:
			add(v...)
		}
	}
	return out
}
