package token

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
)

// accessClaims are the claims of an access token (RFC 9068 §2.2 plus the
// service's own sid, org_id, email and roles).
type accessClaims struct {
	jwt.RegisteredClaims
	SessionID string   `json:"sid"`
	OrgID     string   `json:"org_id"`
	Email     string   `json:"email,omitempty"`
	Roles     []string `json:"roles"`
	Scope     string   `json:"scope,omitempty"`
}

// UnmarshalJSON is how golang-jwt's parser reads the claims: it refuses
// what parsers read differently (checkMembers: a claim named twice or in
// another case, a time that is not a JSON number), then reads claims in the
// flat shape the issuer writes in one pass (decodeFlat), leaving anything
// else to encoding/json. golang-jwt decodes claims before it checks the
// signature, whatever decodes them; this decoder is fuzzed against
// encoding/json (FuzzDecodeClaims), and buys what reflection costs: see
// docs/performance.md.
func (c *accessClaims) UnmarshalJSON(data []byte) error { return c.decode(data) }

// decode is UnmarshalJSON, callable directly.
func (c *accessClaims) decode(data []byte) error {
	if err := checkMembers(data, claimNames, timeClaims); err != nil {
		return err
	}
	if json.Valid(data) && c.decodeFlat(data) {
		return nil
	}
	*c = accessClaims{}
	type plain accessClaims // no methods: no recursion
	return json.Unmarshal(data, (*plain)(c))
}

// decodeFlat fills c from data, a valid JSON object whose members passed
// checkMembers, when every claim in it has the plain shape the issuer
// writes: strings without escapes, times as integers, aud and roles as a
// string or arrays of such strings. It then yields exactly what
// encoding/json would (FuzzDecodeClaims compares them), and reports false
// for anything else, leaving the decision to encoding/json.
func (c *accessClaims) decodeFlat(data []byte) bool {
	var out accessClaims
	i := skipSpace(data, skipSpace(data, 0)+1)
	for i < len(data) && data[i] == '"' {
		end := i + 1
		for end < len(data) && data[end] != '"' && data[end] != '\\' {
			end++
		}
		if end >= len(data) || data[end] != '"' {
			return false
		}
		name := data[i+1 : end]
		i = skipSpace(data, skipSpace(data, end+1)+1) // past the colon
		next, ok := skipValue(data, i)
		if !ok {
			return false
		}
		v := data[i:next]
		switch string(name) {
		case "iss":
			ok = plainString(v, &out.Issuer)
		case "sub":
			ok = plainString(v, &out.Subject)
		case "jti":
			ok = plainString(v, &out.ID)
		case "sid":
			ok = plainString(v, &out.SessionID)
		case "org_id":
			ok = plainString(v, &out.OrgID)
		case "email":
			ok = plainString(v, &out.Email)
		case "scope":
			ok = plainString(v, &out.Scope)
		case "exp":
			out.ExpiresAt, ok = numericDate(v)
		case "nbf":
			out.NotBefore, ok = numericDate(v)
		case "iat":
			out.IssuedAt, ok = numericDate(v)
		case "aud":
			var one string
			if plainString(v, &one) {
				out.Audience = jwt.ClaimStrings{one}
			} else if out.Audience, ok = plainStrings(v); ok && len(out.Audience) == 0 {
				out.Audience = nil // as jwt.ClaimStrings decodes []
			}
		case "roles":
			out.Roles, ok = plainStrings(v)
		}
		if !ok {
			return false
		}
		i = skipSpace(data, next)
		if i < len(data) && data[i] == ',' {
			i = skipSpace(data, i+1)
		}
	}
	*c = out
	return true
}

// plainString reads v when it is a JSON string that encoding/json would
// return byte for byte: no escape, no control character, valid UTF-8.
func plainString(v []byte, dst *string) bool {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return false
	}
	in := v[1 : len(v)-1]
	for _, b := range in {
		if b == '\\' || b < 0x20 {
			return false
		}
	}
	if !utf8.Valid(in) {
		return false
	}
	*dst = string(in)
	return true
}

// plainStrings reads v when it is an array of plain strings.
func plainStrings(v []byte) ([]string, bool) {
	if len(v) < 2 || v[0] != '[' {
		return nil, false
	}
	out := []string{}
	i := skipSpace(v, 1)
	for i < len(v) && v[i] != ']' {
		next, ok := skipValue(v, i)
		if !ok {
			return nil, false
		}
		var s string
		if !plainString(v[i:next], &s) {
			return nil, false
		}
		out = append(out, s)
		i = skipSpace(v, next)
		if i < len(v) && v[i] == ',' {
			i = skipSpace(v, i+1)
		}
	}
	return out, true
}

// numericDate reads a time claim: an integer of up to 15 digits directly
// (what jwt.NumericDate makes of it), anything else with jwt.NumericDate.
func numericDate(v []byte) (*jwt.NumericDate, bool) {
	if len(v) > 0 && len(v) <= 15 {
		n := int64(0)
		for _, b := range v {
			if b < '0' || b > '9' {
				n = -1
				break
			}
			n = n*10 + int64(b-'0')
		}
		if n >= 0 {
			return jwt.NewNumericDate(time.Unix(n, 0)), true
		}
	}
	d := new(jwt.NumericDate)
	if d.UnmarshalJSON(v) != nil {
		return nil, false
	}
	return d, true
}

// Validate adds the checks golang-jwt leaves to the application: the claims
// every access token of ours carries must be present, and times in range.
func (c *accessClaims) Validate() error {
	switch {
	case c.Subject == "":
		return missing("sub")
	case c.ID == "":
		return missing("jti")
	case c.IssuedAt == nil:
		return missing("iat")
	case c.SessionID == "":
		return missing("sid")
	case c.OrgID == "":
		return missing("org_id")
	}
	for _, d := range [...]*jwt.NumericDate{c.ExpiresAt, c.NotBefore, c.IssuedAt} {
		// golang-jwt turns a number too large for int64 seconds into the
		// most negative one: a far-future nbf or iat would read as long past.
		if d != nil && (d.Unix() < 0 || d.Unix() > maxNumericDate) {
			return fmt.Errorf("%w: a time claim is out of range", jwt.ErrTokenInvalidClaims)
		}
	}
	return nil
}

// maxNumericDate (in 2514) is far beyond any token's lifetime and far
// within int64 seconds.
const maxNumericDate = 1 << 34

func missing(claim string) error {
	return fmt.Errorf("%w: %s", jwt.ErrTokenRequiredClaimMissing, claim)
}

// claimNames are the JSON names of accessClaims' members; headerNames
// those of the header parameters read. timeClaims are the NumericDate claims.
var (
	claimNames  = []string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "sid", "org_id", "email", "roles", "scope"}
	headerNames = []string{"alg", "typ", "kid"}
	timeClaims  = []string{"exp", "nbf", "iat"}
)

// checkMembers checks the top-level JSON object in data, which golang-jwt
// has already decoded (its header into a map: exact names, the last copy
// winning; its claims into a struct: names in any case, the last copy
// winning), for what parsers read differently:
//
//   - no member is named twice, names that fold alike counting as the same:
//     parsers disagree on which copy wins;
//   - a member that fills one of names spells it exactly ("ISS" is refused):
//     a verifier that compares names exactly must read what ours reads;
//   - the members named in numeric hold JSON numbers (golang-jwt also reads
//     a time from a string holding a number; RFC 7519 §2 and stricter
//     verifiers want a number).
//
// It scans data once, without allocating, when every member name is plain
// ASCII; a name with an escape or another character goes to the slower
// checkMembersDecoded, which decodes every name as encoding/json does. The
// scan costs ~0.6 µs on an issued token's claims, checkMembersDecoded ~14 µs
// (BenchmarkCheckMembers), against ~23 µs for the RSA-2048 signature.
func checkMembers(data []byte, names, numeric []string) error {
	var spans [24][2]int // name spans in data; more members take the slow path
	n := 0
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return errors.New("not a JSON object")
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return nil
	}
	for {
		if i >= len(data) || data[i] != '"' {
			return errors.New("malformed JSON object")
		}
		start := i + 1
		end := start
		for end < len(data) && data[end] != '"' {
			if c := data[end]; c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
				return checkMembersDecoded(data, names, numeric)
			}
			end++
		}
		if end >= len(data) || n == len(spans) {
			return checkMembersDecoded(data, names, numeric)
		}
		name := data[start:end]
		for _, prev := range spans[:n] {
			if asciiEqualFold(data[prev[0]:prev[1]], name) {
				return fmt.Errorf("%q is named twice", name)
			}
		}
		for _, known := range names {
			if asciiEqualFold(name, known) && string(name) != known {
				return fmt.Errorf("%q stands for %q", name, known)
			}
		}
		spans[n] = [2]int{start, end}
		n++
		i = skipSpace(data, end+1)
		if i >= len(data) || data[i] != ':' {
			return errors.New("malformed JSON object")
		}
		i = skipSpace(data, i+1)
		if i < len(data) && isOneOf(name, numeric) && !isNumberStart(data[i]) {
			return fmt.Errorf("%s is not a number", name)
		}
		var ok bool
		if i, ok = skipValue(data, i); !ok {
			return errors.New("malformed JSON value")
		}
		i = skipSpace(data, i)
		if i < len(data) && data[i] == ',' {
			i = skipSpace(data, i+1)
			continue
		}
		if i < len(data) && data[i] == '}' {
			return nil
		}
		return errors.New("malformed JSON object")
	}
}

func skipSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
		i++
	}
	return i
}

// skipValue returns the index just past the JSON value starting at i: a
// string, an object or array (nested to any depth), or a number or literal.
func skipValue(data []byte, i int) (int, bool) {
	depth := 0
	for i < len(data) {
		switch c := data[i]; c {
		case '"':
			i++
			for i < len(data) && data[i] != '"' {
				if data[i] == '\\' {
					i++
				}
				i++
			}
			if i >= len(data) {
				return i, false
			}
			i++
		case '{', '[':
			depth++
			i++
		case '}', ']':
			if depth == 0 {
				return i, true
			}
			depth--
			i++
		case ',':
			if depth == 0 {
				return i, true
			}
			i++
		default:
			if depth == 0 && (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
				return i, true
			}
			i++
		}
		if depth == 0 && i > 0 && (data[i-1] == '"' || data[i-1] == '}' || data[i-1] == ']') {
			return i, true
		}
	}
	return i, depth == 0
}

func isNumberStart(c byte) bool { return c == '-' || '0' <= c && c <= '9' }

func isOneOf(name []byte, names []string) bool {
	for _, n := range names {
		if string(name) == n {
			return true
		}
	}
	return false
}

func asciiEqualFold[A, B []byte | string](a A, b B) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'a' <= x && x <= 'z' {
			x -= 'a' - 'A'
		}
		if 'a' <= y && y <= 'z' {
			y -= 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// foldName folds a member name the way encoding/json does when it matches
// names to struct fields, so that "ISS", "iss" and "ıss" fold alike.
func foldName(name string) string {
	return strings.Map(func(r rune) rune { return unicode.ToUpper(unicode.ToLower(r)) }, name)
}

// checkMembersDecoded is checkMembers for any member names: each one is
// decoded by encoding/json and folded as it folds them.
func checkMembersDecoded(data []byte, names, numeric []string) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return errors.New("not a JSON object")
	}
	seen := make(map[string]struct{}, 12)
	var value json.RawMessage
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		name, _ := tok.(string)
		folded := foldName(name)
		for _, known := range names {
			if folded == foldName(known) && name != known {
				return fmt.Errorf("%q stands for %q", name, known)
			}
		}
		if _, dup := seen[folded]; dup {
			return fmt.Errorf("%q is named twice", name)
		}
		seen[folded] = struct{}{}
		if err := dec.Decode(&value); err != nil {
			return err
		}
		if slices.Contains(numeric, name) && (len(value) == 0 || !isNumberStart(value[0])) {
			return fmt.Errorf("%s is not a number", name)
		}
	}
	return nil
}
