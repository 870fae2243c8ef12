// Package revenue is the revenue domain: monthly figures of an
// organization, the month range filter and the query use case.
package revenue

import (
	"context"
	"fmt"
	"time"

	"github.com/revenue-api/revenue-api/internal/apperr"
)

// Month is a calendar month, the unit of revenue figures.
type Month struct {
	Year  int
	Month time.Month
}

// ParseMonth reads "YYYY-MM".
func ParseMonth(s string) (Month, error) {
	t, err := time.Parse("2006-01", s)
	if err != nil || len(s) != 7 {
		return Month{}, fmt.Errorf("%s is not a month in YYYY-MM form", apperr.Quote(s))
	}
	return MonthOf(t), nil
}

// MonthOf returns the month containing t.
func MonthOf(t time.Time) Month { return Month{Year: t.Year(), Month: t.Month()} }

// String formats m as "YYYY-MM".
func (m Month) String() string { return fmt.Sprintf("%04d-%02d", m.Year, int(m.Month)) }

// Time returns the first instant of m, in UTC.
func (m Month) Time() time.Time { return time.Date(m.Year, m.Month, 1, 0, 0, 0, 0, time.UTC) }

// Before reports whether m comes before o.
func (m Month) Before(o Month) bool { return m.Time().Before(o.Time()) }

// Range selects months from From to To, both included; a zero bound is open.
type Range struct {
	From, To Month
}

// ParseRange reads the optional from and to query values.
func ParseRange(from, to string) (Range, error) {
	var r Range
	var err error
	if from != "" {
		if r.From, err = ParseMonth(from); err != nil {
			return Range{}, apperr.Invalid("from", err.Error())
		}
	}
	if to != "" {
		if r.To, err = ParseMonth(to); err != nil {
			return Range{}, apperr.Invalid("to", err.Error())
		}
	}
	if from != "" && to != "" && r.To.Before(r.From) {
		return Range{}, apperr.Invalid("from", "must not be after to")
	}
	return r, nil
}

// Figure is the revenue of one month, in minor units of the currency.
type Figure struct {
	Month       Month
	AmountCents int64
}

// Report is an organization's revenue over a range.
type Report struct {
	OrganizationID   string
	OrganizationName string
	Currency         string
	Range            Range
	Months           []Figure
	TotalCents       int64
	// Version is the version of the organization's figures (all of them,
	// whatever the range): their ETag.
	Version Version
}

// Span is the range the report answers for: each bound as asked, or, where
// the ask left it open, the first or last month found (still open when none
// was found).
func (rep Report) Span() Range {
	span := rep.Range
	if len(rep.Months) > 0 {
		if span.From == (Month{}) {
			span.From = rep.Months[0].Month
		}
		if span.To == (Month{}) {
			span.To = rep.Months[len(rep.Months)-1].Month
		}
	}
	return span
}

// Store reads and writes revenue figures.
type Store interface {
	// MonthlyRevenue returns the organization, the version of its figures
	// and its figures in r, ascending; apperr.ErrNotFound when the
	// organization does not exist.
	MonthlyRevenue(ctx context.Context, orgID string, r Range) (Report, error)
	EditStore
}

// Service answers revenue queries and makes revenue changes.
type Service struct{ store Store }

// NewService returns a Service reading from store.
func NewService(store Store) *Service { return &Service{store: store} }

// Monthly returns the revenue of orgID over r. orgID comes from the
// verified token, never from a request parameter.
func (s *Service) Monthly(ctx context.Context, orgID string, r Range) (Report, error) {
	rep, err := s.store.MonthlyRevenue(ctx, orgID, r)
	if err != nil {
		return Report{}, err
	}
	rep.Range = r
	rep.TotalCents = 0
	for _, f := range rep.Months {
		rep.TotalCents += f.AmountCents
	}
	return rep, nil
}
