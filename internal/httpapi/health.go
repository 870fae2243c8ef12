package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/revenue-api/revenue-api/internal/apperr"
	"github.com/revenue-api/revenue-api/internal/token"
)

// healthz says the process is up; it checks nothing else.
func (s *Server) healthz(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	respond(c, http.StatusOK, gin.H{"status": "ok"})
}

// readyz runs every readiness check (database reachable, keys loaded) with a
// short deadline; any failure answers 503 so a load balancer stops routing.
func (s *Server) readyz(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
	defer cancel()
	names := make([]string, 0, len(s.Checks))
	for name := range s.Checks {
		names = append(names, name)
	}
	sort.Strings(names)
	checks := gin.H{}
	ready := true
	for _, name := range names {
		if err := s.Checks[name](ctx); err != nil {
			s.log.WarnContext(ctx, "readiness check failed", "check", name, "err", err)
			checks[name] = "failing"
			ready = false
		} else {
			checks[name] = "ok"
		}
	}
	if !ready {
		respond(c, http.StatusServiceUnavailable, gin.H{"status": "not_ready", "checks": checks})
		return
	}
	respond(c, http.StatusOK, gin.H{"status": "ready", "checks": checks})
}

// jwks publishes the public verification keys (RFC 7517) with a cache
// lifetime and an ETag, so verifiers can cache and revalidate cheaply.
func (s *Server) jwks(c *gin.Context) {
	body, err := token.MarshalJWKS(s.Keys())
	if err != nil {
		s.fail(c, err)
		return
	}
	sum := sha256.Sum256(body)
	etag := `"` + hex.EncodeToString(sum[:16]) + `"`
	c.Header("Cache-Control", fmt.Sprintf("public, max-age=%d", int(s.Config.JWKSMaxAge/time.Second)))
	c.Header("ETag", etag)
	if c.GetHeader("If-None-Match") == etag {
		c.Status(http.StatusNotModified)
		return
	}
	c.Data(http.StatusOK, "application/json", body)
}

// openAPI serves the contract the server is tested against.
func (s *Server) openAPI(c *gin.Context) {
	if len(s.OpenAPISpec) == 0 {
		writeProblem(c, apperr.ErrNotFound)
		return
	}
	c.Header("Cache-Control", "public, max-age=300")
	c.Data(http.StatusOK, "application/yaml", s.OpenAPISpec)
}
