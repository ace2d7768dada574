package manifest_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pikabatch/pikabatch/manifest"
)

func ptr[T any](v T) *T { return &v }

// The hashes are fixed: they name jobs in checkpoints, so they must not
// change between versions. They were computed with sha256sum over the
// canonical encoding documented on Input.Hash.
func TestInputHash(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   manifest.Input
		want string
	}{
		{
			name: "image only",
			in:   manifest.Input{Image: "https://img.example.com/a.png"},
			// {"image":"https://img.example.com/a.png"}
			want: "4e42b764653dd5aadfadcc108daa2aec6cf29f50c7f1273d52786ffa91a614ba",
		},
		{
			name: "every field",
			in: manifest.Input{Image: "https://img.example.com/a.png", PromptText: "a cat",
				Seed: ptr(int64(42)), Resolution: "720p", Duration: 10},
			// {"duration":10,"image":"https://img.example.com/a.png","promptText":"a cat","resolution":"720p","seed":42}
			want: "63a5263bb7d78189b689dd13a1796f4a6f1a2cb11e5bf3fcf546fa57d719b9e8",
		},
		{
			name: "escaping",
			in: manifest.Input{Image: `https://x/"q"\`,
				PromptText: "tab\tnl\ncr\rbs\bff\fctl\x01del\x7f<&> \u2028 é"},
			// {"image":"https://x/\"q\"\\","promptText":"tab\tnl\ncr\rbs\bff\fctl\u0001del<DEL><&> <U+2028> é"}
			want: "28dbdbff01c6bbbf1dba70f9a5e473543f2fd8ea3119b7795315d9b16abc25a5",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, tt.in.Hash())
		})
	}
}

func TestInputHashDistinguishes(t *testing.T) {
	t.Parallel()
	base := manifest.Input{Image: "https://img.example.com/a.png"}
	variants := []manifest.Input{
		base,
		{Image: base.Image, Seed: ptr(int64(0))}, // seed 0 is set
		{Image: base.Image, Resolution: "1080p"}, // explicit default is a different body
		{Image: base.Image, PromptText: "x"},
		{Image: base.Image, NegativePrompt: "x"},
		{Image: base.Image, Duration: 5},
		{Image: base.Image + "?"},
	}
	seen := map[string]int{}
	for i, in := range variants {
		h := in.Hash()
		require.Len(t, h, 64)
		if j, ok := seen[h]; ok {
			t.Errorf("variants %d and %d hash alike", j, i)
		}
		seen[h] = i
	}
	assert.Equal(t, base.Hash(), manifest.Input{Image: base.Image}.Hash(), "hash is deterministic")
}

func TestInputMarshalOmitsUnset(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   manifest.Input
		want string
	}{
		{"unset", manifest.Input{Image: "https://x/a.png"}, `{"image":"https://x/a.png"}`},
		{"seed zero", manifest.Input{Image: "https://x/a.png", Seed: ptr(int64(0))}, `{"image":"https://x/a.png","seed":0}`},
		{"all", manifest.Input{Image: "https://x/a.png", PromptText: "p", NegativePrompt: "n", Seed: ptr(int64(-1)), Resolution: "720p", Duration: 10},
			`{"image":"https://x/a.png","promptText":"p","negativePrompt":"n","seed":-1,"resolution":"720p","duration":10}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b, err := json.Marshal(tt.in)
			require.NoError(t, err)
			assert.JSONEq(t, tt.want, string(b))
			assert.Equal(t, tt.want, string(b))
		})
	}
}
