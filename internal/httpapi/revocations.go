package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/revenue-api/revenue-api/internal/auth"
	"github.com/revenue-api/revenue-api/internal/revocation"
	"github.com/revenue-api/revenue-api/internal/token"
)

// RevocationFeed publishes this replica's revocations to verifier-only
// services: GET /revocations?cursor=N, with the feed token as a bearer
// credential, answers one signed page (application/jwt) of what a reader
// at cursor lacks.
type RevocationFeed struct {
	Token string // the shared feed token
	Sign  func(revs []revocation.Revocation, cursor uint64) (string, error)
}

// checkRevoked refuses a verified token that was revoked since it was
// issued, and every token when the revocation state is too old to tell. It
// runs after the verifier, so a token answered from the verified-token
// cache is checked too. It reads memory only.
func (s *Server) checkRevoked(c *gin.Context, p auth.Principal) bool {
	if s.Revocations == nil {
		return true
	}
	err := s.Revocations.Check(p.SessionID, p.UserID, p.IssuedAt, s.Now())
	switch {
	case err == nil:
		return true
	case errors.Is(err, revocation.ErrRevoked):
		s.unauthorized(c, token.ReasonRevoked, "")
	default:
		writeProblem(c, &problemError{status: http.StatusServiceUnavailable, code: "revocations_unavailable",
			detail: "The service cannot currently tell whether tokens were revoked. Retry shortly.", retryAfter: 5})
	}
	return false
}

// revocationFeed answers a verifier's poll. A replica whose own state is
// stale answers 503 instead of vouching for an incomplete page.
func (s *Server) revocationFeed(c *gin.Context) {
	if !s.feedAuthorized(c.Request.Header.Values("Authorization")) {
		c.Header("WWW-Authenticate", bearerChallenge("invalid_token", "the revocation feed needs its feed token", ""))
		writeProblem(c, newProblem(http.StatusUnauthorized, "invalid_token", "Send the revocation feed token in the Authorization header: Bearer TOKEN."))
		return
	}
	var cursor uint64
	if v, ok := c.GetQuery("cursor"); ok {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			writeProblem(c, newProblem(http.StatusBadRequest, "invalid_parameter", "cursor must be the cursor of a previous page (a decimal number)."))
			return
		}
		cursor = n
	}
	now := s.Now()
	if s.Revocations.Stale(now) {
		writeProblem(c, &problemError{status: http.StatusServiceUnavailable, code: "revocations_unavailable",
			detail: "This replica's revocation state is stale. Retry shortly.", retryAfter: 1})
		return
	}
	revs, next := s.Revocations.Since(cursor, now)
	page, err := s.Feed.Sign(revs, next)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Data(http.StatusOK, "application/jwt", []byte(page))
}

// feedAuthorized compares the bearer credential with the feed token in
// constant time (over their hashes, so the length does not leak either).
func (s *Server) feedAuthorized(values []string) bool {
	if len(values) != 1 {
		return false
	}
	scheme, raw, ok := strings.Cut(values[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(raw)))
	want := sha256.Sum256([]byte(s.Feed.Token))
	return subtle.ConstantTimeCompare(got[:], want[:]) == 1
}
