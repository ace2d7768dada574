package api

import (
	"errors"
	"fmt"
)

// CatalogError puts a failure of Models or Model in a command's terms: a
// model the catalog does not know (model, the ID asked for) is
// ErrUnknownModel, a mistake in what was typed, with a hint to search; a
// catalog that is absent is ErrUnavailable. Other errors are returned as
// they are.
func CatalogError(model string, err error) error {
	switch {
	case errors.Is(err, ErrModelNotFound):
		// Not %w: what the API said is kept in the message, but the
		// error is the user's, not the service's.
		return &unknownModel{fmt.Sprintf("model %q: %v (pikabatch models --search finds a model's ID)", model, err)}
	case errors.Is(err, ErrNoCatalog):
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}

// unknownModel is ErrUnknownModel with the catalog's words.
type unknownModel struct{ msg string }

func (e *unknownModel) Error() string        { return e.msg }
func (e *unknownModel) Is(target error) bool { return target == ErrUnknownModel }
