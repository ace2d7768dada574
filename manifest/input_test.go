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
			in:   manifest.PikaFields{Image: "https://img.example.com/a.png"}.Input(),
			// {"image":"https://img.example.com/a.png"}
			want: "4e42b764653dd5aadfadcc108daa2aec6cf29f50c7f1273d52786ffa91a614ba",
		},
		{
			name: "every field",
			in: manifest.PikaFields{Image: "https://img.example.com/a.png", PromptText: "a cat",
				Seed: ptr(int64(42)), Resolution: "720p", Duration: 10}.Input(),
			// {"duration":10,"image":"https://img.example.com/a.png","promptText":"a cat","resolution":"720p","seed":42}
			want: "63a5263bb7d78189b689dd13a1796f4a6f1a2cb11e5bf3fcf546fa57d719b9e8",
		},
		{
			name: "escaping",
			in: manifest.PikaFields{Image: `https://x/"q"\`,
				PromptText: "tab\tnl\ncr\rbs\bff\fctl\x01del\x7f<&> \u2028 é"}.Input(),
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
	img := "https://img.example.com/a.png"
	base := manifest.PikaFields{Image: img}.Input()
	variants := []manifest.Input{
		base,
		manifest.PikaFields{Image: img, Seed: ptr(int64(0))}.Input(), // seed 0 is set
		manifest.PikaFields{Image: img, Resolution: "1080p"}.Input(), // explicit default is a different body
		manifest.PikaFields{Image: img, PromptText: "x"}.Input(),
		manifest.PikaFields{Image: img, NegativePrompt: "x"}.Input(),
		manifest.PikaFields{Image: img, Duration: 5}.Input(),
		manifest.PikaFields{Image: img + "?"}.Input(),
		manifest.NewInput(manifest.Field{Name: "image", Value: img}, manifest.Field{Name: "duration", Value: "5"}), // a string is not the integer
		manifest.NewInput(manifest.Field{Name: "image", Value: img}, manifest.Field{Name: "duration", Value: 5.5}),
		manifest.NewInput(manifest.Field{Name: "image", Value: img}, manifest.Field{Name: "duration", Value: true}),
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
	assert.Equal(t, base.Hash(), manifest.PikaFields{Image: img}.Input().Hash(), "hash is deterministic")
}

func TestInputMarshalOmitsUnset(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   manifest.Input
		want string
	}{
		{"unset", manifest.PikaFields{Image: "https://x/a.png"}.Input(), `{"image":"https://x/a.png"}`},
		{"seed zero", manifest.PikaFields{Image: "https://x/a.png", Seed: ptr(int64(0))}.Input(), `{"image":"https://x/a.png","seed":0}`},
		{"all", manifest.PikaFields{Image: "https://x/a.png", PromptText: "p", NegativePrompt: "n", Seed: ptr(int64(-1)), Resolution: "720p", Duration: 10}.Input(),
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
