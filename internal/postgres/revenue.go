package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/revenue-api/revenue-api/internal/apperr"
	"github.com/revenue-api/revenue-api/internal/revenue"
)

// RevenueStore reads revenue figures.
type RevenueStore struct{ db *DB }

var _ revenue.Store = (*RevenueStore)(nil)

// NewRevenueStore returns a RevenueStore on db.
func NewRevenueStore(db *DB) *RevenueStore { return &RevenueStore{db: db} }

type revenueRow struct {
	Name     string     `db:"name"`
	Currency string     `db:"currency"`
	Month    *time.Time `db:"month"`
	Amount   *int64     `db:"amount_cents"`
}

func monthArg(m revenue.Month) any {
	if m == (revenue.Month{}) {
		return nil
	}
	return m.Time()
}

// MonthlyRevenue returns the organization and its figures in r, in one
// round trip: the outer join yields one row even when no month matches.
func (s *RevenueStore) MonthlyRevenue(ctx context.Context, orgID string, r revenue.Range) (revenue.Report, error) {
	ctx, cancel := s.db.bound(ctx)
	defer cancel()
	rows, err := s.db.Pool.Query(ctx, `SELECT o.name, o.currency, e.month, e.amount_cents
		FROM organizations o
		LEFT JOIN revenue_entries e ON e.organization_id = o.id
			AND ($2::date IS NULL OR e.month >= $2) AND ($3::date IS NULL OR e.month <= $3)
		WHERE o.id = $1
		ORDER BY e.month`, orgID, monthArg(r.From), monthArg(r.To))
	if err != nil {
		return revenue.Report{}, translate(err)
	}
	list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[revenueRow])
	if err != nil {
		return revenue.Report{}, translate(err)
	}
	if len(list) == 0 {
		return revenue.Report{}, apperr.ErrNotFound
	}
	rep := revenue.Report{OrganizationID: orgID, OrganizationName: list[0].Name, Currency: list[0].Currency, Months: []revenue.Figure{}}
	for _, row := range list {
		if row.Month != nil && row.Amount != nil {
			rep.Months = append(rep.Months, revenue.Figure{Month: revenue.MonthOf(*row.Month), AmountCents: *row.Amount})
		}
	}
	return rep, nil
}
