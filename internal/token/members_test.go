package token

import (
	"encoding/json"
	"reflect"
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
	{`{"s\u0075b":"a","SUB":"b"}`, false},
	{`{"\u212aid":"x"}`, true}, // Kelvin sign: not a claim name here
	{`{"exp":1,"exp":1}`, false},
	{`[]`, false},
	{`"iss"`, false},
}

func TestCheckMembers(t *testing.T) {
	for _, c := range memberCases {
		err := checkMembers([]byte(c.json), claimNames, timeClaims)
		if (err == nil) != c.ok {
			t.Errorf("checkMembers(%s) = %v, want ok=%v", c.json, err, c.ok)
		}
		if slow := checkMembersDecoded([]byte(c.json), claimNames, timeClaims); (slow == nil) != c.ok {
			t.Errorf("checkMembersDecoded(%s) = %v, want ok=%v", c.json, slow, c.ok)
		}
	}
	header := `{"alg":"RS256","typ":"at+jwt","kid":"k","KID":"other"}`
	if checkMembers([]byte(header), headerNames, nil) == nil {
		t.Errorf("a header naming kid twice passed")
	}
}

// FuzzCheckMembers: on any valid JSON, the one-pass scan of plain names
// judges as encoding/json's own tokenizer does.
func FuzzCheckMembers(f *testing.F) {
	for _, c := range memberCases {
		f.Add(c.json)
	}
	f.Fuzz(func(t *testing.T, data string) {
		if !json.Valid([]byte(data)) {
			return
		}
		fast := checkMembers([]byte(data), claimNames, timeClaims)
		slow := checkMembersDecoded([]byte(data), claimNames, timeClaims)
		if (fast == nil) != (slow == nil) {
			t.Fatalf("%s: scan says %v, decoding says %v", data, fast, slow)
		}
	})
}

// claimsCases are payloads for the two ways of decoding claims.
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
}

func TestDecodeClaimsAsEncodingJSON(t *testing.T) {
	for _, c := range claimsCases {
		checkDecodeClaims(t, c)
	}
	// What the issuer writes takes the one pass.
	for _, c := range claimsCases[:3] {
		var flat accessClaims
		if !flat.decodeFlat([]byte(c)) {
			t.Errorf("%s: left to encoding/json, want it read in one pass", c)
		}
	}
}

// FuzzDecodeClaims: the one-pass read of flat claims yields exactly what
// encoding/json yields, on any payload it takes.
func FuzzDecodeClaims(f *testing.F) {
	for _, c := range claimsCases {
		f.Add(c)
	}
	f.Fuzz(checkDecodeClaims)
}

func checkDecodeClaims(t *testing.T, data string) {
	if checkMembers([]byte(data), claimNames, timeClaims) != nil || !json.Valid([]byte(data)) {
		return
	}
	var flat accessClaims
	if !flat.decodeFlat([]byte(data)) {
		return
	}
	type plain accessClaims
	var want accessClaims
	if err := json.Unmarshal([]byte(data), (*plain)(&want)); err != nil {
		t.Fatalf("%s: read in one pass, but encoding/json refuses it: %v", data, err)
	}
	if !reflect.DeepEqual(flat, want) {
		t.Fatalf("%s:\none pass:      %+v\nencoding/json: %+v", data, flat, want)
	}
}
