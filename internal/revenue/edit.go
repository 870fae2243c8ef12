package revenue

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/revenue-api/revenue-api/internal/apperr"
)

// The bounds of what can be stored: months of the years 1900 to 2999, and
// amounts up to 10^15 minor units (ten trillion in major units) either way.
const (
	FirstYear      = 1900
	LastYear       = 2999
	MaxAmountCents = 1_000_000_000_000_000
	// MaxTotalCents bounds the sum of an organization's amounts, in
	// absolute value, so that any total is exact in int64 and in a
	// JavaScript number (2^53 − 1).
	MaxTotalCents = 1<<53 - 1
)

// ErrTotalTooLarge means a write would make the organization's figures add
// up beyond MaxTotalCents: nothing was written.
var ErrTotalTooLarge = apperr.New(apperr.CodeInvalidParameter,
	"amount_cents: the organization's figures would add up, in absolute value, beyond 9007199254740991 cents; nothing was written.")

// Version counts the changes to an organization's figures: it is the
// figures' ETag, and a write may require it (optimistic concurrency).
type Version int64

// ErrPreconditionFailed means a write named the version it expected
// (If-Match) and the figures have changed since: nothing was written.
var ErrPreconditionFailed = apperr.New(apperr.CodePreconditionFailed,
	"The revenue changed since you read it (its ETag no longer matches); nothing was written. Read it again, then retry.")

// Source says how a change was made.
type Source string

// The sources of a change.
const (
	SourceAPI    Source = "api"    // PUT or DELETE /revenue/months/{month}
	SourceImport Source = "import" // POST /revenue/imports
	SourceCLI    Source = "cli"    // revenue-api revenue set / import
)

// Author is who made a change: a user (through the API) or an operator
// at the command line (no user; the operating-system account instead).
type Author struct {
	UserID string
	Email  string
	OSUser string
}

// Write is who writes an organization's figures, how, and on what
// condition. OrgID comes from the verified token (or, at the command line,
// from the organization the operator named).
type Write struct {
	OrgID     string
	Author    Author
	Source    Source
	RequestID string
	// Conditional writes only when the figures are at one of IfMatch
	// (none of them: ErrPreconditionFailed). Unconditional writes always.
	Conditional bool
	IfMatch     []Version
	// IfNoneMatch refuses the write when the figures are at one of these
	// versions; IfNoneMatchAny when the target exists (PUT: create only).
	IfNoneMatch    []Version
	IfNoneMatchAny bool
}

// Matches reports whether the figures at version v may be written by w.
func (w Write) Matches(v Version) bool {
	if slices.Contains(w.IfNoneMatch, v) {
		return false
	}
	return !w.Conditional || slices.Contains(w.IfMatch, v)
}

// Change is one month's figure set, changed or removed: the record of who
// changed what. Old is nil for a new month, New nil for a removed one.
type Change struct {
	ID        int64
	Month     Month
	Old, New  *int64
	Author    Author
	Source    Source
	RequestID string
	At        time.Time
}

// ChangeQuery selects an organization's changes, newest first: of the
// months in Range, older than the change Before (0: from the newest), at
// most Limit of them.
type ChangeQuery struct {
	Range  Range
	Before int64
	Limit  int
}

// ImportResult says what an import did (or, in a dry run, would do).
type ImportResult struct {
	DryRun                       bool
	Months                       int
	Inserted, Updated, Unchanged int
	Version                      Version
}

// SetResult is a month after PUT: whether it is new, whether it changed
// (a new month did), and the figures' version after the write.
type SetResult struct {
	Figure  Figure
	Created bool
	Changed bool
	Version Version
}

// EditStore writes revenue figures and records every change. Each method
// runs in one transaction that first locks the organization, checks w's
// condition against its version (ErrPreconditionFailed), and bumps the
// version only when a figure changed.
type EditStore interface {
	// SetMonth stores f; unchanged when the month already has that amount.
	SetMonth(ctx context.Context, w Write, f Figure) (SetResult, error)
	// DeleteMonth removes month m; apperr.ErrNotFound when it has no figure.
	DeleteMonth(ctx context.Context, w Write, m Month) (Version, error)
	// Import stores every figure or, on any error, none; with dryRun it
	// only counts.
	Import(ctx context.Context, w Write, figures []Figure, dryRun bool) (ImportResult, error)
	// Changes lists orgID's changes.
	Changes(ctx context.Context, orgID string, q ChangeQuery) ([]Change, error)
	// OrganizationID returns the id of the organization named name;
	// apperr.ErrNotFound when there is none.
	OrganizationID(ctx context.Context, name string) (string, error)
}

// MaxChangesPage is the most changes one page lists.
const MaxChangesPage = 200

// SetMonth sets one month's figure.
func (s *Service) SetMonth(ctx context.Context, w Write, f Figure) (SetResult, error) {
	if err := checkFigure(f); err != nil {
		return SetResult{}, err
	}
	return s.store.SetMonth(ctx, w, f)
}

// DeleteMonth removes one month's figure.
func (s *Service) DeleteMonth(ctx context.Context, w Write, m Month) (Version, error) {
	if err := CheckMonth(m); err != nil {
		return 0, apperr.Invalid("month", err.Error())
	}
	return s.store.DeleteMonth(ctx, w, m)
}

// Import stores the figures of a parsed file (ParseCSV), all or none.
func (s *Service) Import(ctx context.Context, w Write, figures []Figure, dryRun bool) (ImportResult, error) {
	for _, f := range figures {
		if err := checkFigure(f); err != nil {
			return ImportResult{}, err
		}
	}
	return s.store.Import(ctx, w, figures, dryRun)
}

// Changes lists the changes to orgID's figures, newest first, at most
// q.Limit (1 to MaxChangesPage) of them, and the Before of the next page (0
// when this is the last).
func (s *Service) Changes(ctx context.Context, orgID string, q ChangeQuery) ([]Change, int64, error) {
	limit := min(max(q.Limit, 1), MaxChangesPage)
	q.Limit = limit + 1 // one more, to know whether there is a next page
	list, err := s.store.Changes(ctx, orgID, q)
	if err != nil || len(list) <= limit {
		return list, 0, err
	}
	list = list[:limit]
	return list, list[limit-1].ID, nil
}

// OrganizationID returns the id of the organization named name.
func (s *Service) OrganizationID(ctx context.Context, name string) (string, error) {
	return s.store.OrganizationID(ctx, name)
}

func checkFigure(f Figure) error {
	if err := CheckMonth(f.Month); err != nil {
		return apperr.Invalid("month", err.Error())
	}
	if err := CheckAmount(f.AmountCents); err != nil {
		return apperr.Invalid("amount_cents", err.Error())
	}
	return nil
}

// CheckMonth refuses a month outside the years FirstYear to LastYear.
func CheckMonth(m Month) error {
	if m.Year < FirstYear || m.Year > LastYear {
		return fmt.Errorf("%s is outside %d-01 to %d-12", m, FirstYear, LastYear)
	}
	return nil
}

// CheckAmount refuses an amount beyond ±MaxAmountCents.
func CheckAmount(cents int64) error {
	if cents > MaxAmountCents || cents < -MaxAmountCents {
		return fmt.Errorf("%d is beyond ±10^15 cents", cents)
	}
	return nil
}

// ParseEditableMonth reads "YYYY-MM" within FirstYear to LastYear.
func ParseEditableMonth(s string) (Month, error) {
	m, err := ParseMonth(s)
	if err != nil {
		return Month{}, err
	}
	if err := CheckMonth(m); err != nil {
		return Month{}, err
	}
	return m, nil
}

// ParseAmount reads an amount in the currency's major unit with at most
// two decimals ("12345.67", "-80", "0.5") as minor units (cents). Spaces
// around it are ignored; thousands separators, exponents, a leading "+" and
// a decimal comma are refused.
func ParseAmount(s string) (int64, error) {
	v := strings.TrimSpace(s)
	whole, frac, hasFrac := strings.Cut(v, ".")
	neg := strings.HasPrefix(whole, "-")
	whole = strings.TrimPrefix(whole, "-")
	if !digits(whole) || hasFrac && (!digits(frac) || len(frac) > 2) {
		return 0, fmt.Errorf("amount %s: not a number with at most two decimals", apperr.Quote(s))
	}
	if len(strings.TrimLeft(whole, "0")) > 14 { // parsing more digits could overflow
		return 0, fmt.Errorf("amount %s: beyond ±%s", apperr.Quote(s), "10000000000000.00")
	}
	for len(frac) < 2 {
		frac += "0"
	}
	n, err := strconv.ParseInt(whole+frac, 10, 64)
	if err == nil {
		err = CheckAmount(n)
	}
	if err != nil {
		return 0, fmt.Errorf("amount %s: beyond ±%s", apperr.Quote(s), "10000000000000.00")
	}
	if neg {
		n = -n
	}
	return n, nil
}

// ParseCents reads a whole number of minor units ("1234567", "-8000").
func ParseCents(s string) (int64, error) {
	v := strings.TrimSpace(s)
	if !digits(strings.TrimPrefix(v, "-")) {
		return 0, fmt.Errorf("amount_cents %s: not a whole number of cents", apperr.Quote(s))
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err == nil {
		err = CheckAmount(n)
	}
	if err != nil {
		return 0, fmt.Errorf("amount_cents %s: beyond ±10^15", apperr.Quote(s))
	}
	return n, nil
}

// digits reports whether s is one or more ASCII digits.
func digits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
