package revenue

import (
	"strings"
	"testing"

	"github.com/revenue-api/revenue-api/internal/apperr"
)

func TestParseRange(t *testing.T) {
	tests := []struct {
		from, to string
		ok       bool
	}{
		{"", "", true},
		{"2025-01", "", true},
		{"2025-01", "2025-12", true},
		{"2025-03", "2025-03", true},
		{"2025-12", "2025-01", false},
		{"2025-13", "", false},
		{"2025-00", "", false},
		{"2025-1", "", false},
		{"", "25-01", false},
		{"2025-01-01", "", false},
		{"2025/01", "", false},
	}
	for _, tt := range tests {
		_, err := ParseRange(tt.from, tt.to)
		if tt.ok && err != nil || !tt.ok && apperr.Code(err) != apperr.CodeInvalidParameter {
			t.Errorf("ParseRange(%q, %q) = %v, want ok=%v (an invalid_parameter error when not)", tt.from, tt.to, err, tt.ok)
		}
	}
}

// An error quotes at most apperr.MaxQuoted bytes of what the client sent:
// a 4 KB parameter must not come back in the answer.
func TestParseRangeQuotesLongValuesBriefly(t *testing.T) {
	long := "2025-" + strings.Repeat("9", 4096)
	for _, r := range [][2]string{{long, ""}, {"", long}} {
		_, err := ParseRange(r[0], r[1])
		if err == nil {
			t.Fatal("a 4 KB month is accepted")
		}
		if msg := err.Error(); len(msg) > 2*apperr.MaxQuoted || !strings.Contains(msg, "2025-999") {
			t.Errorf("error of %d bytes, want the value's start within %d: %.200s", len(msg), 2*apperr.MaxQuoted, msg)
		}
	}
}

func TestReportSpan(t *testing.T) {
	jan, feb, mar := Month{2025, 1}, Month{2025, 2}, Month{2025, 3}
	found := []Figure{{Month: feb}, {Month: mar}}
	tests := []struct {
		name   string
		asked  Range
		months []Figure
		want   Range
	}{
		{"asked bounds are echoed", Range{From: jan, To: mar}, found, Range{From: jan, To: mar}},
		{"open bounds close on the months found", Range{}, found, Range{From: feb, To: mar}},
		{"an open end closes on the last month found", Range{From: jan}, found, Range{From: jan, To: mar}},
		{"open bounds stay open when nothing was found", Range{To: mar}, nil, Range{To: mar}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := (Report{Range: tt.asked, Months: tt.months}).Span(); got != tt.want {
				t.Errorf("Span() = %v, want %v", got, tt.want)
			}
		})
	}
}
