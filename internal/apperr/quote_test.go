package apperr_test

import (
	"strings"
	"testing"

	"github.com/revenue-api/revenue-api/internal/apperr"
)

func TestQuote(t *testing.T) {
	long := strings.Repeat("x", 4096)
	for _, tt := range []struct {
		name, in, want string
	}{
		{"short values are quoted whole", "2025-13", `"2025-13"`},
		{"long values are cut", long, `"` + strings.Repeat("x", apperr.MaxQuoted) + `…"`},
		{"a cut never splits a rune", strings.Repeat("x", apperr.MaxQuoted-1) + "é" + long, `"` + strings.Repeat("x", apperr.MaxQuoted-1) + `…"`},
		{"control characters are escaped", "a\r\nb\x00", `"a\r\nb\x00"`},
		{"invalid UTF-8 is replaced", "a\xffb", `"a` + "\uFFFD" + `b"`},
		{"quotes are escaped", `a"b`, `"a\"b"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := apperr.Quote(tt.in); got != tt.want {
				t.Errorf("Quote(%.80q) = %s, want %s", tt.in, got, tt.want)
			}
		})
	}
}
