package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/revenue-api/revenue-api/internal/apperr"
)

// decodeJSON reads the request body strictly into dst: application/json
// in UTF-8 only, within the size limit, one object, each member once and
// named exactly as dst names it. When optional is true an empty body
// leaves dst untouched and reports false.
func (s *Server) decodeJSON(c *gin.Context, dst any, optional bool) (bool, error) {
	req := c.Request
	if req.ContentLength == 0 && optional {
		return false, nil
	}
	if req.ContentLength == 0 && req.Header.Get("Content-Type") == "" {
		return false, invalidJSON("The request body is empty; send a JSON object.")
	}
	if req.ContentLength > s.Config.MaxBodyBytes {
		return false, tooLarge(s.Config.MaxBodyBytes)
	}
	mt, params, err := mime.ParseMediaType(req.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return false, apperr.New(apperr.CodeUnsupportedMediaType, "Send the body as application/json.")
	}
	if err := identityEncoding(req); err != nil {
		return false, err
	}
	// RFC 8259 §8.1: JSON is UTF-8. A body declared in another charset is
	// refused rather than read as UTF-8 and misunderstood.
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return false, apperr.New(apperr.CodeUnsupportedMediaType,
			"Send the body as application/json in UTF-8, not charset "+apperr.Quote(cs)+".")
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, req.Body, s.Config.MaxBodyBytes))
	var maxErr *http.MaxBytesError
	if errors.As(err, &maxErr) {
		return false, tooLarge(s.Config.MaxBodyBytes)
	} else if err != nil {
		return false, invalidJSON("The body could not be read.")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(dst); err != nil {
		var syntaxErr *json.SyntaxError
		var typeErr *json.UnmarshalTypeError
		switch {
		case errors.Is(err, io.EOF):
			if optional {
				return false, nil
			}
			return false, invalidJSON("The request body is empty; send a JSON object.")
		case errors.As(err, &syntaxErr):
			return false, invalidJSON(fmt.Sprintf("The body is not valid JSON (at byte %d).", syntaxErr.Offset))
		case errors.As(err, &typeErr):
			if typeErr.Field == "" {
				return false, invalidJSON("The body must be a JSON object.")
			}
			return false, invalidJSON(fmt.Sprintf("The field %s must be %s.", apperr.Quote(typeErr.Field), jsonKind(typeErr.Type)))
		default:
			// Truncated input and the like.
			return false, invalidJSON("The body is not the expected JSON object: " + safeJSONError(err))
		}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return false, invalidJSON("The body must hold exactly one JSON object.")
	}
	// The body is one valid JSON value: the walk meets no syntax error.
	if err := checkMembers(json.NewDecoder(bytes.NewReader(body)), reflect.TypeOf(dst)); err != nil {
		return false, err
	}
	return true, nil
}

// checkMembers reads the next JSON value from dec and refuses an object
// with a member name twice (RFC 8259 §4 leaves its meaning open: parsers
// keep the first or the last, so two of them could read different
// requests) or a member name that is not, byte for byte, the json name of
// a field of t (encoding/json would match "EMAIL" to "email"). It follows
// t into nested structs, slices and maps.
func checkMembers(dec *json.Decoder, t reflect.Type) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var elem reflect.Type // of an array's items or a map's values
	if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array || t.Kind() == reflect.Map) {
		elem = t.Elem()
	}
	switch tok {
	case json.Delim('{'):
		seen := map[string]bool{}
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return err
			}
			name := tok.(string)
			if seen[name] {
				return apperr.New(apperr.CodeDuplicateMember, "The member "+apperr.Quote(name)+" appears more than once.")
			}
			seen[name] = true
			field := elem
			if t != nil && t.Kind() == reflect.Struct {
				var ok bool
				if field, ok = jsonField(t, name); !ok {
					return apperr.New(apperr.CodeUnknownMember, "Unknown member "+apperr.Quote(name)+" (names are case-sensitive).")
				}
			}
			if err := checkMembers(dec, field); err != nil {
				return err
			}
		}
		_, err = dec.Token()
	case json.Delim('['):
		for dec.More() {
			if err := checkMembers(dec, elem); err != nil {
				return err
			}
		}
		_, err = dec.Token()
	}
	return err
}

// jsonField returns the type of struct t's field that encoding/json names
// name exactly.
func jsonField(t reflect.Type, name string) (reflect.Type, bool) {
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if tag == "-" {
			continue
		}
		if tag == "" {
			tag = f.Name
		}
		if tag == name {
			return f.Type, true
		}
	}
	return nil, false
}

func tooLarge(limit int64) error {
	return apperr.New(apperr.CodeBodyTooLarge, fmt.Sprintf("The body exceeds %d bytes.", limit))
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

// jsonKind names, for a client, the JSON value a Go type takes (never the
// Go type itself, whose name is internal).
func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number within range"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	}
	return "an object"
}

// identityEncoding refuses a compressed request body: no route takes one,
// and reading gzip bytes as JSON or CSV would report mistakes the client
// did not make (RFC 9110 §8.4.1: 415 for an unsupported content coding).
func identityEncoding(req *http.Request) error {
	for _, v := range req.Header.Values("Content-Encoding") {
		for _, coding := range strings.Split(v, ",") {
			if c := strings.TrimSpace(coding); c != "" && !strings.EqualFold(c, "identity") {
				return apperr.New(apperr.CodeUnsupportedMediaType,
					"Send the body uncompressed: Content-Encoding "+apperr.Quote(c)+" is not supported.")
			}
		}
	}
	return nil
}
