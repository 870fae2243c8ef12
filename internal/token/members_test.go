package token

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// memberCases are JSON objects the member check must judge right, whichever
// path (the scan of plain names, or the decoding of escaped ones) it takes.
var memberCases = []struct {
	json string
	ok   bool
}{
	{`{}`, true},
	{` { "iss" : "a" , "exp" : 1 } `, true},
	{`{"iss":"a","nested":{"iss":"b","exp":"x"},"list":[{"exp":"y"},"]",{"}":1}]}`, true},
	{`{"s":"a \" quote, a } brace and a ] bracket","exp":1e9}`, true},
	{`{"iss":"a","iss":"b"}`, false},
	{`{"iss":"a","ISS":"b"}`, false},
	{`{"ISS":"a"}`, false},
	{`{"Iss":"a"}`, false},
	{`{"foo":1,"FOO":2}`, false},
	{`{"exp":"1700000000"}`, false},
	{`{"nbf":true}`, false},
	{`{"iat":null}`, false},
	{`{"exp":-1}`, true},
	{`{"\u0069ss":"a","iss":"b"}`, false},
	{`{"\u0069ss":"a"}`, true}, // spelt exactly once decoded
	{`{"ıss":"a"}`, false},     // dotless i folds to I
	{`{"ſub":"a"}`, false},     // long s folds to S
	{`{"s\u0075b":"a","SUB":"b"}`, false},
	{`{"\u212aid":"x"}`, true}, // Kelvin sign: not a claim name here
	{`{"exp":1,"exp":1}`, false},
	{`[]`, false},
	{`"iss"`, false},
	{`null`, false},
}

func TestCheckMembers(t *testing.T) {
	for _, c := range memberCases {
		if err := checkMembers([]byte(c.json), claimNames, timeClaims); (err == nil) != c.ok {
			t.Errorf("checkMembers(%s) = %v, want ok=%v", c.json, err, c.ok)
		}
		if err := checkMembersDecoded([]byte(c.json), claimNames, timeClaims); (err == nil) != c.ok {
			t.Errorf("checkMembersDecoded(%s) = %v, want ok=%v", c.json, err, c.ok)
		}
		checkReadsAlike(t, c.json, claimNames, timeClaims)
		checkReadsAlike(t, c.json, headerNames, nil)
	}
	for _, header := range []string{
		`{"alg":"RS256","typ":"at+jwt","kid":"k","KID":"other"}`,
		`{"alg":"none","typ":"at+jwt","kid":"k","alg":"RS256"}`,
		`{"alg":"RS256","typ":"at+jwt","\u212aid":"k"}`, // Kelvin sign: encoding/json reads it as kid
	} {
		if checkMembers([]byte(header), headerNames, nil) == nil || checkMembersDecoded([]byte(header), headerNames, nil) == nil {
			t.Errorf("checkMembers(%s) passed, want it refused", header)
		}
	}
}

// FuzzCheckMembers: on any valid JSON, the one-pass scan of plain names
// judges as encoding/json's own tokenizer does; and whatever JSON object
// checkMembers lets through reads alike to an exact reader (names compared
// byte for byte, first or last copy) and to encoding/json's struct decoding
// (names in any case, last copy), for the header's names and the claims'
// names: no parser differential is left.
func FuzzCheckMembers(f *testing.F) {
	for _, c := range memberCases {
		f.Add(c.json)
	}
	f.Fuzz(func(t *testing.T, data string) {
		if json.Valid([]byte(data)) {
			fast := checkMembers([]byte(data), claimNames, timeClaims)
			slow := checkMembersDecoded([]byte(data), claimNames, timeClaims)
			if (fast == nil) != (slow == nil) {
				t.Fatalf("%s: scan says %v, decoding says %v", data, fast, slow)
			}
		}
		checkReadsAlike(t, data, claimNames, timeClaims)
		checkReadsAlike(t, data, headerNames, nil)
	})
}

// checkReadsAlike fails t when checkMembers accepts data while two readings
// of it differ.
func checkReadsAlike(t *testing.T, data string, names, numeric []string) {
	t.Helper()
	if !json.Valid([]byte(data)) || checkMembers([]byte(data), names, numeric) != nil {
		return
	}
	var exact map[string]json.RawMessage // last copy wins
	if err := json.Unmarshal([]byte(data), &exact); err != nil {
		t.Fatalf("%s: accepted, but it is not a JSON object: %v", data, err)
	}
	dec := json.NewDecoder(strings.NewReader(data))
	_, _ = dec.Token()
	seen := map[string]bool{}
	for dec.More() {
		tok, _ := dec.Token()
		name, _ := tok.(string)
		if seen[name] {
			t.Fatalf("%s: accepted, but it names %q twice", data, name)
		}
		seen[name] = true
		var skip json.RawMessage
		_ = dec.Decode(&skip)
	}

	// A struct with one field per name, as golang-jwt decodes claims.
	fields := make([]reflect.StructField, len(names))
	for i, name := range names {
		fields[i] = reflect.StructField{Name: fmt.Sprintf("F%d", i), Type: reflect.TypeFor[json.RawMessage](),
			Tag: reflect.StructTag(`json:"` + name + `"`)}
	}
	st := reflect.New(reflect.StructOf(fields))
	if err := json.Unmarshal([]byte(data), st.Interface()); err != nil {
		t.Fatalf("%s: does not decode into a struct: %v", data, err)
	}
	for i, name := range names {
		if got := st.Elem().Field(i).Interface().(json.RawMessage); !bytes.Equal(got, exact[name]) {
			t.Fatalf("%s: %s reads %s to encoding/json's struct decoding, %s to an exact reader", data, name, got, exact[name])
		}
	}
	for _, name := range numeric {
		if v, ok := exact[name]; ok {
			var n json.Number
			if len(v) == 0 || v[0] == '"' || json.Unmarshal(v, &n) != nil {
				t.Fatalf("%s: accepted %s %s, which is not a JSON number", data, name, v)
			}
		}
	}
}

// claimsCases are payloads for FuzzDecodeClaims.
var claimsCases = []string{
	`{"iss":"https://issuer.example","sub":"0b6c3f0e","aud":["revenue-api"],"exp":1795452576,"nbf":1795451676,"iat":1795451676,"jti":"j1","sid":"s1","org_id":"o1","email":"alice@example.com","roles":["finance"],"scope":"revenue:read"}`,
	`{"aud":"revenue-api","roles":[],"exp":1795452576.5,"iat":17954515e2}`,
	`{"aud":[],"roles":["a","b"],"email":"é😀","x":{"sub":"no"},"y":[1,{"iss":2}]}`,
	`{"sub":"a\"b","iss":"\u0041","email":"tab\there"}`,
	`{"sub":5}`,
	`{"roles":"finance"}`,
	`{"aud":["a",5]}`,
	`{"aud":null,"roles":null,"sub":null}`,
	`{"exp":-1,"nbf":0,"iat":999999999999999}`,
	`{"exp":1234567890123456789}`,
	`{ "sub" : "a" , "roles" : [ "x" , "y" ] }`,
	`{"sub":"a","SUB":"b"}`,
	`{"org_id":"a","org\u005fid":"b"}`,
	`{"iss":"a","exp":"1795452576"}`,
	`{"exp":1,"exp":2}`,
	`{"roles":["a"],"ROLES":["b"]}`,
	`{"nbf":true,"sub":"a"}`,
	`{"sub":"a","é":1}`,
	`{"é":1,"Sub":"a"}`,
	`{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9,"j":10,"k":11,"l":12,"m":13,"n":14,"o":15,"p":16,"q":17,"r":18,"s":19,"t":20,"u":21,"v":22,"w":23,"x":24,"sub":"a","SUB":"b"}`,
	`{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9,"j":10,"k":11,"l":12,"m":13,"n":14,"o":15,"p":16,"q":17,"r":18,"s":19,"t":20,"u":21,"v":22,"w":23,"x":24,"sub":"a"}`,
}

func TestDecodeClaims(t *testing.T) {
	for _, c := range claimsCases {
		checkDecodeClaims(t, c)
	}
}

// TestDecodeClaimsInOnePass: the issuer's claims, and the refusals of
// checkMembers on claims of that shape, are decided in the one pass,
// without checkMembers or encoding/json.
func TestDecodeClaimsInOnePass(t *testing.T) {
	for _, c := range []struct {
		json string
		ok   bool
	}{
		{claimsCases[0], true},
		{`{"aud":"revenue-api","roles":[],"exp":1795452576}`, true},
		{`{"sub":"a","SUB":"b"}`, false},
		{`{"exp":1,"exp":2}`, false},
		{`{"Iss":"a"}`, false},
		{`{"iat":"1795452576"}`, false},
	} {
		var got accessClaims
		decided, err := got.decodeFlat([]byte(c.json))
		if !decided || (err == nil) != c.ok {
			t.Errorf("decodeFlat(%s) = %v, %v; want decided, ok=%v", c.json, decided, err, c.ok)
		}
	}
}

// FuzzDecodeClaims: the claims decoder (golang-jwt calls it through
// encoding/json) refuses what checkMembers or encoding/json refuses, and
// reads what they accept exactly as encoding/json reads the exactly spelt
// claims alone.
func FuzzDecodeClaims(f *testing.F) {
	for _, c := range claimsCases {
		f.Add(c)
	}
	f.Fuzz(checkDecodeClaims)
}

func checkDecodeClaims(t *testing.T, data string) {
	if !json.Valid([]byte(data)) {
		return
	}
	// got is what golang-jwt reads (through accessClaims.UnmarshalJSON);
	// ref what checkMembers and encoding/json alone read: they must agree.
	type plain accessClaims
	var got, ref accessClaims
	gotErr := json.Unmarshal([]byte(data), &got)
	refErr := checkMembers([]byte(data), claimNames, timeClaims)
	if refErr == nil {
		refErr = json.Unmarshal([]byte(data), (*plain)(&ref))
	}
	if (gotErr == nil) != (refErr == nil) {
		t.Fatalf("%s: the claims decoder says %v, checkMembers and encoding/json %v", data, gotErr, refErr)
	}
	if gotErr != nil {
		return // golang-jwt refuses it
	}
	if !reflect.DeepEqual(got, ref) {
		t.Fatalf("%s:\nthe claims decoder reads: %+v\nencoding/json reads:      %+v", data, got, ref)
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal([]byte(data), &all); err != nil {
		t.Fatalf("%s: %v", data, err)
	}
	exact := map[string]json.RawMessage{}
	for _, name := range claimNames {
		if v, ok := all[name]; ok {
			exact[name] = v
		}
	}
	only, err := json.Marshal(exact)
	if err != nil {
		t.Fatalf("%s: %v", data, err)
	}
	var want accessClaims
	if err := json.Unmarshal(only, (*plain)(&want)); err != nil {
		t.Fatalf("%s: decodes, but its exactly spelt claims %s do not: %v", data, only, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\nas golang-jwt reads it: %+v\nits exact claims:       %+v", data, got, want)
	}
}

// BenchmarkDecodeClaims is the decoding of an issued token's claims as
// golang-jwt calls it: encoding/json's validity scan, then UnmarshalJSON.
func BenchmarkDecodeClaims(b *testing.B) {
	claims := []byte(claimsCases[0])
	b.ReportAllocs()
	for b.Loop() {
		var c accessClaims
		if err := json.Unmarshal(claims, &c); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCheckMembers is the member check of an issued token's claims,
// which runs on every token whose signature holds: the scan, and the
// decoding it saves.
func BenchmarkCheckMembers(b *testing.B) {
	claims := []byte(claimsCases[0])
	for name, check := range map[string]func([]byte, []string, []string) error{
		"scan": checkMembers, "decoded": checkMembersDecoded,
	} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := check(claims, claimNames, timeClaims); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
