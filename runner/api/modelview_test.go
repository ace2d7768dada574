package api

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestModelListWriteText(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	require.NoError(t, ModelList{}.WriteText(&out, func(Model) string { return "-" }))
	assert.Equal(t, "no model matches\n", out.String())

	out.Reset()
	l := ModelList{Models: []Model{{ID: "a/b\x1b[2J", DisplayName: "B", Categories: []string{"x", "y"}}}, Total: 7}
	require.NoError(t, l.WriteText(&out, func(m Model) string { return "$1/" + m.ID[:1] }))
	assert.Equal(t, "MODEL       PRICE  CATEGORIES  NAME\n"+
		`a/b\x1b[2J  $1/a   x,y         B`+"\n"+
		"1 of 7 models; pikabatch models show ID lists a model's fields\n", out.String())
}

func TestModelWriteText(t *testing.T) {
	t.Parallel()
	m := Model{ID: "a/b", DisplayName: "B", Categories: []string{"x", "y"},
		InputSchema: json.RawMessage(`{"type":"object","required":["p"],"properties":{"p":{"type":"string"},"n":{"type":"integer","default":5,"enum":[5,10]}}}`)}
	fields, err := m.Fields()
	require.NoError(t, err)
	var out bytes.Buffer
	require.NoError(t, m.WriteText(&out, fields, "$0.01"))
	assert.Equal(t, "a/b (B)\ncategories: x, y\nprice: $0.01\nfields (the manifest's columns):\n"+
		"  NAME  TYPE     REQUIRED  DEFAULT  ALLOWED\n"+
		"  p     string   yes                \n"+
		"  n     integer            5        5 10\n", out.String())

	out.Reset()
	require.NoError(t, Model{ID: "c/d"}.WriteText(&out, nil, "-"))
	assert.Equal(t, "c/d\nprice: -\nno input schema in the catalog\n", out.String())
}

func TestModelJSONShapes(t *testing.T) {
	t.Parallel()
	b, err := json.Marshal(ModelList{}.Page())
	require.NoError(t, err)
	assert.JSONEq(t, `{"models":[],"total":0}`, string(b), "no models is [], never null")

	m := Model{ID: "a/b", InputSchema: json.RawMessage(`{"properties":{"n":{"type":"integer","default":5,"enum":[5,10]}}}`)}
	fields, err := m.Fields()
	require.NoError(t, err)
	b, err = json.Marshal(m.Detail(fields))
	require.NoError(t, err)
	assert.Equal(t, `{"model_id":"a/b","fields":[{"name":"n","type":"integer","required":false,"default":5,"enum":[5,10]}],`+
		`"input_schema":{"properties":{"n":{"type":"integer","default":5,"enum":[5,10]}}}}`, string(b))
}
