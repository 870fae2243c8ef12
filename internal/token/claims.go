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
// another case, a time that is not a JSON number) and reads the claims, in
// one pass over them when they have the flat shape the issuer writes
// (decodeFlat), else with checkMembers and encoding/json. golang-jwt decodes
// claims before it checks the signature, whatever decodes them; this
// decoder is fuzzed against checkMembers and encoding/json
// (FuzzDecodeClaims), and buys what reflection costs: see
// docs/performance.md. data is valid JSON: encoding/json checks a whole
// document before it hands any of it to an Unmarshaler (json.Unmarshaler:
// "The input can be assumed to be a valid encoding of a JSON value"), so
// it is not scanned for validity again.
func (c *accessClaims) UnmarshalJSON(data []byte) error {
	if decided, err := c.decodeFlat(data); decided {
		return err
	}
	if err := checkMembers(data, claimNames, timeClaims); err != nil {
		return err
	}
	*c = accessClaims{}
	type plain accessClaims // no methods: no recursion
	return json.Unmarshal(data, (*plain)(c))
}

// decodeFlat is checkMembers and the decoding of the claims in one pass,
// for claims in the plain shape the issuer writes: member names in plain
// ASCII, strings without escapes, times as integers, aud and roles as a
// string or arrays of such strings. For such claims it decides: the error
// checkMembers would return, or c filled with exactly what encoding/json
// would (FuzzDecodeClaims compares both). For anything else it reports
// decided false, and leaves c alone. The strings it reads share one copy
// of data, and the times one allocation: a handful of allocations per
// token instead of one per claim.
func (c *accessClaims) decodeFlat(data []byte) (decided bool, err error) {
	var out accessClaims
	var dates *[3]jwt.NumericDate
	var spans [24][2]int // the names read so far, for checkMembers' rules
	n := 0
	text := string(data) // the claims' strings are slices of this one copy
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return false, nil
	}
	i = skipSpace(data, i+1)
	for i < len(data) && data[i] == '"' {
		start := i + 1
		end := start
		for end < len(data) && data[end] != '"' {
			if b := data[end]; b == '\\' || b < 0x20 || b >= utf8.RuneSelf {
				return false, nil
			}
			end++
		}
		if end >= len(data) || n == len(spans) {
			return false, nil
		}
		name := data[start:end]
		for _, prev := range spans[:n] {
			if asciiEqualFold(data[prev[0]:prev[1]], name) {
				return true, fmt.Errorf("%q is named twice", string(name))
			}
		}
		for _, known := range claimNames {
			if asciiEqualFold(name, known) && string(name) != known {
				return true, fmt.Errorf("%q stands for %q", string(name), known)
			}
		}
		spans[n] = [2]int{start, end}
		n++
		i = skipSpace(data, end+1)
		if i >= len(data) || data[i] != ':' {
			return false, nil
		}
		i = skipSpace(data, i+1)
		next, ok := skipValue(data, i)
		if !ok || next == i {
			return false, nil
		}
		v := value{text: text, start: i, end: next}
		switch string(name) {
		case "iss":
			out.Issuer, ok = v.plainString()
		case "sub":
			out.Subject, ok = v.plainString()
		case "jti":
			out.ID, ok = v.plainString()
		case "sid":
			out.SessionID, ok = v.plainString()
		case "org_id":
			out.OrgID, ok = v.plainString()
		case "email":
			out.Email, ok = v.plainString()
		case "scope":
			out.Scope, ok = v.plainString()
		case "exp", "nbf", "iat":
			if !isNumberStart(data[i]) {
				return true, fmt.Errorf("%s is not a number", string(name))
			}
			if dates == nil {
				dates = new([3]jwt.NumericDate)
			}
			var d *jwt.NumericDate
			switch name[0] {
			case 'e':
				d, out.ExpiresAt = &dates[0], &dates[0]
			case 'n':
				d, out.NotBefore = &dates[1], &dates[1]
			default:
				d, out.IssuedAt = &dates[2], &dates[2]
			}
			ok = v.numericDate(d)
		case "aud":
			if one, plain := v.plainString(); plain {
				out.Audience = jwt.ClaimStrings{one}
			} else if out.Audience, ok = v.plainStrings(); ok && len(out.Audience) == 0 {
				out.Audience = nil // as jwt.ClaimStrings decodes []
			}
		case "roles":
			out.Roles, ok = v.plainStrings()
		}
		if !ok {
			return false, nil
		}
		i = skipSpace(data, next)
		if i < len(data) && data[i] == ',' {
			i = skipSpace(data, i+1)
		}
	}
	if i >= len(data) || data[i] != '}' {
		return false, nil
	}
	*c = out
	return true, nil
}

// value is the JSON value text[start:end].
type value struct {
	text       string
	start, end int
}

// plainString reads v when it is a JSON string that encoding/json would
// return byte for byte: no escape, no control character, valid UTF-8.
func (v value) plainString() (string, bool) {
	if v.end-v.start < 2 || v.text[v.start] != '"' || v.text[v.end-1] != '"' {
		return "", false
	}
	in := v.text[v.start+1 : v.end-1]
	for i := 0; i < len(in); i++ {
		if b := in[i]; b == '\\' || b < 0x20 {
			return "", false
		}
	}
	if !utf8.ValidString(in) {
		return "", false
	}
	return in, true
}

// plainStrings reads v when it is an array of plain strings.
func (v value) plainStrings() ([]string, bool) {
	if v.end-v.start < 2 || v.text[v.start] != '[' {
		return nil, false
	}
	arr := v.text[:v.end]
	out := []string{}
	i := skipSpace(arr, v.start+1)
	for i < len(arr) && arr[i] != ']' {
		next, ok := skipValue(arr, i)
		if !ok {
			return nil, false
		}
		s, ok := value{text: v.text, start: i, end: next}.plainString()
		if !ok {
			return nil, false
		}
		out = append(out, s)
		i = skipSpace(arr, next)
		if i < len(arr) && arr[i] == ',' {
			i = skipSpace(arr, i+1)
		}
	}
	return out, true
}

// numericDate reads a time claim into d: an integer of up to 15 digits
// directly (what jwt.NumericDate makes of it), anything else with
// jwt.NumericDate.
func (v value) numericDate(d *jwt.NumericDate) bool {
	in := v.text[v.start:v.end]
	if len(in) > 0 && len(in) <= 15 {
		n := int64(0)
		for i := 0; i < len(in); i++ {
			b := in[i]
			if b < '0' || b > '9' {
				n = -1
				break
			}
			n = n*10 + int64(b-'0')
		}
		if n >= 0 {
			d.Time = time.Unix(n, 0).Truncate(jwt.TimePrecision) // as jwt.NewNumericDate
			return true
		}
	}
	return d.UnmarshalJSON([]byte(in)) == nil
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
				return fmt.Errorf("%q is named twice", string(name))
			}
		}
		for _, known := range names {
			if asciiEqualFold(name, known) && string(name) != known {
				return fmt.Errorf("%q stands for %q", string(name), known)
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
			return fmt.Errorf("%s is not a number", string(name))
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

func skipSpace[T []byte | string](data T, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
		i++
	}
	return i
}

// skipValue returns the index just past the JSON value starting at i: a
// string, an object or array (nested to any depth), or a number or literal.
func skipValue[T []byte | string](data T, i int) (int, bool) {
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
	// A copy, so that data does not escape and a caller's buffer can stay
	// on its stack: this path is rare and slow anyway.
	dec := json.NewDecoder(bytes.NewReader(bytes.Clone(data)))
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
