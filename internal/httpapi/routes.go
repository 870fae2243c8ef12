package httpapi

import (
	"github.com/gin-gonic/gin"

	"github.com/revenue-api/revenue-api/internal/apperr"
	"github.com/revenue-api/revenue-api/internal/auth"
)

// routes is the whole HTTP surface on one screen. Each route names the
// query parameters it knows (none, unless listed); any other is refused.
// Every GET route answers HEAD as well.
func (s *Server) routes(r *gin.Engine) {
	get(r, "/healthz", none, s.healthz)
	get(r, "/readyz", none, s.readyz)
	get(r, "/openapi.yaml", none, s.openAPI)
	if s.Keys != nil {
		get(r, "/.well-known/jwks.json", none, s.jwks)
	}
	if s.Feed != nil && s.Revocations != nil {
		get(r.Group("/", noStore), "/revocations", query("cursor", "wait"), s.revocationFeed)
	}
	if s.Config.MetricsOnMain {
		get(r, "/metrics", none, gin.WrapH(s.Metrics.handler))
	}

	api := r.Group("/", noStore)
	bearer := api.Group("/", s.authenticate)
	get(bearer, "/me", none, s.me)

	if s.Auth != nil {
		post(api, "/login", none, tokenAnswer, s.rateLimit("login"), s.login)
		post(api, "/token/refresh", none, tokenAnswer, s.rateLimit("refresh"), s.refresh)
		post(bearer, "/logout", none, s.logout)
		post(bearer, "/logout/all", none, s.logoutAll)
		get(bearer, "/sessions", none, s.listSessions)
		del(bearer, "/sessions/:id", none, s.deleteSession)
	}
	if s.Revenue != nil {
		get(bearer, "/revenue", query("from", "to"), requireScope(auth.ScopeRevenueRead), s.revenue)
		write := requireScope(auth.ScopeRevenueWrite)
		put(bearer, "/revenue/months/:month", none, write, s.setMonth)
		del(bearer, "/revenue/months/:month", none, write, s.deleteMonth)
		post(bearer, "/revenue/imports", query("dry_run"), write, s.importRevenue)
		get(bearer, "/revenue/changes", query("from", "to", "cursor", "limit"), write, s.revenueChanges)
	}

	r.NoMethod(func(c *gin.Context) {
		writeProblem(c, apperr.New(apperr.CodeMethodNotAllowed, "The method is not allowed on this resource."))
	})
	r.NoRoute(s.spaOrNotFound())
}
