package store

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
)

// A batch folder belongs to the API and the model it was rendered with: a
// request ID means something only to the API that issued it, and a row
// rendered by one model is not done for another. A state file rendered
// against the simulator once let a run against the real API treat every
// row as finished. The package doc's "Binding" says how it is kept.

// Meta keys of the binding.
const (
	metaOrigin = "api_origin"
	metaModel  = "model"
)

// ErrBinding is matched by a *BindingError.
var ErrBinding = errors.New("state file belongs to another API or model")

// Binding is the API origin and model a state file's jobs were sent to.
// An empty field is not recorded (yet), or not asked about.
type Binding struct {
	Origin string `json:"api_origin,omitempty"` // scheme://host[:port], see Origin
	Model  string `json:"model,omitempty"`
}

// BindingError is returned by Bind when a command would send a state
// file's jobs to another API origin or model than the ones it recorded.
type BindingError struct {
	Path     string
	Recorded Binding
	Given    Binding
}

// Error names both bindings. What to do about it is the caller's to say
// (cmd names its flags); Differs tells what differs.
func (e *BindingError) Error() string {
	var diff []string
	origin, model := e.Differs()
	if origin {
		diff = append(diff, fmt.Sprintf("API %s (this command: %s)", e.Recorded.Origin, e.Given.Origin))
	}
	if model {
		diff = append(diff, fmt.Sprintf("model %s (this command: %s)", e.Recorded.Model, e.Given.Model))
	}
	return fmt.Sprintf("state file %s belongs to %s; nothing was sent", e.Path, strings.Join(diff, " and "))
}

// Differs reports which of the API origin and the model differ from the
// recorded ones.
func (e *BindingError) Differs() (origin, model bool) {
	origin = e.Given.Origin != "" && e.Recorded.Origin != "" && e.Given.Origin != e.Recorded.Origin
	model = e.Given.Model != "" && e.Recorded.Model != "" && e.Given.Model != e.Recorded.Model
	return origin, model
}

// Unwrap returns ErrBinding.
func (e *BindingError) Unwrap() error { return ErrBinding }

// Origin returns the origin of an API base URL, the part a state file is
// bound to: lower-case scheme and host, and the port unless it is the
// scheme's default. The path is left out, so a base given with or without
// /v1 or a trailing slash is the same API.
func Origin(base string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(base))
	if err != nil {
		return "", fmt.Errorf("API base %q: %w", base, err)
	}
	if u.Scheme == "" || u.Host == "" {
		return "", fmt.Errorf("API base %q: not an absolute URL", base)
	}
	scheme, host, port := strings.ToLower(u.Scheme), strings.ToLower(u.Hostname()), u.Port()
	if (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
		port = ""
	}
	if port != "" {
		host = net.JoinHostPort(host, port)
	} else if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return scheme + "://" + host, nil
}

// Binding returns the API origin and model recorded in the state file;
// fields never recorded are empty.
func (s *Store) Binding(ctx context.Context) (Binding, error) {
	origin, err := s.Meta(ctx, metaOrigin)
	if err != nil {
		return Binding{}, err
	}
	model, err := s.Meta(ctx, metaModel)
	if err != nil {
		return Binding{}, err
	}
	return Binding{Origin: origin, Model: model}, nil
}

// Bind checks that the state file may be used with b before anything is
// sent: a field recorded with another value is a *BindingError, and an
// empty field of b is not checked. A field not recorded yet is recorded
// now (unless the store is read-only), and returned in adopted: the first
// use of a new state file, or of one written before bindings were kept.
func (s *Store) Bind(ctx context.Context, b Binding) (adopted Binding, err error) {
	rec, err := s.Binding(ctx)
	if err != nil {
		return Binding{}, err
	}
	if (b.Origin != "" && rec.Origin != "" && b.Origin != rec.Origin) ||
		(b.Model != "" && rec.Model != "" && b.Model != rec.Model) {
		return Binding{}, &BindingError{Path: s.path, Recorded: rec, Given: b}
	}
	if b.Origin != "" && rec.Origin == "" {
		adopted.Origin = b.Origin
	}
	if b.Model != "" && rec.Model == "" {
		adopted.Model = b.Model
	}
	if s.readOnly || adopted == (Binding{}) {
		return adopted, nil
	}
	if adopted.Origin != "" {
		if err := s.SetMeta(ctx, metaOrigin, adopted.Origin); err != nil {
			return Binding{}, err
		}
	}
	if adopted.Model != "" {
		if err := s.SetMeta(ctx, metaModel, adopted.Model); err != nil {
			return Binding{}, err
		}
	}
	return adopted, nil
}
