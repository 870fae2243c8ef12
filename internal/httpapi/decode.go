package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
)

// decodeJSON reads the request body strictly into dst: application/json
// only, within the size limit, one object, no unknown fields. When optional
// is true an empty body leaves dst untouched and reports false.
func (s *Server) decodeJSON(c *gin.Context, dst any, optional bool) (bool, error) {
	req := c.Request
	if req.ContentLength == 0 && optional {
		return false, nil
	}
	if req.ContentLength > s.Config.MaxBodyBytes {
		return false, tooLarge(s.Config.MaxBodyBytes)
	}
	mt, _, err := mime.ParseMediaType(req.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return false, newProblem(http.StatusUnsupportedMediaType, "unsupported_media_type", "Send the body as application/json.")
	}
	body := http.MaxBytesReader(c.Writer, req.Body, s.Config.MaxBodyBytes)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		var maxErr *http.MaxBytesError
		var syntaxErr *json.SyntaxError
		var typeErr *json.UnmarshalTypeError
		switch {
		case errors.As(err, &maxErr):
			return false, tooLarge(s.Config.MaxBodyBytes)
		case errors.Is(err, io.EOF):
			if optional {
				return false, nil
			}
			return false, invalidJSON("The request body is empty; send a JSON object.")
		case errors.As(err, &syntaxErr):
			return false, invalidJSON(fmt.Sprintf("The body is not valid JSON (at byte %d).", syntaxErr.Offset))
		case errors.As(err, &typeErr):
			return false, invalidJSON(fmt.Sprintf("The field %q must be a %s.", typeErr.Field, typeErr.Type))
		default:
			// Unknown fields, truncated input: the message names only the field.
			return false, invalidJSON("The body is not the expected JSON object: " + safeJSONError(err))
		}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var maxErr *http.MaxBytesError
		if errors.As(err, &maxErr) {
			return false, tooLarge(s.Config.MaxBodyBytes)
		}
		return false, invalidJSON("The body must hold exactly one JSON object.")
	}
	return true, nil
}

func tooLarge(limit int64) error {
	return newProblem(http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("The body exceeds %d bytes.", limit))
}

// safeJSONError keeps decoder messages short and printable; they can echo a
// field name sent by the client, never a value.
func safeJSONError(err error) string {
	msg := err.Error()
	if len(msg) > 120 || !utf8.ValidString(msg) {
		return "unexpected content"
	}
	return msg
}

// requireString checks a required string field's presence and length.
func requireString(field, value string, maxLen int) error {
	switch {
	case value == "":
		return invalidRequest(fmt.Sprintf("The field %q is required.", field))
	case len(value) > maxLen:
		return invalidRequest(fmt.Sprintf("The field %q is longer than %d bytes.", field, maxLen))
	case !utf8.ValidString(value):
		return invalidRequest(fmt.Sprintf("The field %q is not valid UTF-8.", field))
	}
	return nil
}
