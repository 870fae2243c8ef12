package httpapi

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/revenue-api/revenue-api/internal/apperr"
	"github.com/revenue-api/revenue-api/internal/revenue"
)

// etagPrefix starts every ETag of an organization's figures.
const etagPrefix = `"rev-`

// orgTag is the start of the ETags of one organization's figures, all but
// their version: `"rev-<org>-`. Every organization's version counter
// starts at 0 and GET /revenue is one URL for all of them, so a tag that
// did not name its organization would match another's figures whenever
// the counters agree. <org> is the first 8 bytes of the SHA-256 of the
// organization's id, in hex: the same on every replica and after a
// restart, and opaque (the id is no secret to the caller, who has it in
// the token and the body, but a client must not read one out of a tag).
type orgTag string

// orgTagOf is the tag of the organization named in the request's token.
func orgTagOf(c *gin.Context) orgTag {
	sum := sha256.Sum256([]byte(principal(c).OrgID))
	return orgTag(etagPrefix + hex.EncodeToString(sum[:8]) + "-")
}

// etag is the organization's ETag at version v.
func (o orgTag) etag(v revenue.Version) string {
	return string(o) + strconv.FormatInt(int64(v), 10) + `"`
}

func (o orgTag) setETag(c *gin.Context, v revenue.Version) { c.Header("ETag", o.etag(v)) }

// version reads one entity tag of an If-Match or If-None-Match list; false
// for a tag that is not one of this organization's (it matches nothing),
// another organization's included.
func (o orgTag) version(tag string) (revenue.Version, bool) {
	rest, ok := strings.CutPrefix(tag, string(o))
	if !ok || !strings.HasSuffix(rest, `"`) {
		return 0, false
	}
	digits := strings.TrimSuffix(rest, `"`)
	n, err := strconv.ParseInt(digits, 10, 64)
	// Strong comparison is byte for byte: "…-07" is not "…-7".
	return revenue.Version(n), err == nil && n >= 0 && strconv.FormatInt(n, 10) == digits
}

// etagList splits the values of an If-Match or If-None-Match header into
// entity tags (RFC 9110 §13.1.1: a comma-separated list, or "*").
func etagList(values []string) []string {
	var tags []string
	for _, v := range values {
		for _, t := range strings.Split(v, ",") {
			if t = strings.TrimSpace(t); t != "" {
				tags = append(tags, t)
			}
		}
	}
	return tags
}

// noneMatch evaluates If-None-Match (weak comparison) against the
// organization's figures at version v: true when the client already has
// them.
func (o orgTag) noneMatch(values []string, v revenue.Version) bool {
	for _, t := range etagList(values) {
		if t == "*" {
			return true
		}
		if got, ok := o.version(strings.TrimPrefix(t, "W/")); ok && got == v {
			return true
		}
	}
	return false
}

// revenueWrite is the write a request makes: the organization and author
// from its token, and the If-Match condition, if any. If-Match compares
// strongly (RFC 9110 §13.1.1), so a weak tag matches nothing; "*" matches
// (an organization's figures always exist); a header present but holding
// no tag of this organization's (another organization's, say) fails the
// condition rather than being ignored.
func (s *Server) revenueWrite(c *gin.Context, source revenue.Source) revenue.Write {
	p := principal(c)
	w := revenue.Write{
		OrgID:     p.OrgID,
		Author:    revenue.Author{UserID: p.UserID, Email: p.Email},
		Source:    source,
		RequestID: requestIDOf(c),
	}
	tag := orgTagOf(c)
	// If-None-Match (weak comparison): "*" makes a PUT create only (and
	// refuses a DELETE of a month that exists, or any import); a tag of
	// this organization refuses the write while the figures are at that
	// version.
	for _, t := range etagList(c.Request.Header.Values("If-None-Match")) {
		if t == "*" {
			w.IfNoneMatchAny = true
		} else if v, ok := tag.version(strings.TrimPrefix(t, "W/")); ok {
			w.IfNoneMatch = append(w.IfNoneMatch, v)
		}
	}
	values := c.Request.Header.Values("If-Match")
	if len(values) == 0 {
		return w
	}
	w.Conditional = true
	for _, t := range etagList(values) {
		if t == "*" {
			w.Conditional = false
			return w
		}
		if v, ok := tag.version(t); ok {
			w.IfMatch = append(w.IfMatch, v)
		}
	}
	return w
}

func monthParam(c *gin.Context) (revenue.Month, error) {
	m, err := revenue.ParseEditableMonth(c.Param("month"))
	if err != nil {
		return revenue.Month{}, apperr.Invalid("month", err.Error())
	}
	return m, nil
}

type setMonthRequest struct {
	AmountCents *int64 `json:"amount_cents"`
}

// setMonth is PUT /revenue/months/{month}: 201 when the month is new, 200
// when it changed or already had that amount.
func (s *Server) setMonth(c *gin.Context) {
	m, err := monthParam(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	var req setMonthRequest
	if _, err := s.decodeJSON(c, &req, false); err != nil {
		s.fail(c, err)
		return
	}
	if req.AmountCents == nil {
		s.fail(c, invalidRequest(`The member "amount_cents" is required: the month's amount in minor units (cents), a whole number.`))
		return
	}
	res, err := s.Revenue.SetMonth(c.Request.Context(), s.revenueWrite(c, revenue.SourceAPI),
		revenue.Figure{Month: m, AmountCents: *req.AmountCents})
	if err != nil {
		s.fail(c, err)
		return
	}
	orgTagOf(c).setETag(c, res.Version)
	status := http.StatusOK
	if res.Created {
		status = http.StatusCreated
		c.Header("Location", "/revenue/months/"+m.String())
	}
	respond(c, status, monthResponse{Month: m.String(), AmountCents: res.Figure.AmountCents})
}

// deleteMonth is DELETE /revenue/months/{month}.
func (s *Server) deleteMonth(c *gin.Context) {
	m, err := monthParam(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	v, err := s.Revenue.DeleteMonth(c.Request.Context(), s.revenueWrite(c, revenue.SourceAPI), m)
	if err != nil {
		s.fail(c, err)
		return
	}
	orgTagOf(c).setETag(c, v)
	c.Status(http.StatusNoContent)
}

type importResponse struct {
	DryRun    bool `json:"dry_run"`
	Months    int  `json:"months"`
	Inserted  int  `json:"inserted"`
	Updated   int  `json:"updated"`
	Unchanged int  `json:"unchanged"`
}

// importRevenue is POST /revenue/imports: a CSV file of months, all stored
// or, on any mistake, none; with dry_run=true only checked and counted.
func (s *Server) importRevenue(c *gin.Context) {
	dryRun := false
	if v, given := c.GetQuery("dry_run"); given { // once, not empty: the route's query check
		var err error
		if dryRun, err = strconv.ParseBool(v); err != nil {
			s.fail(c, apperr.Invalid("dry_run", apperr.Quote(v)+" is not true or false"))
			return
		}
	}
	body, err := readCSV(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	figures, err := revenue.ParseCSV(body)
	if err != nil {
		s.fail(c, err)
		return
	}
	res, err := s.Revenue.Import(c.Request.Context(), s.revenueWrite(c, revenue.SourceImport), figures, dryRun)
	if err != nil {
		s.fail(c, err)
		return
	}
	orgTagOf(c).setETag(c, res.Version)
	respond(c, http.StatusOK, importResponse{DryRun: res.DryRun, Months: res.Months,
		Inserted: res.Inserted, Updated: res.Updated, Unchanged: res.Unchanged})
}

// readCSV reads a text/csv body in UTF-8, within revenue.MaxImportBytes.
func readCSV(c *gin.Context) ([]byte, error) {
	req := c.Request
	mt, params, err := mime.ParseMediaType(req.Header.Get("Content-Type"))
	if err != nil || mt != "text/csv" {
		return nil, apperr.New(apperr.CodeUnsupportedMediaType, "Send the file as text/csv.")
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "us-ascii") {
		return nil, apperr.New(apperr.CodeUnsupportedMediaType, "Send the file in UTF-8, not charset "+apperr.Quote(cs)+".")
	}
	if err := identityEncoding(req); err != nil {
		return nil, err
	}
	if req.ContentLength > revenue.MaxImportBytes {
		return nil, tooLarge(revenue.MaxImportBytes)
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, req.Body, revenue.MaxImportBytes))
	var maxErr *http.MaxBytesError
	if errors.As(err, &maxErr) {
		return nil, tooLarge(revenue.MaxImportBytes)
	} else if err != nil {
		return nil, invalidRequest("The body could not be read.")
	}
	return body, nil
}

type changesResponse struct {
	Changes    []changeResponse `json:"changes"`
	NextCursor *string          `json:"next_cursor"`
}

type changeResponse struct {
	ID        string        `json:"id"`
	Month     string        `json:"month"`
	Old       *int64        `json:"old_amount_cents"`
	New       *int64        `json:"new_amount_cents"`
	Actor     actorResponse `json:"actor"`
	Source    string        `json:"source"`
	RequestID *string       `json:"request_id"`
	ChangedAt string        `json:"changed_at"`
}

type actorResponse struct {
	Type   string `json:"type"` // "user" or "cli"
	UserID string `json:"user_id,omitempty"`
	Email  string `json:"email,omitempty"`
	OSUser string `json:"os_user,omitempty"`
}

// revenueChanges is GET /revenue/changes: who changed what, newest first,
// a page at a time (next_cursor, opaque, gives the next).
func (s *Server) revenueChanges(c *gin.Context) {
	q, r, ok := s.rangeQuery(c)
	if !ok {
		return
	}
	query := revenue.ChangeQuery{Range: r, Limit: 50}
	if v := q.Get("cursor"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			s.fail(c, apperr.Invalid("cursor", apperr.Quote(v)+" is not a next_cursor of this resource"))
			return
		}
		query.Before = n
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > revenue.MaxChangesPage {
			s.fail(c, apperr.Invalid("limit", apperr.Quote(v)+" is not a whole number from 1 to "+strconv.Itoa(revenue.MaxChangesPage)))
			return
		}
		query.Limit = n
	}
	list, next, err := s.Revenue.Changes(c.Request.Context(), principal(c).OrgID, query)
	if err != nil {
		s.fail(c, err)
		return
	}
	out := changesResponse{Changes: make([]changeResponse, 0, len(list))}
	for _, ch := range list {
		cr := changeResponse{ID: strconv.FormatInt(ch.ID, 10), Month: ch.Month.String(), Old: ch.Old, New: ch.New,
			Source: string(ch.Source), ChangedAt: ch.At.UTC().Format(time.RFC3339)}
		if ch.RequestID != "" {
			cr.RequestID = &ch.RequestID
		}
		if ch.Author.UserID != "" {
			cr.Actor = actorResponse{Type: "user", UserID: ch.Author.UserID, Email: ch.Author.Email}
		} else {
			cr.Actor = actorResponse{Type: "cli", OSUser: ch.Author.OSUser}
		}
		out.Changes = append(out.Changes, cr)
	}
	if next > 0 {
		v := strconv.FormatInt(next, 10)
		out.NextCursor = &v
	}
	respond(c, http.StatusOK, out)
}
