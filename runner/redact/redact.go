// Package redact owns what of a secret may be shown in logs, errors, the
// results index, exports and the owner file of a live run. It imports no
// project package, so that every layer, the manifest leaf included, hides
// secrets the same way.
//
// An image URL may carry a password (https://user:pass@host/…) or a
// signature in its query: URL hides those and keeps the rest, so that the
// user still recognises the URL, and URLsIn and JSONStrings apply it to free
// text and to JSON. A result URL is pre-signed, its whole query a
// credential: ResultURL drops it. A webhook URL's path is itself the
// secret: WithoutURL drops it from an error altogether. Only the submit
// body that goes to the API keeps the raw value. Other secrets, such as
// the API token, are replaced wherever they appear by Secrets.
package redact

import (
	"strings"
)

// Mark replaces a secret in a URL shown to the user.
const Mark = "REDACTED"

// Hidden replaces a secret that is not part of a URL: a token, a flag's
// value.
const Hidden = "[redacted]"

// Secrets returns s with every occurrence of each of secrets replaced by
// Hidden.
func Secrets(s string, secrets []string) string {
	for _, secret := range secrets {
		if secret != "" {
			s = strings.ReplaceAll(s, secret, Hidden)
		}
	}
	return s
}

// Args returns a command line with the values of the named flags replaced
// by Hidden, in both forms: "--flag value" and "--flag=value" (with one
// dash or two).
func Args(args []string, flags ...string) string {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		name := strings.TrimLeft(a, "-")
		redacted := false
		for _, f := range flags {
			switch {
			case len(name) < len(a) && name == f && i+1 < len(args):
				out = append(out, a, Hidden)
				i++
				redacted = true
			case len(name) < len(a) && strings.HasPrefix(name, f+"="):
				out = append(out, a[:len(a)-len(name)]+f+"="+Hidden)
				redacted = true
			}
		}
		if !redacted {
			out = append(out, a)
		}
	}
	return strings.Join(out, " ")
}
