package config

import (
	"strings"
	"testing"
)

func TestDatabasePooler(t *testing.T) {
	for _, tc := range []struct{ value, want string }{
		{"", "none"},
		{"none", "none"},
		{"transaction", "transaction"},
	} {
		c, err := Load(env(map[string]string{"REVENUE_DATABASE_POOLER": tc.value}))
		if err != nil || c.DatabasePooler != tc.want {
			t.Errorf("REVENUE_DATABASE_POOLER=%q: want %q, got %q (%v)", tc.value, tc.want, c.DatabasePooler, err)
		}
	}
	_, err := Load(env(map[string]string{"REVENUE_DATABASE_POOLER": "pgbouncer"}))
	if err == nil || !strings.Contains(err.Error(), "REVENUE_DATABASE_POOLER") || !strings.Contains(err.Error(), "transaction") {
		t.Errorf("REVENUE_DATABASE_POOLER=pgbouncer: want an error naming the setting and its values, got %v", err)
	}
}
