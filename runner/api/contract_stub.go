package api

import "errors"

// Stand-ins for the API contract of COMMON.md, so that the runner's branch
// builds before the api branch lands; the lead drops this file on merge.
var (
	// ErrUnknownModel: error_code 400001, the model ID is unknown.
	ErrUnknownModel = errors.New("unknown model")
	// ErrPermissionDenied: error_code 403001, the request ID is another account's.
	ErrPermissionDenied = errors.New("permission denied")
)

// StatusUnknown is a status word outside the documented ones; Word holds it.
const StatusUnknown = "unknown"
