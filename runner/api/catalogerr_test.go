package api

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestCatalogError(t *testing.T) {
	t.Parallel()
	err := CatalogError("pika/nope", fmt.Errorf("%w: HTTP 404", ErrModelNotFound))
	assert.ErrorIs(t, err, ErrUnknownModel)
	assert.NotErrorIs(t, err, ErrUnavailable)
	assert.EqualError(t, err, `model "pika/nope": model not in the catalog: HTTP 404 (pikabatch models --search finds a model's ID)`)

	err = CatalogError("", fmt.Errorf("x: %w", ErrNoCatalog))
	assert.ErrorIs(t, err, ErrUnavailable)
	assert.ErrorIs(t, err, ErrNoCatalog)

	other := errors.New("boom")
	assert.Same(t, other, CatalogError("", other))
}
