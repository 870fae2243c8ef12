package postgres

import (
	"context"
	"time"

	"github.com/revenue-api/revenue-api/internal/auth"
)

// EventStore prunes the audit trail (events are written by the other
// stores, in the transaction of what they record).
type EventStore struct{ db *DB }

var _ auth.EventStore = (*EventStore)(nil)

// NewEventStore returns an EventStore on db.
func NewEventStore(db *DB) *EventStore { return &EventStore{db: db} }

// pruneBatch bounds each delete of old audit events.
const pruneBatch = 1000

// PruneEvents deletes events that occurred before cutoff, oldest first by the
// auth_events_time index, pruneBatch rows per transaction. Only one replica
// prunes at a time.
func (s *EventStore) PruneEvents(ctx context.Context, cutoff time.Time) (int64, error) {
	return s.db.deleteInBatches(ctx, "revenue-api.audit-pruning", pruneBatch, `DELETE FROM auth_events WHERE id IN (
		SELECT id FROM auth_events WHERE occurred_at < $1 ORDER BY occurred_at LIMIT $2)`, cutoff)
}

// eventColumns are an event's columns in the order of eventArgs.
const eventColumns = `occurred_at, kind, user_id, session_id, client_ip, user_agent, reason`

const insertEventSQL = `INSERT INTO auth_events (` + eventColumns + `) VALUES ($1, $2, $3, $4, $5, $6, $7)`

func eventArgs(ev auth.Event) []any {
	return []any{ev.Time, string(ev.Kind), nullable(ev.UserID), nullable(ev.SessionID), ev.Client.IP, ev.Client.UserAgent, ev.Reason}
}

func insertEvent(ctx context.Context, tx *Tx, ev auth.Event) error {
	_, err := tx.Exec(ctx, insertEventSQL, eventArgs(ev)...)
	return err
}
