package httpapi

import (
	"net/http"
	"strings"
	"sync"
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
	me := meResponse{
		Sub: p.UserID, Email: p.Email, OrgID: p.OrgID, Roles: roles, Scope: strings.Join(p.Scopes, " "),
		SessionID: p.SessionID, IssuedAt: p.IssuedAt.UTC(), ExpiresAt: p.ExpiresAt.UTC(),
	}
	c.Header("Content-Type", "application/json; charset=utf-8")
	c.Status(http.StatusOK)
	buf := mePool.Get().(*[]byte)
	*buf = me.appendJSON((*buf)[:0])
	_, _ = c.Writer.Write(*buf)
	mePool.Put(buf)
}

// mePool holds the buffers /me answers are written from.
var mePool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// appendJSON appends r as encoding/json would write it (HTML characters
// not escaped, a newline after), without its reflection: GET /me is the
// service's most frequent request, and answers from the token alone.
func (r meResponse) appendJSON(b []byte) []byte {
	b = append(b, `{"sub":`...)
	b = appendJSONString(b, r.Sub)
	b = append(b, `,"email":`...)
	b = appendJSONString(b, r.Email)
	b = append(b, `,"org_id":`...)
	b = appendJSONString(b, r.OrgID)
	b = append(b, `,"roles":[`...)
	for i, role := range r.Roles {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, role)
	}
	b = append(b, `],"scope":`...)
	b = appendJSONString(b, r.Scope)
	b = append(b, `,"sid":`...)
	b = appendJSONString(b, r.SessionID)
	b = append(b, `,"issued_at":"`...)
	b = r.IssuedAt.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","expires_at":"`...)
	b = r.ExpiresAt.AppendFormat(b, time.RFC3339Nano)
	return append(b, "\"}\n"...)
}
