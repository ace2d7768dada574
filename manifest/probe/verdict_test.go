package probe_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/pikabatch/pikabatch/manifest/probe"
)

func TestTallyWriteVerdict(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		t    probe.Tally
		err  error
		want string
	}{
		{"all ok", probe.Tally{Checked: 3, Rows: 3}, nil,
			"image URLs: 3 rows checked, 3 ok, 0 would fail\nm.csv: 3 rows, valid; every image URL ok\n"},
		{"some bad", probe.Tally{Checked: 3, Bad: 1, Rows: 3, BadRows: 1}, fmt.Errorf("x: %w", probe.ErrBadURLs),
			"image URLs: 3 rows checked, 2 ok, 1 would fail\nm.csv: 3 rows, 1 would fail: their image URLs failed the check\n"},
		{"check failed", probe.Tally{Checked: 1}, errors.New("manifest gone"), ""},
	} {
		var out bytes.Buffer
		c.t.WriteVerdict(&out, "m.csv", "3 rows", c.err)
		assert.Equal(t, c.want, out.String(), c.name)
	}
}
