package api

import (
	"strconv"
	"strings"
)

// Allowed is the field's enum, range or format, as `models show` lists it.
func (f Field) Allowed() string {
	if len(f.Enum) > 0 {
		words := make([]string, len(f.Enum))
		for i, e := range f.Enum {
			words[i] = string(e)
		}
		return strings.Join(words, " ")
	}
	var parts []string
	if f.Min != nil {
		parts = append(parts, ">= "+strconv.FormatFloat(*f.Min, 'f', -1, 64))
	}
	if f.Max != nil {
		parts = append(parts, "<= "+strconv.FormatFloat(*f.Max, 'f', -1, 64))
	}
	if f.Format != "" {
		parts = append(parts, f.Format)
	}
	return strings.Join(parts, ", ")
}
