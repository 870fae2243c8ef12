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
		c, err := Load(env(map[string]string{"REVENUE_DATABASE_POOLER": tc.value, "REVENUE_DATABASE_DIRECT_URL": "postgres://db.internal/app"}))
		if err != nil || c.DatabasePooler != tc.want {
			t.Errorf("REVENUE_DATABASE_POOLER=%q: want %q, got %q (%v)", tc.value, tc.want, c.DatabasePooler, err)
		}
	}
	_, err := Load(env(map[string]string{"REVENUE_DATABASE_POOLER": "pgbouncer"}))
	if err == nil || !strings.Contains(err.Error(), "REVENUE_DATABASE_POOLER") || !strings.Contains(err.Error(), "transaction") {
		t.Errorf("REVENUE_DATABASE_POOLER=pgbouncer: want an error naming the setting and its values, got %v", err)
	}
}

// TestTransactionPoolerNeedsADirectURL: through a transaction pooler,
// LISTEN (the revocation listener) and the migrations' session lock would
// silently go through the pooler, which keeps no session: refused, naming
// the setting that is missing.
func TestTransactionPoolerNeedsADirectURL(t *testing.T) {
	_, err := Load(env(map[string]string{"DATABASE_URL": "postgres://pgbouncer.internal/app", "REVENUE_DATABASE_POOLER": "transaction"}))
	if err == nil || !strings.Contains(err.Error(), "REVENUE_DATABASE_DIRECT_URL") {
		t.Errorf("REVENUE_DATABASE_POOLER=transaction without REVENUE_DATABASE_DIRECT_URL: %v, want an error naming it", err)
	}
}
