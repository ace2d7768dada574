package manifest_test

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/manifest"
)

func TestKeysSurviveReordering(t *testing.T) {
	t.Parallel()
	lines := []string{
		"c1," + img + ",a cat,",
		"," + img + ",a dog,",
		"," + img + ",a dog,", // identical to the previous row
		"," + img + ",a dog,",
		"," + img + ",a dog,10",
		"," + img + ",a bird,",
		"c2," + img + ",a dog,",
	}
	// keys maps each key to the input it belongs to.
	keys := func(lines []string) map[string]manifest.Input {
		rows, errs := collect(t, "m.csv", "id,image,prompt,duration\n"+strings.Join(lines, "\n")+"\n")
		require.Empty(t, errs)
		m := make(map[string]manifest.Input, len(rows))
		for _, row := range rows {
			require.NotContains(t, m, row.Key, "keys are unique")
			m[row.Key] = row.Input
		}
		return m
	}
	want := keys(lines)
	require.Len(t, want, len(lines))

	rng := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		shuffled := slices.Clone(lines)
		rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		assert.Equal(t, want, keys(shuffled), "order %q", shuffled)
	}
}

func TestKeysIdenticalRowsStaySeparate(t *testing.T) {
	t.Parallel()
	in := manifest.PikaFields{Image: img, PromptText: "a dog"}.Input()
	base := derivedKey(in)
	content := "image,prompt\n" + strings.Repeat(img+",a dog\n", 3) + img + ",a cat\n"
	r, err := manifest.NewReader(strings.NewReader(content), "m.csv", manifest.FormatAuto)
	require.NoError(t, err)
	var got []string
	for range 4 {
		row, err := r.Next()
		require.NoError(t, err)
		got = append(got, row.Key)
	}
	assert.Equal(t, []string{base, base + "-2", base + "-3"}, got[:3])
	assert.Regexp(t, `^r-[0-9a-f]{16}$`, got[3])
	assert.Equal(t, 2, r.Summary().DuplicateRows)
	assert.Equal(t, 4, r.Summary().Rows)
}

func TestKeysConflicts(t *testing.T) {
	t.Parallel()
	in := manifest.PikaFields{Image: img}.Input()
	dk := derivedKey(in)
	tests := []struct {
		name     string
		content  string
		wantKeys []string
		errs     []wantErr
	}{
		{
			name:     "duplicate id names the first line",
			content:  "id,image\na," + img + "\nb," + img + "\na," + img + "\n",
			wantKeys: []string{"a", "b"},
			errs:     []wantErr{{line: 4, field: "id", is: manifest.ErrDuplicateID, msg: `m.csv:4: field id: id "a" is already used on line 2 (ids are compared ignoring case)`}},
		},
		{
			name:     "ids differing in case clash",
			content:  "id,image\nClip-1," + img + "\nclip-1," + img + "\n",
			wantKeys: []string{"Clip-1"},
			errs:     []wantErr{{line: 3, field: "id", is: manifest.ErrDuplicateID}},
		},
		{
			name:     "id of an invalid row is still claimed",
			content:  "id,image,resolution\na," + img + ",1080\na," + img + ",720p\n",
			wantKeys: nil,
			errs: []wantErr{
				{line: 2, field: "resolution", is: manifest.ErrInvalidEnum},
				{line: 3, field: "id", is: manifest.ErrDuplicateID},
			},
		},
		{
			name:     "derived key equal to a later id",
			content:  "id,image\n," + img + "\n" + dk + "," + img + "\n",
			wantKeys: []string{dk},
			errs: []wantErr{{line: 3, field: "id", is: manifest.ErrDuplicateID,
				msg: `m.csv:3: field id: id "` + dk + `" is the key derived for the row on line 2, which has no id; choose another id`}},
		},
		{
			name:     "derived key equal to an earlier id, in any case",
			content:  "id,image\n" + strings.ToUpper(dk) + "," + img + "\n," + img + "\n," + img + "\n",
			wantKeys: []string{strings.ToUpper(dk)},
			errs: []wantErr{
				{line: 3, is: manifest.ErrDuplicateID},
				{line: 4, is: manifest.ErrDuplicateID},
			},
		},
		{
			name:     "numbered derived key equal to an id",
			content:  "id,image\n" + dk + "-2," + img + "\n," + img + "\n," + img + "\n",
			wantKeys: []string{dk + "-2", dk},
			errs:     []wantErr{{line: 4, is: manifest.ErrDuplicateID}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rows, errs := collect(t, "m.csv", tt.content)
			var keys []string
			for _, row := range rows {
				keys = append(keys, row.Key)
			}
			assert.Equal(t, tt.wantKeys, keys)
			require.Len(t, errs, len(tt.errs), "%v", errs)
			for i, want := range tt.errs {
				assert.Equal(t, want.line, errs[i].Line, "%v", errs[i])
				assert.Equal(t, want.field, errs[i].Field, "%v", errs[i])
				assert.ErrorIs(t, errs[i], want.is)
				if want.msg != "" {
					assert.Equal(t, want.msg, errs[i].Error())
				}
			}
		})
	}
}
