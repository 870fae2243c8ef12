package httpapi

import (
	"net/http"
	"net/url"

	"github.com/gin-gonic/gin"

	"github.com/revenue-api/revenue-api/internal/revenue"
)

type revenueResponse struct {
	Organization organizationResponse `json:"organization"`
	Currency     string               `json:"currency"`
	From         *string              `json:"from"`
	To           *string              `json:"to"`
	Months       []monthResponse      `json:"months"`
	TotalCents   int64                `json:"total_cents"`
}

type organizationResponse struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

type monthResponse struct {
	Month       string `json:"month"`
	AmountCents int64  `json:"amount_cents"`
}

// revenue answers with the revenue of the organization named in the token.
// No parameter can name another organization: the route knows only from
// and to (routes.go).
func (s *Server) revenue(c *gin.Context) {
	_, r, ok := s.rangeQuery(c)
	if !ok {
		return
	}
	rep, err := s.Revenue.Monthly(c.Request.Context(), principal(c).OrgID, r)
	if err != nil {
		s.fail(c, err)
		return
	}
	tag := orgTagOf(c)
	tag.setETag(c, rep.Version)
	// The figures are the token's organization's: say so to any cache,
	// though none may store them (no-store), nor, without being told,
	// share an answer to a request with Authorization (RFC 9111 §3.5).
	// A 304 carries it too (RFC 9110 §15.4.5).
	c.Writer.Header().Add("Vary", "Authorization")
	if tag.noneMatch(c.Request.Header.Values("If-None-Match"), rep.Version) {
		c.AbortWithStatus(http.StatusNotModified)
		return
	}
	out := revenueResponse{
		Organization: organizationResponse{ID: rep.OrganizationID, Name: rep.OrganizationName},
		Currency:     rep.Currency,
		Months:       make([]monthResponse, 0, len(rep.Months)),
		TotalCents:   rep.TotalCents,
	}
	for _, f := range rep.Months {
		out.Months = append(out.Months, monthResponse{Month: f.Month.String(), AmountCents: f.AmountCents})
	}
	span := rep.Span()
	out.From, out.To = monthPtr(span.From), monthPtr(span.To)
	respond(c, http.StatusOK, out)
}

// rangeQuery is the request's query (each parameter once, with a value:
// the route's query check) and the month range of its from and to.
func (s *Server) rangeQuery(c *gin.Context) (url.Values, revenue.Range, bool) {
	q := c.Request.URL.Query()
	r, err := revenue.ParseRange(q.Get("from"), q.Get("to"))
	if err != nil {
		s.fail(c, err)
		return nil, revenue.Range{}, false
	}
	return q, r, true
}

func monthPtr(m revenue.Month) *string {
	if m == (revenue.Month{}) {
		return nil
	}
	v := m.String()
	return &v
}
