package httpapi

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// The /me answer written by hand is what encoding/json writes for the same
// value: byte for byte for what tokens carry, and the same value decoded
// for anything a string may hold.
func TestMeAnswerIsEncodingJSONs(t *testing.T) {
	at := time.Date(2026, 11, 27, 15, 4, 5, 0, time.UTC)
	cases := []meResponse{
		{Sub: "0b6c3f0e-9d4e-4d7a-8d0c-111111111111", Email: "alice@example.com", OrgID: "5f2b1c9a-0000-4000-8000-222222222222",
			Roles: []string{"finance", "admin"}, Scope: "revenue:read revenue:write", SessionID: "7c1d2e3f-0000-4000-8000-333333333333",
			IssuedAt: at, ExpiresAt: at.Add(15 * time.Minute)},
		{Roles: []string{}, IssuedAt: at.Add(123456789 * time.Nanosecond), ExpiresAt: at},
		{Sub: "<script>&'", Email: "\"quoted\"\\back\nline\ttab\x01\u2028\u2029", OrgID: "caf\xc3\xa9 \xff invalid",
			Roles: []string{"", "rôle", "\x7f"}, Scope: "a\rb", SessionID: "\U0001F600"},
	}
	for i, me := range cases {
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(me); err != nil {
			t.Fatal(err)
		}
		got := me.appendJSON(nil)
		if i < 2 && !bytes.Equal(got, want.Bytes()) {
			t.Errorf("case %d:\n got %s\nwant %s", i, got, want.Bytes())
		}
		var g, w meResponse
		if err := json.Unmarshal(got, &g); err != nil {
			t.Fatalf("case %d: not JSON: %v: %s", i, err, got)
		}
		if err := json.Unmarshal(want.Bytes(), &w); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("case %d: decodes to %+v, encoding/json's to %+v", i, g, w)
		}
	}
}
