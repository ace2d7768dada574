package probe_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/manifest"
	"github.com/pikabatch/pikabatch/manifest/probe"
)

// TestCheckRowsTalliesInManifestOrder: each row's file URL is judged, in
// manifest order, with its signature redacted; the tally counts the bad
// ones, which make the error ErrBadURLs.
func TestCheckRowsTalliesInManifestOrder(t *testing.T) {
	t.Parallel()
	h := newImageHost(t)
	csv := "id,image,promptText\n" +
		"a," + h.URL + "/ok.jpg?X-Amz-Signature=secretsig,waves\n" +
		"b," + h.URL + "/page.html,wind\n" +
		"c," + h.URL + "/ok.jpg,rain\n"
	rows, err := manifest.NewReaderConfig(strings.NewReader(csv), "m.csv", manifest.Config{Format: manifest.FormatCSV})
	require.NoError(t, err)
	defer rows.Close()
	var got []probe.RowCheck
	tally, err := probe.CheckRows(context.Background(), probe.New(probe.Config{}), rows, func(c probe.RowCheck) { got = append(got, c) })
	require.ErrorIs(t, err, probe.ErrBadURLs)
	require.Len(t, got, 3)
	for i, key := range []string{"a", "b", "c"} {
		assert.Equal(t, key, got[i].Key)
		assert.Equal(t, i+2, got[i].Line)
	}
	assert.True(t, got[0].OK)
	assert.NotContains(t, got[0].URL, "secretsig", "signatures never reach a report")
	assert.False(t, got[1].OK)
	assert.Equal(t, [4]int{3, 1, 3, 1}, [4]int{tally.Checked, tally.Bad, tally.Rows, tally.BadRows})
	assert.False(t, tally.SeveralPerRow)
}
