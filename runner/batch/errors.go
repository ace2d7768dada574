package batch

import (
	"errors"
	"fmt"

	"github.com/pikabatch/pikabatch/manifest"
)

// ConfigError is a setting no run can start with: a flag's value, a schema
// that keys rows otherwise than the batch's, a folder of another split.
// Nothing was sent when it is returned.
type ConfigError struct{ Msg string }

func (e *ConfigError) Error() string { return e.Msg }

// configf is a ConfigError with a formatted message.
func configf(format string, args ...any) error {
	return &ConfigError{Msg: fmt.Sprintf(format, args...)}
}

// ErrManifest marks a manifest that cannot be read at all.
var ErrManifest = errors.New("manifest")

// unreadableManifest marks err with ErrManifest without adding to its
// message, which already names the manifest.
type unreadableManifest struct{ err error }

func (u unreadableManifest) Error() string   { return u.err.Error() }
func (u unreadableManifest) Unwrap() []error { return []error{ErrManifest, u.err} }

// ManifestError sorts an error reading the manifest: a bad column mapping
// is a ConfigError, a row's or the file's validation error is returned as
// it is, and anything else marks the manifest unreadable (ErrManifest).
func ManifestError(err error) error {
	if errors.Is(err, manifest.ErrBadMapping) {
		return configf("--map: %v", err)
	}
	var ve *manifest.ValidationError
	var re *manifest.RowError
	if errors.As(err, &ve) || errors.As(err, &re) {
		return err
	}
	return unreadableManifest{err}
}

// errStop ends a ForEach early.
var errStop = errors.New("stop")
