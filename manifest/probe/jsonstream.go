package probe

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
)

// JSONStream writes a JSON object as the checks come: head's fields, then
// a "urls" array, one RowCheck per row as it is checked, byte for byte
// what encoding/json's indented encoding of head with a []RowCheck field
// "urls" gives ([] when no row was checked). A manifest of any size is
// then checked in bounded memory.
type JSONStream struct {
	w io.Writer
	n int
}

// NewJSONStream writes everything before the first row's verdict; head
// encodes as a JSON object.
func NewJSONStream(w io.Writer, head any) (*JSONStream, error) {
	b, err := json.MarshalIndent(head, "", "  ")
	if err != nil {
		return nil, err
	}
	b = bytes.TrimSuffix(b, []byte("}"))
	if bytes.Equal(b, []byte("{")) {
		b = append(b, '\n') // no field before "urls"
	} else {
		b = append(bytes.TrimSuffix(b, []byte("\n")), ",\n"...)
	}
	_, err = fmt.Fprintf(w, `%s  "urls": `, b)
	return &JSONStream{w: w}, err
}

// Add writes one row's verdict.
func (j *JSONStream) Add(ch RowCheck) {
	b, err := json.MarshalIndent(ch, "    ", "  ")
	if err != nil {
		return // a RowCheck is strings and numbers: it always encodes
	}
	sep := ",\n    "
	if j.n == 0 {
		sep = "[\n    "
	}
	j.n++
	fmt.Fprintf(j.w, "%s%s", sep, b)
}

// Close ends the array and the object.
func (j *JSONStream) Close() {
	if j.n == 0 {
		fmt.Fprint(j.w, "[]\n}\n")
		return
	}
	fmt.Fprint(j.w, "\n  ]\n}\n")
}
