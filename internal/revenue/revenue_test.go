package revenue

import (
	"errors"
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
		var invalid *apperr.InvalidError
		if tt.ok && err != nil || !tt.ok && !errors.As(err, &invalid) {
			t.Errorf("ParseRange(%q, %q) = %v, want ok=%v (an InvalidError when not)", tt.from, tt.to, err, tt.ok)
		}
	}
}
