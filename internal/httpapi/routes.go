package httpapi

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/revenue-api/revenue-api/internal/auth"
)

// routes is the whole HTTP surface on one screen.
func (s *Server) routes(r *gin.Engine) {
	r.GET("/healthz", s.healthz)
	r.GET("/readyz", s.readyz)
	r.GET("/openapi.yaml", s.openAPI)
	if s.Keys != nil {
		r.GET("/.well-known/jwks.json", s.jwks)
	}
	if !s.Config.MetricsElsewhere {
		r.GET("/metrics", gin.WrapH(s.Metrics.handler))
	}

	api := r.Group("/", noStore)
	bearer := api.Group("/", s.authenticate)
	bearer.GET("/me", s.me)

	if s.Auth != nil {
		api.POST("/login", tokenAnswer, s.rateLimit("login"), s.login)
		api.POST("/token/refresh", tokenAnswer, s.rateLimit("refresh"), s.refresh)
		bearer.POST("/logout", s.logout)
		bearer.POST("/logout/all", s.logoutAll)
		bearer.GET("/sessions", s.listSessions)
		bearer.DELETE("/sessions/:id", s.deleteSession)
	}
	if s.Revenue != nil {
		bearer.GET("/revenue", requireScope(auth.ScopeRevenueRead), s.revenue)
	}

	r.NoMethod(func(c *gin.Context) {
		writeProblem(c, newProblem(http.StatusMethodNotAllowed, "method_not_allowed", "The method is not allowed on this resource."))
	})
	r.NoRoute(s.spaOrNotFound())
}
