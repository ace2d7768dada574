package store

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestOrigin(t *testing.T) {
	t.Parallel()
	for base, want := range map[string]string{
		"https://model-api.runcomfy.net":          "https://model-api.runcomfy.net",
		"https://model-api.runcomfy.net/":         "https://model-api.runcomfy.net",
		"https://model-api.runcomfy.net/v1":       "https://model-api.runcomfy.net",
		"https://model-api.runcomfy.net/v1/":      "https://model-api.runcomfy.net",
		"HTTPS://Model-API.RunComfy.net:443/v1":   "https://model-api.runcomfy.net",
		"http://127.0.0.1:8787":                   "http://127.0.0.1:8787",
		"http://127.0.0.1:8787/v1":                "http://127.0.0.1:8787",
		"http://localhost:80":                     "http://localhost",
		"http://[::1]:8787/":                      "http://[::1]:8787",
		"https://proxy.example.com:8443/runcomfy": "https://proxy.example.com:8443",
	} {
		got, err := Origin(base)
		require.NoError(t, err, base)
		assert.Equal(t, want, got, base)
	}
	for _, bad := range []string{"", "model-api.runcomfy.net", "/v1", "://x"} {
		_, err := Origin(bad)
		assert.Error(t, err, bad)
	}
}

func TestBind(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := setup(t)
	sim := Binding{Origin: "http://127.0.0.1:8787", Model: "pika/pika-2-2/image-to-video"}

	adopted, err := f.store.Bind(ctx, sim)
	require.NoError(t, err)
	assert.Equal(t, sim, adopted, "recorded at first use")
	adopted, err = f.store.Bind(ctx, sim)
	require.NoError(t, err)
	assert.Zero(t, adopted, "nothing new to record")

	other := Binding{Origin: "https://model-api.runcomfy.net", Model: sim.Model}
	_, err = f.store.Bind(ctx, other)
	var be *BindingError
	require.ErrorAs(t, err, &be)
	assert.ErrorIs(t, err, ErrBinding)
	assert.Equal(t, sim, be.Recorded)
	assert.Contains(t, err.Error(), "http://127.0.0.1:8787", "names the recorded origin")
	assert.Contains(t, err.Error(), "https://model-api.runcomfy.net", "and the given one")
	assert.NotContains(t, err.Error(), "--", "the store names no command's flags")
	origin, model := be.Differs()
	assert.True(t, origin)
	assert.False(t, model)

	_, err = f.store.Bind(ctx, Binding{Origin: sim.Origin, Model: "other/model"})
	require.ErrorAs(t, err, &be)
	assert.Contains(t, err.Error(), "model pika/pika-2-2/image-to-video (this command: other/model)")
	origin, model = be.Differs()
	assert.False(t, origin)
	assert.True(t, model)

	_, err = f.store.Bind(ctx, Binding{Origin: sim.Origin})
	assert.NoError(t, err, "an empty field is not asked about")

	got, err := f.store.Binding(ctx)
	require.NoError(t, err)
	assert.Equal(t, sim, got, "a refused Bind records nothing")
}

func TestBindReadOnlyChecksWithoutRecording(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := setup(t)
	require.NoError(t, f.store.Close())
	ro, err := Open(f.path, Options{ReadOnly: true})
	require.NoError(t, err)
	defer ro.Close()
	adopted, err := ro.Bind(ctx, Binding{Origin: "http://127.0.0.1:1", Model: "m"})
	require.NoError(t, err)
	assert.Equal(t, "m", adopted.Model)
	got, err := ro.Binding(ctx)
	require.NoError(t, err)
	assert.Zero(t, got)
}
