package httpserver

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/camvault/camvault/internal/service"
)

// Status maps an error kind to its HTTP status. It is the one place where
// that mapping lives.
func Status(k service.Kind) int {
	switch k {
	case service.KindInvalid:
		return http.StatusBadRequest
	case service.KindUnauthenticated, service.KindMFARequired:
		return http.StatusUnauthorized
	case service.KindNotFound:
		return http.StatusNotFound
	case service.KindForbidden:
		return http.StatusForbidden
	case service.KindConflict:
		return http.StatusConflict
	case service.KindThrottled:
		return http.StatusTooManyRequests
	case service.KindUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// WriteError answers with {"error":{"code","message"}}. Only the error's
// client-safe message is sent; internal causes are logged.
func WriteError(w http.ResponseWriter, r *http.Request, err error, log *slog.Logger) {
	var e *service.Error
	if !errors.As(err, &e) {
		e = &service.Error{Kind: service.KindInternal, Code: "internal", Message: "internal error", Err: err}
	}
	status := Status(e.Kind)
	if e.Code == "too_large" {
		status = http.StatusRequestEntityTooLarge
	}
	if status == http.StatusInternalServerError && log != nil {
		log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", e.Err)
	}
	if e.Kind == service.KindThrottled && e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(e.RetryAfter.Seconds())+1))
	}
	WriteJSON(w, status, errorBody{Error: errorDetail{Code: e.Code, Message: e.Message}})
}

// WriteJSON answers with v as JSON.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(true)
	_ = enc.Encode(v)
}

// DecodeJSON reads one JSON object from the request body into v, refusing
// bodies over MaxBodyBytes (413), unknown fields, trailing data and
// malformed JSON (400). The error it returns is a *service.Error ready for
// WriteError.
func DecodeJSON(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return &service.Error{Kind: service.KindInvalid, Code: "bad_content_type", Message: "send application/json"}
	}
	return decodeJSON(r.Body, v)
}

func decodeJSON(body io.Reader, v any) error {
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooLarge *http.MaxBytesError
		var unmarshalType *json.UnmarshalTypeError
		switch {
		case errors.As(err, &tooLarge):
			return &service.Error{Kind: service.KindInvalid, Code: "too_large", Message: "request body too large"}
		case errors.Is(err, io.EOF):
			return &service.Error{Kind: service.KindInvalid, Code: "bad_json", Message: "request body is empty"}
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return &service.Error{Kind: service.KindInvalid, Code: "unknown_field",
				Message: "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")}
		case errors.As(err, &unmarshalType):
			return &service.Error{Kind: service.KindInvalid, Code: "bad_json", Message: "field " + unmarshalType.Field + " has the wrong type"}
		}
		return &service.Error{Kind: service.KindInvalid, Code: "bad_json", Message: "request body is not valid JSON"}
	}
	if dec.More() {
		return &service.Error{Kind: service.KindInvalid, Code: "bad_json", Message: "request body has data after the JSON object"}
	}
	var extra json.RawMessage
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return &service.Error{Kind: service.KindInvalid, Code: "bad_json", Message: "request body has data after the JSON object"}
	}
	return nil
}
