package revenue

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/revenue-api/revenue-api/internal/apperr"
)

// MaxImportBytes is the largest file an import takes (the body limit of
// POST /revenue/imports, above REVENUE_MAX_BODY_BYTES): every month from
// 1900 to 2999 fits many times over.
const MaxImportBytes = 1 << 20

// MaxCSVErrors is how many mistakes ParseCSV reports, at most, of one file.
const MaxCSVErrors = 20

// The two headers a revenue file may have.
const (
	headerMajor = "month,amount"
	headerCents = "month,amount_cents"
)

// errInvalidCSV is the error ParseCSV returns, with every mistake found
// (up to MaxCSVErrors) in its Details.
var errInvalidCSV = apperr.New(apperr.CodeInvalidCSV, "The file has mistakes; nothing was written.")

// ParseCSV reads a revenue file: a header "month,amount" (amounts in the
// currency's major unit, at most two decimals: 12345.67) or
// "month,amount_cents" (whole minor units), then one month per line. A
// UTF-8 byte order mark and CRLF line ends are accepted; blank lines are
// skipped. Every mistake names its line and column; on any mistake no
// figure is returned, so an import writes all months or none.
func ParseCSV(data []byte) ([]Figure, error) {
	data = bytes.TrimPrefix(data, []byte("\uFEFF"))
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, csvError(apperr.Detail{Line: 1, Column: 1, Message: "line 1: the file is empty; want the header " + headerMajor + " (or " + headerCents + ") and one month per line"})
	}
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = -1 // counted here, for a message that says what a line should hold
	header, err := r.Read()
	if err != nil {
		return nil, csvError(syntaxDetail(err))
	}
	parse := ParseAmount
	switch got := strings.ToLower(strings.Join(trimAll(header), ",")); got {
	case headerMajor:
	case headerCents:
		parse = ParseCents
	default:
		return nil, csvError(apperr.Detail{Line: 1, Column: 1, Message: fmt.Sprintf(
			"line 1: header %s: want %s (or %s)", apperr.Quote(strings.Join(header, ",")), headerMajor, headerCents)})
	}

	var (
		figures []Figure
		details []apperr.Detail
		more    int // mistakes beyond MaxCSVErrors
		seen    = map[Month]int{}
	)
	report := func(d apperr.Detail) {
		if len(details) < MaxCSVErrors {
			details = append(details, d)
		} else {
			more++
		}
	}
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			// A broken quote leaves the rest of the file unreadable.
			report(syntaxDetail(err))
			break
		}
		line, _ := r.FieldPos(0)
		if blank(rec) {
			continue // a line of spaces, or of empty fields (",", as spreadsheets export)
		}
		if len(rec) != 2 {
			col := 1 // where the line ends too soon, or its first field too many starts
			if len(rec) > 2 {
				_, col = r.FieldPos(2)
			}
			report(apperr.Detail{Line: line, Column: col, Message: fmt.Sprintf("line %d: %d fields; want 2 (%s)", line, len(rec), strings.Join(header, ","))})
			continue
		}
		m, err := ParseEditableMonth(strings.TrimSpace(rec[0]))
		if err != nil {
			_, col := r.FieldPos(0)
			report(apperr.Detail{Line: line, Column: col, Message: fmt.Sprintf("line %d: month %s", line, err)})
		} else if first, dup := seen[m]; dup {
			_, col := r.FieldPos(0)
			report(apperr.Detail{Line: line, Column: col, Message: fmt.Sprintf("line %d: month %s appears again (first on line %d)", line, m, first)})
		} else {
			seen[m] = line
		}
		cents, err := parse(rec[1])
		if err != nil {
			_, col := r.FieldPos(1)
			report(apperr.Detail{Line: line, Column: col, Message: fmt.Sprintf("line %d: %s", line, err)})
			continue
		}
		figures = append(figures, Figure{Month: m, AmountCents: cents})
	}
	if more > 0 {
		details = append(details, apperr.Detail{Message: fmt.Sprintf("and %d more mistakes", more)})
	}
	if len(details) > 0 {
		return nil, csvError(details...)
	}
	if len(figures) == 0 {
		return nil, csvError(apperr.Detail{Line: 2, Column: 1, Message: "line 2: no months after the header"})
	}
	return figures, nil
}

func csvError(details ...apperr.Detail) error {
	e := *errInvalidCSV
	e.Details = details
	if len(details) == 1 {
		e.Message = "The file has a mistake; nothing was written: " + details[0].Message
	}
	return &e
}

// syntaxDetail turns a csv.ParseError (a stray quote, say) into a Detail.
func syntaxDetail(err error) apperr.Detail {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return apperr.Detail{Line: pe.Line, Column: pe.Column, Message: fmt.Sprintf("line %d, column %d: %v", pe.Line, pe.Column, pe.Err)}
	}
	return apperr.Detail{Line: 1, Message: "line 1: the file cannot be read as CSV"}
}

// blank reports whether every field of rec is empty or spaces.
func blank(rec []string) bool {
	for _, f := range rec {
		if strings.TrimSpace(f) != "" {
			return false
		}
	}
	return true
}

func trimAll(fields []string) []string {
	out := make([]string, len(fields))
	for i, f := range fields {
		out[i] = strings.TrimSpace(f)
	}
	return out
}
