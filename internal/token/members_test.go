package token

import (
	"encoding/json"
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
