package sim

import (
	"net/http"
	"strings"
)

// Error codes RunComfy documents ("Error Codes"), carried in the error_code
// field of error answers. The docs do not say which HTTP status carries each
// one; the simulator uses the status the code starts with (400001 → 400),
// except for a bad token, whose status is Config.BadTokenStatus, and no
// balance, Config.BalanceStatus (402, as RunComfy's own nodes expect).
const (
	// CodeUnknownModel (InvalidResourceIdentifier): the model ID is wrong.
	CodeUnknownModel = 400001
	// CodeNoBalance (InsufficientResources): the account cannot pay.
	CodeNoBalance = 400002
	// CodeBadToken (UserAccountError): a missing, wrong, expired or revoked
	// token, or an inactive account.
	CodeBadToken = 400004
	// CodeOtherAccount (PermissionDeniedError): the request ID belongs to
	// another account.
	CodeOtherAccount = 403001
	// CodeNotFound (ResourceNotFound): an unknown, deleted or expired request
	// ID.
	CodeNotFound = 404001
	// CodeValidation: the input does not fit the model's schema. The docs
	// list it on their general error page, with no class name.
	CodeValidation = 422001
)

// codeNames are the documented names of the codes, sent as the detail of the
// message_detail shape.
var codeNames = map[int]string{
	CodeUnknownModel: "InvalidResourceIdentifier",
	CodeNoBalance:    "InsufficientResources",
	CodeBadToken:     "UserAccountError",
	CodeOtherAccount: "PermissionDeniedError",
	CodeNotFound:     "ResourceNotFound",
}

// apiError is an error answer of the API.
type apiError struct {
	status int    // HTTP status
	code   int    // error_code; 0 when the API has none for it (429, 5xx, a body that is not JSON)
	msg    string // human-readable message
}

// Bodies of the error shapes. Struct fields keep the key order fixed.
type (
	errorMessageBody struct {
		ErrorCode    int    `json:"error_code,omitempty"`
		ErrorMessage string `json:"error_message"`
	}
	messageDetailBody struct {
		ErrorCode int    `json:"error_code,omitempty"`
		Message   string `json:"message"`
		Detail    string `json:"detail"`
	}
	nestedBody struct {
		Error nestedError `json:"error"`
	}
	nestedError struct {
		Code    int    `json:"code,omitempty"`
		Message string `json:"message"`
	}
)

// shapes is the rotation of ShapeMixed.
var shapes = [...]string{ShapeErrorMessage, ShapeMessageDetail, ShapeNested}

// writeError writes e in the configured shape.
func (s *Server) writeError(w http.ResponseWriter, e apiError) {
	shape := s.cfg.ErrorShape
	if shape == ShapeMixed {
		shape = shapes[(s.errSeq.Add(1)-1)%uint64(len(shapes))]
	}
	var body any
	switch shape {
	case ShapeMessageDetail:
		detail := codeNames[e.code]
		if detail == "" {
			detail = http.StatusText(e.status)
		}
		body = messageDetailBody{ErrorCode: e.code, Message: e.msg, Detail: detail}
	case ShapeNested:
		body = nestedBody{Error: nestedError{Code: e.code, Message: e.msg}}
	default:
		body = errorMessageBody{ErrorCode: e.code, ErrorMessage: e.msg}
	}
	writeJSON(w, e.status, body)
}

// writeGatewayError answers as a reverse proxy that gave up on the API: an
// HTML page, no JSON, no error_code.
func writeGatewayError(w http.ResponseWriter, status int) {
	text := strings.ToLower(http.StatusText(status))
	page := "<html>\r\n<head><title>" + http.StatusText(status) + "</title></head>\r\n<body>\r\n<center><h1>" +
		http.StatusText(status) + "</h1></center>\r\n<hr><center>" + text + " (sim gateway)</center>\r\n</body>\r\n</html>\r\n"
	h := w.Header()
	h.Set("Content-Type", "text/html")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(page))
}
