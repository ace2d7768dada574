package manifest

import (
	"slices"
	"strings"
)

// KeyFields describes what of the schema a row's key depends on, by
// property: which columns it is read from (its name and aliases) and how a
// cell becomes its value (its types). A row without an id is keyed by the
// hash of its Input, and these alone shape the Input: a property typed a
// string instead of an integer hashes "42" where it hashed 42, an alias
// reads another column. The other keywords (enum, bounds, pattern,
// required) only accept or refuse a row, and defaults are not written into
// it. Two schemas with equal KeyFields key every row they both accept
// alike.
func (s *Schema) KeyFields() map[string]string {
	out := make(map[string]string, len(s.props))
	for _, p := range s.props {
		desc := typeWords(p.types)
		if len(p.aliases) > 0 {
			aliases := slices.Clone(p.aliases)
			slices.Sort(aliases)
			desc += " (from " + strings.Join(aliases, ", ") + ")"
		}
		out[p.name] = desc
	}
	return out
}

// typeWords names a type set in the JSON Schema's words, in a fixed order:
// "integer|number".
func typeWords(t typeSet) string {
	var names []string
	for _, x := range []struct {
		t    typeSet
		name string
	}{{tString, "string"}, {tInteger, "integer"}, {tNumber, "number"}, {tBoolean, "boolean"},
		{tArray, "array"}, {tObject, "object"}, {tNull, "null"}} {
		if t.has(x.t) {
			names = append(names, x.name)
		}
	}
	return strings.Join(names, "|")
}
