package httpapi

import (
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
)

type meResponse struct {
	Sub       string    `json:"sub"`
	Email     string    `json:"email"`
	OrgID     string    `json:"org_id"`
	Roles     []string  `json:"roles"`
	Scope     string    `json:"scope"`
	SessionID string    `json:"sid"`
	IssuedAt  time.Time `json:"issued_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

// me answers from the token's claims alone: no database.
func (s *Server) me(c *gin.Context) {
	p := principal(c)
	roles := p.Roles
	if roles == nil {
		roles = []string{}
	}
	respond(c, http.StatusOK, meResponse{
		Sub: p.UserID, Email: p.Email, OrgID: p.OrgID, Roles: roles, Scope: strings.Join(p.Scopes, " "),
		SessionID: p.SessionID, IssuedAt: p.IssuedAt.UTC(), ExpiresAt: p.ExpiresAt.UTC(),
	})
}
