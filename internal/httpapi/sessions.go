package httpapi

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
)

type sessionResponse struct {
	ID            string    `json:"id"`
	CreatedAt     time.Time `json:"created_at"`
	LastUsedAt    time.Time `json:"last_used_at"`
	IdleExpiresAt time.Time `json:"idle_expires_at"`
	ExpiresAt     time.Time `json:"expires_at"`
	ClientIP      string    `json:"client_ip"`
	UserAgent     string    `json:"user_agent"`
	Current       bool      `json:"current"`
}

func (s *Server) listSessions(c *gin.Context) {
	p := principal(c)
	list, err := s.Auth.Sessions(c.Request.Context(), p)
	if err != nil {
		s.fail(c, err)
		return
	}
	out := make([]sessionResponse, 0, len(list))
	for _, x := range list {
		out = append(out, sessionResponse{
			ID: x.ID, CreatedAt: x.CreatedAt.UTC(), LastUsedAt: x.LastUsedAt.UTC(),
			IdleExpiresAt: x.IdleExpiresAt.UTC(), ExpiresAt: x.ExpiresAt.UTC(),
			ClientIP: x.ClientIP, UserAgent: x.UserAgent, Current: x.ID == p.SessionID,
		})
	}
	respond(c, http.StatusOK, gin.H{"sessions": out})
}

func (s *Server) deleteSession(c *gin.Context) {
	if err := s.Auth.EndSession(c.Request.Context(), principal(c), c.Param("id"), client(c)); err != nil {
		s.fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}
