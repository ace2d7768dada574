package main

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/runner"
	"github.com/pikabatch/pikabatch/store"
)

// TestLiveFiguresMatchSummary pins the control socket's wire format (and
// so `status --json`'s this_run) to what it was when it was runner.Summary's
// JSON: every field of a summary, each set to a distinct non-zero value,
// must come out of liveFigures under the same name with the same value. A
// field added to runner.Summary fails here until the wire carries it too.
func TestLiveFiguresMatchSummary(t *testing.T) {
	var sum runner.Summary
	v := reflect.ValueOf(&sum).Elem()
	for i := range v.NumField() {
		f, name := v.Field(i), v.Type().Field(i).Name
		switch f.Kind() {
		case reflect.Int, reflect.Int64:
			f.SetInt(int64(i + 1)) // time.Duration too
		case reflect.Float64:
			f.SetFloat(float64(i+1) + 0.25)
		case reflect.Map:
			m := reflect.MakeMap(f.Type())
			k := reflect.New(f.Type().Key()).Elem()
			k.SetString("k" + name)
			m.SetMapIndex(k, reflect.ValueOf(i+1).Convert(f.Type().Elem()))
			f.Set(m)
		case reflect.Slice:
			f.Set(reflect.ValueOf([]string{"s" + name}))
		default:
			t.Fatalf("runner.Summary.%s: kind %s not covered by this test", name, f.Kind())
		}
	}
	require.NotZero(t, sum.Wall)
	require.Len(t, sum.Final, 1)
	want, err := json.Marshal(sum)
	require.NoError(t, err)
	got, err := json.Marshal(liveFigures(sum))
	require.NoError(t, err)
	assert.JSONEq(t, string(want), string(got))

	// And nearly zero figures, where omitempty decides what is sent.
	zero := runner.Summary{Final: map[store.State]int{}, Wall: time.Second}
	want, err = json.Marshal(zero)
	require.NoError(t, err)
	got, err = json.Marshal(liveFigures(zero))
	require.NoError(t, err)
	assert.JSONEq(t, string(want), string(got))
}
