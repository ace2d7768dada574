package manifest

// FieldKind is the one JSON type a field's values take, for a typed
// export of the rows (a Parquet column).
type FieldKind string

// Field kinds. KindJSON is a field whose values may be of several types,
// or arrays and objects: kept as JSON text.
const (
	KindString  FieldKind = "string"
	KindInteger FieldKind = "integer"
	KindNumber  FieldKind = "number"
	KindBoolean FieldKind = "boolean"
	KindJSON    FieldKind = "json"
)

// FieldKind returns the kind of the named field's values, and whether s
// has that field. An integer-or-number field is a number; null beside one
// type is that type (a missing value is absent either way).
func (s *Schema) FieldKind(name string) (FieldKind, bool) {
	i, ok := s.index[name]
	if !ok {
		return "", false
	}
	switch t := s.props[i].types &^ tNull; t {
	case tString:
		return KindString, true
	case tInteger:
		return KindInteger, true
	case tNumber, tNumber | tInteger:
		return KindNumber, true
	case tBoolean:
		return KindBoolean, true
	}
	return KindJSON, true
}
