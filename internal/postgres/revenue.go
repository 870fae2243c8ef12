package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/revenue-api/revenue-api/internal/apperr"
	"github.com/revenue-api/revenue-api/internal/revenue"
)

// RevenueStore reads and writes revenue figures and records their changes.
type RevenueStore struct{ db *DB }

var _ revenue.Store = (*RevenueStore)(nil)

// NewRevenueStore returns a RevenueStore on db.
func NewRevenueStore(db *DB) *RevenueStore { return &RevenueStore{db: db} }

type revenueRow struct {
	Name     string     `db:"name"`
	Currency string     `db:"currency"`
	Version  int64      `db:"revenue_version"`
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
	rows, err := s.db.Pool.Query(ctx, `SELECT o.name, o.currency, o.revenue_version, e.month, e.amount_cents
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
	rep := revenue.Report{OrganizationID: orgID, OrganizationName: list[0].Name, Currency: list[0].Currency,
		Version: revenue.Version(list[0].Version), Months: []revenue.Figure{}}
	for _, row := range list {
		if row.Month != nil && row.Amount != nil {
			rep.Months = append(rep.Months, revenue.Figure{Month: revenue.MonthOf(*row.Month), AmountCents: *row.Amount})
		}
	}
	return rep, nil
}

// lockVersion locks the organization's row, so that writes to its figures
// happen one at a time, and checks w's condition against its version.
func lockVersion(ctx context.Context, tx *Tx, w revenue.Write) (revenue.Version, error) {
	var v revenue.Version
	if err := tx.QueryRow(ctx, `SELECT revenue_version FROM organizations WHERE id = $1 FOR UPDATE`, w.OrgID).Scan(&v); err != nil {
		return 0, translate(err)
	}
	if !w.Matches(v) {
		return 0, revenue.ErrPreconditionFailed
	}
	return v, nil
}

// checkTotal refuses a write after which the organization's figures would
// add up, in absolute value, beyond revenue.MaxTotalCents.
func checkTotal(ctx context.Context, tx *Tx, orgID string) error {
	var over bool
	if err := tx.QueryRow(ctx, `SELECT coalesce(sum(abs(amount_cents)), 0) > $2
		FROM revenue_entries WHERE organization_id = $1`, orgID, int64(revenue.MaxTotalCents)).Scan(&over); err != nil {
		return err
	}
	if over {
		return revenue.ErrTotalTooLarge
	}
	return nil
}

// errDryRun rolls back a dry run's writes, made only to check them.
var errDryRun = errors.New("dry run")

// bumpVersion records that the organization's figures changed.
func bumpVersion(ctx context.Context, tx *Tx, orgID string) (revenue.Version, error) {
	var v revenue.Version
	err := tx.QueryRow(ctx, `UPDATE organizations SET revenue_version = revenue_version + 1 WHERE id = $1
		RETURNING revenue_version`, orgID).Scan(&v)
	return v, err
}

// changeBatch collects the changes of one write, inserted in one statement.
type changeBatch struct {
	months   []time.Time
	old, new []*int64
}

func (b *changeBatch) add(m revenue.Month, old, new *int64) {
	b.months = append(b.months, m.Time())
	b.old = append(b.old, old)
	b.new = append(b.new, new)
}

// record inserts the changes and bumps the version; with no change it
// returns the version unchanged.
func (b *changeBatch) record(ctx context.Context, tx *Tx, w revenue.Write, v revenue.Version) (revenue.Version, error) {
	if len(b.months) == 0 {
		return v, nil
	}
	// The organization's row is locked (lockVersion): its change numbers
	// are handed out one write at a time.
	_, err := tx.Exec(ctx, `WITH seq AS (
			UPDATE organizations SET revenue_change_seq = revenue_change_seq + cardinality($2::date[])
			WHERE id = $1 RETURNING revenue_change_seq - cardinality($2::date[]) AS base)
		INSERT INTO revenue_changes
			(organization_id, seq, month, old_amount_cents, new_amount_cents, user_id, user_email, os_user, source, request_id)
		SELECT $1, seq.base + c.n, c.month, c.old, c.new, $5, $6, $7, $8, $9
		FROM seq, unnest($2::date[], $3::bigint[], $4::bigint[]) WITH ORDINALITY AS c(month, old, new, n)`,
		w.OrgID, b.months, b.old, b.new,
		nullable(w.Author.UserID), nullable(w.Author.Email), nullable(w.Author.OSUser), string(w.Source), nullable(w.RequestID))
	if err != nil {
		return 0, err
	}
	return bumpVersion(ctx, tx, w.OrgID)
}

// SetMonth stores f and records the change, if it is one.
func (s *RevenueStore) SetMonth(ctx context.Context, w revenue.Write, f revenue.Figure) (revenue.SetResult, error) {
	res := revenue.SetResult{Figure: f}
	err := s.db.tx(ctx, func(ctx context.Context, tx *Tx) error {
		v, err := lockVersion(ctx, tx, w)
		if err != nil {
			return err
		}
		var old *int64
		err = tx.QueryRow(ctx, `SELECT amount_cents FROM revenue_entries WHERE organization_id = $1 AND month = $2`,
			w.OrgID, f.Month.Time()).Scan(&old)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if old != nil && w.IfNoneMatchAny {
			return revenue.ErrPreconditionFailed // create only, and the month exists
		}
		res.Created = old == nil
		res.Changed = old == nil || *old != f.AmountCents
		var batch changeBatch
		if res.Changed {
			if _, err := tx.Exec(ctx, `INSERT INTO revenue_entries (organization_id, month, amount_cents) VALUES ($1, $2, $3)
				ON CONFLICT (organization_id, month) DO UPDATE SET amount_cents = EXCLUDED.amount_cents`,
				w.OrgID, f.Month.Time(), f.AmountCents); err != nil {
				return err
			}
			if err := checkTotal(ctx, tx, w.OrgID); err != nil {
				return err
			}
			batch.add(f.Month, old, &f.AmountCents)
		}
		res.Version, err = batch.record(ctx, tx, w, v)
		return err
	})
	return res, err
}

// DeleteMonth removes month m and records the change.
func (s *RevenueStore) DeleteMonth(ctx context.Context, w revenue.Write, m revenue.Month) (revenue.Version, error) {
	var v revenue.Version
	err := s.db.tx(ctx, func(ctx context.Context, tx *Tx) error {
		var err error
		if v, err = lockVersion(ctx, tx, w); err != nil {
			return err
		}
		if w.IfNoneMatchAny {
			var exists bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM revenue_entries WHERE organization_id = $1 AND month = $2)`,
				w.OrgID, m.Time()).Scan(&exists); err != nil {
				return err
			}
			if exists {
				return revenue.ErrPreconditionFailed
			}
		}
		var old int64
		if err := tx.QueryRow(ctx, `DELETE FROM revenue_entries WHERE organization_id = $1 AND month = $2 RETURNING amount_cents`,
			w.OrgID, m.Time()).Scan(&old); err != nil {
			return translate(err)
		}
		var batch changeBatch
		batch.add(m, &old, nil)
		v, err = batch.record(ctx, tx, w, v)
		return err
	})
	return v, err
}

// Import stores every figure in one transaction: the existing amounts of
// the file's months are read under the organization's lock, then the new
// and changed ones written and recorded in one statement each.
func (s *RevenueStore) Import(ctx context.Context, w revenue.Write, figures []revenue.Figure, dryRun bool) (revenue.ImportResult, error) {
	res := revenue.ImportResult{DryRun: dryRun, Months: len(figures)}
	months := make([]time.Time, len(figures))
	for i, f := range figures {
		months[i] = f.Month.Time()
	}
	err := s.db.tx(ctx, func(ctx context.Context, tx *Tx) error {
		v, err := lockVersion(ctx, tx, w)
		if err != nil {
			return err
		}
		if w.IfNoneMatchAny {
			return revenue.ErrPreconditionFailed // the organization's figures always exist
		}
		res.Version = v
		rows, err := tx.Query(ctx, `SELECT month, amount_cents FROM revenue_entries
			WHERE organization_id = $1 AND month = ANY($2::date[])`, w.OrgID, months)
		if err != nil {
			return err
		}
		existing := map[revenue.Month]int64{}
		var month time.Time
		var amount int64
		if _, err := pgx.ForEachRow(rows, []any{&month, &amount}, func() error {
			existing[revenue.MonthOf(month)] = amount
			return nil
		}); err != nil {
			return err
		}
		var batch changeBatch
		var setMonths []time.Time
		var setAmounts []int64
		for _, f := range figures {
			old, ok := existing[f.Month]
			switch {
			case !ok:
				res.Inserted++
				batch.add(f.Month, nil, &f.AmountCents)
			case old != f.AmountCents:
				res.Updated++
				batch.add(f.Month, &old, &f.AmountCents)
			default:
				res.Unchanged++
				continue
			}
			setMonths = append(setMonths, f.Month.Time())
			setAmounts = append(setAmounts, f.AmountCents)
		}
		if len(setMonths) == 0 {
			return nil
		}
		// A dry run writes too, to check what the real import would, and
		// then rolls back.
		if _, err := tx.Exec(ctx, `INSERT INTO revenue_entries (organization_id, month, amount_cents)
			SELECT $1, m, a FROM unnest($2::date[], $3::bigint[]) AS u(m, a)
			ON CONFLICT (organization_id, month) DO UPDATE SET amount_cents = EXCLUDED.amount_cents`,
			w.OrgID, setMonths, setAmounts); err != nil {
			return err
		}
		if err := checkTotal(ctx, tx, w.OrgID); err != nil {
			return err
		}
		if dryRun {
			return errDryRun
		}
		res.Version, err = batch.record(ctx, tx, w, v)
		return err
	})
	if errors.Is(err, errDryRun) {
		return res, nil
	}
	return res, err
}

type changeRow struct {
	ID        int64     `db:"seq"`
	Month     time.Time `db:"month"`
	Old       *int64    `db:"old_amount_cents"`
	New       *int64    `db:"new_amount_cents"`
	UserID    *string   `db:"user_id"`
	Email     *string   `db:"user_email"`
	OSUser    *string   `db:"os_user"`
	Source    string    `db:"source"`
	RequestID *string   `db:"request_id"`
	At        time.Time `db:"changed_at"`
}

// Changes lists orgID's changes, newest first.
func (s *RevenueStore) Changes(ctx context.Context, orgID string, q revenue.ChangeQuery) ([]revenue.Change, error) {
	ctx, cancel := s.db.bound(ctx)
	defer cancel()
	before := any(nil)
	if q.Before > 0 {
		before = q.Before
	}
	rows, err := s.db.Pool.Query(ctx, `SELECT seq, month, old_amount_cents, new_amount_cents,
			user_id::text, user_email, os_user, source, request_id, changed_at
		FROM revenue_changes
		WHERE organization_id = $1 AND ($2::bigint IS NULL OR seq < $2)
			AND ($3::date IS NULL OR month >= $3) AND ($4::date IS NULL OR month <= $4)
		ORDER BY seq DESC LIMIT $5`, orgID, before, monthArg(q.Range.From), monthArg(q.Range.To), q.Limit)
	if err != nil {
		return nil, translate(err)
	}
	list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[changeRow])
	if err != nil {
		return nil, translate(err)
	}
	out := make([]revenue.Change, len(list))
	for i, r := range list {
		out[i] = revenue.Change{ID: r.ID, Month: revenue.MonthOf(r.Month), Old: r.Old, New: r.New,
			Author: revenue.Author{UserID: deref(r.UserID), Email: deref(r.Email), OSUser: deref(r.OSUser)},
			Source: revenue.Source(r.Source), RequestID: deref(r.RequestID), At: r.At}
	}
	return out, nil
}

// OrganizationID returns the id of the organization named name.
func (s *RevenueStore) OrganizationID(ctx context.Context, name string) (string, error) {
	ctx, cancel := s.db.bound(ctx)
	defer cancel()
	var id string
	err := s.db.Pool.QueryRow(ctx, `SELECT id::text FROM organizations WHERE name = $1`, name).Scan(&id)
	return id, translate(err)
}
