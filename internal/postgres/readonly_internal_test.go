package postgres

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/revenue-api/revenue-api/internal/apperr"
	"github.com/revenue-api/revenue-api/internal/pgtest"
)

// A write that reaches a read-only server (a demoted primary, while a
// proxy still routes to it during a failover) is the database being
// unavailable for a moment, answered 503 with Retry-After, not a 500.
func TestWriteOnAReadOnlyServerIsUnavailable(t *testing.T) {
	// A runtime parameter, in the connection string's own form.
	conn, readOnly := pgtest.NewDatabase(t), " default_transaction_read_only=on"
	if strings.Contains(conn, "://") {
		readOnly = "?default_transaction_read_only=on"
		if strings.Contains(conn, "?") {
			readOnly = "&default_transaction_read_only=on"
		}
	}
	db := open(t, conn+readOnly, 5*time.Second, Direct)
	_, err := NewUserStore(db).CreateOrganization(context.Background(), "Read Only Corp", "USD")
	if !errors.Is(err, apperr.ErrUnavailable) || !strings.Contains(err.Error(), "25006") {
		t.Fatalf("a write on a read-only server: %v, want unavailable naming SQLSTATE 25006", err)
	}
}
