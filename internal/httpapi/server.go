// Package httpapi is the HTTP face of the service: a gin router, its
// middleware, one file per resource and the one error-to-response mapping.
// It never talks to the database itself; it calls the domain services.
package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-contrib/cors"
	"github.com/gin-gonic/gin"

	"github.com/revenue-api/revenue-api/internal/apperr"
	"github.com/revenue-api/revenue-api/internal/auth"
	"github.com/revenue-api/revenue-api/internal/revenue"
	"github.com/revenue-api/revenue-api/internal/revocation"
	"github.com/revenue-api/revenue-api/internal/token"
)

// Verifier checks an access token and returns who it names.
type Verifier interface {
	Verify(raw string) (auth.Principal, error)
}

// Config is the part of the service configuration the HTTP layer uses.
type Config struct {
	CORSOrigins    []string
	TrustedProxies []string
	MaxBodyBytes   int64
	CookieSecure   bool
	AuthRate       float64 // per second per client address on /login and /token/refresh
	AuthBurst      int
	WebDir         string        // built SPA; empty or missing: not served
	JWKSMaxAge     time.Duration // Cache-Control max-age of the JWKS
	// MetricsOnMain serves /metrics on this router too. Off by default: the
	// metrics tell an outsider much (failed logins by reason, say), so they
	// belong on the operators' own address.
	MetricsOnMain bool
}

// Deps is everything the server needs. Auth and Revenue are nil in a
// verifier-only process: their routes are then absent.
type Deps struct {
	Config      Config
	Log         *slog.Logger
	AccessLog   *AccessLog // one line per request; nil: none (5xx answers are logged to Log either way)
	Auth        *auth.Service
	Revenue     *revenue.Service
	Verifier    Verifier
	Revocations *revocation.Set      // checked after every verified token; nil: none
	Feed        *RevocationFeed      // GET /revocations; nil: not served
	Keys        func() *token.KeySet // JWKS source; nil: no JWKS route
	Checks      map[string]func(context.Context) error
	Metrics     *Metrics
	OpenAPISpec []byte
	Now         func() time.Time
}

// Server holds the handlers' dependencies.
type Server struct {
	Deps
	log     *slog.Logger
	limiter *rateLimiter
	proxied bool // some proxy is trusted to name the client (X-Forwarded-For)
}

// NewServer builds the router with every route and middleware.
func NewServer(d Deps) (http.Handler, error) {
	if d.Verifier == nil || d.Log == nil || d.Now == nil {
		return nil, errors.New("httpapi: Verifier, Log and Now are required")
	}
	if d.Metrics == nil {
		d.Metrics = NewMetrics(nil)
	}
	s := &Server{Deps: d, log: d.Log, limiter: newRateLimiter(d.Config.AuthRate, d.Config.AuthBurst, d.Now),
		proxied: len(d.Config.TrustedProxies) > 0}
	if d.Config.MetricsOnMain {
		d.Log.Warn("/metrics is served on the main address (REVENUE_METRICS_ON_MAIN=true): anyone who reaches it reads the metrics; prefer REVENUE_METRICS_ADDR on an operators' network")
	}

	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.RedirectTrailingSlash = false
	r.RedirectFixedPath = false
	r.ContextWithFallback = true
	// Client addresses come from the connection unless the request came
	// through a configured proxy, so X-Forwarded-For cannot be spoofed.
	if err := r.SetTrustedProxies(d.Config.TrustedProxies); err != nil {
		return nil, err
	}
	r.Use(s.requestID, s.recoverPanic, s.accessLog, discardHeadBody, securityHeaders)
	if len(d.Config.CORSOrigins) > 0 {
		r.Use(s.corsOnlyFor(cors.New(cors.Config{
			AllowOrigins:     d.Config.CORSOrigins,
			AllowMethods:     []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete},
			AllowHeaders:     []string{"Authorization", "Content-Type", deliveryHeader, "X-Request-ID", "If-Match", "If-None-Match"},
			ExposeHeaders:    []string{"X-Request-ID", "Retry-After", "WWW-Authenticate", "ETag"},
			AllowCredentials: true,
			MaxAge:           10 * time.Minute,
		})))
	}
	s.routes(r)
	return r, nil
}

// varyOrigin is the Vary of every answer when CORS is configured. The
// slice is shared: header values are only ever replaced or appended to, and
// appending to a full slice copies it.
var varyOrigin = []string{"Origin"}

// corsOnlyFor answers a request from an origin that is neither the server's
// own nor configured with a problem body, and hands the rest to the CORS
// middleware (which would refuse with an empty 403).
//
// Every answer says Vary: Origin, not only those the middleware marks (to
// an allowed foreign origin): whether an answer carries
// Access-Control-Allow-Origin depends on Origin, and a shared cache holding
// a public answer (the JWKS, /openapi.yaml, the web app's assets) made for
// a request without one, or from the server's own origin, must not hand it
// to the configured origin, nor the reverse.
func (s *Server) corsOnlyFor(next gin.HandlerFunc) gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Writer.Header()["Vary"] = varyOrigin
		if origin := c.GetHeader("Origin"); origin != "" && !s.allowedOrigin(c, origin) {
			writeProblem(c, apperr.New(apperr.CodeForbiddenOrigin, "Requests from this origin are not allowed."))
			return
		}
		next(c)
	}
}
