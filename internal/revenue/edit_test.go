package revenue

import (
	"errors"
	"strings"
	"testing"

	"github.com/revenue-api/revenue-api/internal/apperr"
)

func TestParseAmount(t *testing.T) {
	good := map[string]int64{
		"12345.67": 1234567, "0": 0, "-80": -8000, "0.5": 50, "0.05": 5, " 7.10 ": 710, "-0.01": -1,
		"10000000000000": MaxAmountCents, "-10000000000000.00": -MaxAmountCents, "007": 700,
	}
	for in, want := range good {
		if got, err := ParseAmount(in); err != nil || got != want {
			t.Errorf("ParseAmount(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-", "12,5", "1.234", "1e3", "+5", ".5", "5.", "1 000", "$5", "10000000000000.01",
		"99999999999999999999", "--1", "1.-5", "NaN", "٣"} {
		if got, err := ParseAmount(in); err == nil {
			t.Errorf("ParseAmount(%q) = %d, want an error", in, got)
		} else if !strings.HasPrefix(err.Error(), "amount ") {
			t.Errorf("ParseAmount(%q) error %q does not name the amount", in, err)
		}
	}
}

func TestParseCents(t *testing.T) {
	for in, want := range map[string]int64{"1234567": 1234567, "-8000": -8000, "0": 0, "1000000000000000": MaxAmountCents} {
		if got, err := ParseCents(in); err != nil || got != want {
			t.Errorf("ParseCents(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "1.5", "1000000000000001", "-1000000000000001", "x", "99999999999999999999"} {
		if _, err := ParseCents(in); err == nil {
			t.Errorf("ParseCents(%q) accepted", in)
		}
	}
}

func TestParseCSV(t *testing.T) {
	got, err := ParseCSV([]byte("\uFEFFMonth, Amount\r\n2026-01,1.5\r\n\r\n\"2026-02\",\"-2\"\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []Figure{{Month{2026, 1}, 150}, {Month{2026, 2}, -200}}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("ParseCSV = %v, want %v", got, want)
	}
	_, err = ParseCSV([]byte("month,amount\n2026-01,x\n1800-01,1\n2026-01,2\n"))
	var e *apperr.Error
	if !errors.As(err, &e) || e.Code != apperr.CodeInvalidCSV || len(e.Details) != 3 {
		t.Fatalf("ParseCSV of three bad lines = %v, want invalid_csv with 3 details", err)
	}
	for i, want := range []apperr.Detail{{Line: 2, Column: 9}, {Line: 3, Column: 1}, {Line: 4, Column: 1}} {
		if d := e.Details[i]; d.Line != want.Line || d.Column != want.Column {
			t.Errorf("detail %d at %d:%d, want %d:%d (%s)", i, d.Line, d.Column, want.Line, want.Column, d.Message)
		}
	}
	// Line 4's month is a duplicate of line 2's even though line 2's amount was bad.
	if !strings.Contains(e.Details[2].Message, "first on line 2") {
		t.Errorf("detail %q, want the duplicate named", e.Details[2].Message)
	}
}

func TestWriteMatches(t *testing.T) {
	if !(Write{}).Matches(7) {
		t.Error("an unconditional write does not match")
	}
	w := Write{Conditional: true, IfMatch: []Version{3, 7}}
	if !w.Matches(7) || w.Matches(4) || (Write{Conditional: true}).Matches(0) {
		t.Error("a conditional write matches the wrong versions")
	}
}
