package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/golang-jwt/jwt/v5"
	"github.com/jackc/pgx/v5"

	"github.com/revenue-api/revenue-api/internal/auth"
	"github.com/revenue-api/revenue-api/internal/postgres"
	"github.com/revenue-api/revenue-api/internal/revenue"
	"github.com/revenue-api/revenue-api/internal/token"
)

// The baselines serve GET /me and GET /revenue with the same handler code as
// the service (meHandler and revenueHandler below mirror internal/httpapi's
// me.go and revenue.go: same checks, same queries, same JSON), behind one of
// three ways of knowing the caller, and nothing else: no request id, no
// access log, no metrics, no security headers.
const (
	modeNoAuth  = "noauth"  // no authentication at all: a fixed principal
	modeJWT     = "jwt"     // a minimal golang-jwt v5 middleware, RS256, key in memory
	modeSession = "session" // a server-side session looked up in PostgreSQL per request
)

// sessionCookie carries the session id to the session baseline.
const sessionCookie = "session"

func baselineCommand(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("baseline", flag.ContinueOnError)
	fs.SetOutput(stderr)
	mode := fs.String("mode", "", "noauth, jwt or session")
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	dbURL := fs.String("db", "", "PostgreSQL connection string (revenue and session lookups)")
	keyFile := fs.String("key", "", "PEM key whose public half verifies tokens (jwt)")
	headers := fs.Bool("headers", false, "send the service's fixed response headers too")
	var fixed auth.Principal
	fs.StringVar(&fixed.UserID, "sub", "", "noauth: the user id")
	fs.StringVar(&fixed.Email, "email", "", "noauth: the email")
	fs.StringVar(&fixed.OrgID, "org", "", "noauth: the organization id")
	roles := fs.String("roles", "", "noauth: comma-separated roles")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *roles != "" {
		fixed.Roles = strings.Split(*roles, ",")
	}
	fixed.Scopes = auth.ScopesFor(fixed.Roles)

	db, err := postgres.Open(ctx, *dbURL, 0, 5*time.Second)
	if err != nil {
		return err
	}
	defer db.Close()

	var authenticate gin.HandlerFunc
	switch *mode {
	case modeNoAuth:
		authenticate = func(c *gin.Context) {
			c.Request = c.Request.WithContext(auth.WithPrincipal(c.Request.Context(), fixed))
			c.Next()
		}
	case modeJWT:
		k, err := token.LoadFile(*keyFile)
		if err != nil {
			return err
		}
		authenticate = jwtMiddleware(k.Public)
	case modeSession:
		authenticate = sessionMiddleware(db)
	default:
		return fmt.Errorf("-mode %q: want noauth, jwt or session", *mode)
	}

	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	if *headers {
		r.Use(serviceHeaders)
	}
	r.GET("/healthz", func(c *gin.Context) { c.String(http.StatusOK, "ok") })
	g := r.Group("/", authenticate)
	g.GET("/me", meHandler)
	g.GET("/revenue", revenueHandler(revenue.NewService(postgres.NewRevenueStore(db))))

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: r, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 60 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// serviceHeaders sets the response headers every answer of the service
// carries (internal/httpapi/middleware.go: request id, security headers,
// no-store), to tell their cost apart from authentication's.
func serviceHeaders(c *gin.Context) {
	h := c.Writer.Header()
	for k, v := range map[string]string{
		"X-Request-Id":            "0123456789abcdef01234567",
		"X-Content-Type-Options":  "nosniff",
		"X-Frame-Options":         "DENY",
		"Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
		"Cache-Control":           "no-store",
	} {
		h[k] = []string{v}
	}
	c.Next()
}

// baselineClaims are the claims the handlers need, as a minimal middleware
// would declare them.
type baselineClaims struct {
	jwt.RegisteredClaims
	SessionID string   `json:"sid"`
	OrgID     string   `json:"org_id"`
	Email     string   `json:"email"`
	Roles     []string `json:"roles"`
	Scope     string   `json:"scope"`
}

// jwtMiddleware is the textbook golang-jwt middleware: parse and verify
// with the one key, RS256 only (the library checks exp and nbf), and nothing
// more.
func jwtMiddleware(pub any) gin.HandlerFunc {
	keyFunc := func(*jwt.Token) (any, error) { return pub, nil }
	return func(c *gin.Context) {
		raw, ok := strings.CutPrefix(c.GetHeader("Authorization"), "Bearer ")
		if !ok {
			c.AbortWithStatus(http.StatusUnauthorized)
			return
		}
		var claims baselineClaims
		if _, err := jwt.ParseWithClaims(raw, &claims, keyFunc, jwt.WithValidMethods([]string{"RS256"})); err != nil {
			c.AbortWithStatus(http.StatusUnauthorized)
			return
		}
		p := auth.Principal{
			Identity: auth.Identity{UserID: claims.Subject, Email: claims.Email, OrgID: claims.OrgID,
				Roles: claims.Roles, Scopes: strings.Fields(claims.Scope), SessionID: claims.SessionID},
			TokenID: claims.ID,
		}
		if claims.ExpiresAt != nil {
			p.ExpiresAt = claims.ExpiresAt.Time
		}
		if claims.IssuedAt != nil {
			p.IssuedAt = claims.IssuedAt.Time
		}
		c.Request = c.Request.WithContext(auth.WithPrincipal(c.Request.Context(), p))
		c.Next()
	}
}

// sessionMiddleware is the classic alternative to tokens: an opaque session
// id in a cookie, looked up with its user in PostgreSQL on every request.
// It only reads (many implementations also write last_used_at, which would
// cost more).
func sessionMiddleware(db *postgres.DB) gin.HandlerFunc {
	const lookup = `SELECT u.id::text, u.email, u.organization_id::text, u.roles, s.expires_at
		FROM sessions s JOIN users u ON u.id = s.user_id
		WHERE s.id = $1 AND s.ended_at IS NULL AND s.idle_expires_at > now() AND s.expires_at > now()
			AND NOT u.disabled`
	return func(c *gin.Context) {
		id, err := c.Cookie(sessionCookie)
		if err != nil || len(id) != 36 {
			c.AbortWithStatus(http.StatusUnauthorized)
			return
		}
		ctx, cancel := context.WithTimeout(c.Request.Context(), 5*time.Second)
		defer cancel()
		p := auth.Principal{Identity: auth.Identity{SessionID: id}}
		err = db.Pool.QueryRow(ctx, lookup, id).Scan(&p.UserID, &p.Email, &p.OrgID, &p.Roles, &p.ExpiresAt)
		if errors.Is(err, pgx.ErrNoRows) {
			c.AbortWithStatus(http.StatusUnauthorized)
			return
		}
		if err != nil {
			c.AbortWithStatus(http.StatusServiceUnavailable)
			return
		}
		p.Scopes = auth.ScopesFor(p.Roles)
		c.Request = c.Request.WithContext(auth.WithPrincipal(c.Request.Context(), p))
		c.Next()
	}
}

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

func meHandler(c *gin.Context) {
	p, _ := auth.PrincipalFrom(c.Request.Context())
	roles := p.Roles
	if roles == nil {
		roles = []string{}
	}
	c.JSON(http.StatusOK, meResponse{
		Sub: p.UserID, Email: p.Email, OrgID: p.OrgID, Roles: roles, Scope: strings.Join(p.Scopes, " "),
		SessionID: p.SessionID, IssuedAt: p.IssuedAt.UTC(), ExpiresAt: p.ExpiresAt.UTC(),
	})
}

type revenueResponse struct {
	Organization struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"organization"`
	Currency   string          `json:"currency"`
	From       *string         `json:"from"`
	To         *string         `json:"to"`
	Months     []monthResponse `json:"months"`
	TotalCents int64           `json:"total_cents"`
}

type monthResponse struct {
	Month       string `json:"month"`
	AmountCents int64  `json:"amount_cents"`
}

func revenueHandler(svc *revenue.Service) gin.HandlerFunc {
	return func(c *gin.Context) {
		p, _ := auth.PrincipalFrom(c.Request.Context())
		if !p.HasScope(auth.ScopeRevenueRead) {
			c.AbortWithStatus(http.StatusForbidden)
			return
		}
		q := c.Request.URL.Query()
		for name := range q {
			if (name != "from" && name != "to") || len(q[name]) > 1 {
				c.AbortWithStatus(http.StatusBadRequest)
				return
			}
		}
		r, err := revenue.ParseRange(q.Get("from"), q.Get("to"))
		if err != nil {
			c.AbortWithStatus(http.StatusBadRequest)
			return
		}
		rep, err := svc.Monthly(c.Request.Context(), p.OrgID, r)
		if err != nil {
			c.AbortWithStatus(http.StatusServiceUnavailable)
			return
		}
		var out revenueResponse
		out.Organization.ID, out.Organization.Name = rep.OrganizationID, rep.OrganizationName
		out.Currency, out.TotalCents = rep.Currency, rep.TotalCents
		out.Months = make([]monthResponse, 0, len(rep.Months))
		for _, f := range rep.Months {
			out.Months = append(out.Months, monthResponse{Month: f.Month.String(), AmountCents: f.AmountCents})
		}
		span := rep.Span()
		out.From, out.To = monthPtr(span.From), monthPtr(span.To)
		c.JSON(http.StatusOK, out)
	}
}

func monthPtr(m revenue.Month) *string {
	if m == (revenue.Month{}) {
		return nil
	}
	v := m.String()
	return &v
}
