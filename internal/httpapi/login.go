package httpapi

import (
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/revenue-api/revenue-api/internal/apperr"
	"github.com/revenue-api/revenue-api/internal/auth"
)

// Refresh token delivery. JSON clients (curl, Postman) get the refresh token
// in the body. A browser asks for the cookie with this header; the header is
// also what makes a cross-site request impossible without a CORS preflight.
const (
	deliveryHeader = "X-Refresh-Token-Delivery"
	refreshCookie  = "revenue_refresh"
	refreshPath    = "/token/refresh"
)

type loginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

type refreshRequest struct {
	RefreshToken string `json:"refresh_token"`
}

type tokenResponse struct {
	AccessToken      string `json:"access_token"`
	TokenType        string `json:"token_type"`
	ExpiresIn        int64  `json:"expires_in"`
	RefreshToken     string `json:"refresh_token,omitempty"`
	RefreshExpiresIn int64  `json:"refresh_expires_in"`
}

func (s *Server) login(c *gin.Context) {
	var req loginRequest
	if _, err := s.decodeJSON(c, &req, false); err != nil {
		s.fail(c, err)
		return
	}
	if err := requireString("email", req.Email, 254); err != nil {
		s.fail(c, err)
		return
	}
	if err := requireString("password", req.Password, 4*auth.MaxPasswordLen); err != nil {
		s.fail(c, err)
		return
	}
	cookie, err := s.wantsCookie(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	tokens, err := s.Auth.Login(c.Request.Context(), req.Email, req.Password, client(c))
	if err != nil {
		s.fail(c, err)
		return
	}
	s.sendTokens(c, tokens, cookie)
}

// refresh spends a refresh token from the JSON body or, for browsers, from
// the cookie; never from the query string (the route knows no parameters).
func (s *Server) refresh(c *gin.Context) {
	var req refreshRequest
	if _, err := s.decodeJSON(c, &req, true); err != nil {
		s.fail(c, err)
		return
	}
	raw, cookie := req.RefreshToken, false
	if raw == "" {
		var err error
		if cookie, err = s.wantsCookie(c); err != nil {
			s.fail(c, err)
			return
		}
		if cookie {
			raw, _ = c.Cookie(refreshCookie)
		} else if _, err := c.Cookie(refreshCookie); err == nil {
			s.fail(c, apperr.New(apperr.CodeForbiddenOrigin,
				"A cookie refresh needs the "+deliveryHeader+": cookie header."))
			return
		}
	}
	if len(raw) > 256 {
		raw = "" // no stored token is that long; skip the lookup
	}
	tokens, err := s.Auth.Refresh(c.Request.Context(), raw, client(c))
	if err != nil {
		if cookie {
			s.clearCookie(c)
		}
		s.fail(c, err)
		return
	}
	s.sendTokens(c, tokens, cookie)
}

// wantsCookie reads the client's delivery choice. Choosing the cookie is
// allowed only from the server's own origin or a configured one.
func (s *Server) wantsCookie(c *gin.Context) (bool, error) {
	switch strings.ToLower(c.GetHeader(deliveryHeader)) {
	case "", "body":
		return false, nil
	case "cookie":
	default:
		return false, invalidRequest(deliveryHeader + " must be body or cookie.")
	}
	if origin := c.GetHeader("Origin"); origin != "" && !s.allowedOrigin(c, origin) {
		return false, apperr.New(apperr.CodeForbiddenOrigin, "Requests from this origin may not use the refresh cookie.")
	}
	return true, nil
}

// allowedOrigin reports whether origin is the server's own or a
// configured one, by the very rules of the CORS middleware (gin-contrib/cors
// applyCors and validateOrigin), so that whatever this lets through the
// middleware lets through too, and whatever else it would refuse with an
// empty 403 is refused with a problem first (corsOnlyFor): the own origin
// is exactly "http://" or "https://" and the request's Host (no other
// scheme, user, path, port or case); a configured origin matches in lower
// case, as the middleware stores it (browsers send origins in lower case).
func (s *Server) allowedOrigin(c *gin.Context, origin string) bool {
	// The middleware's origin == "http://"+host || origin == "https://"+host,
	// without building the strings.
	rest, own := strings.CutPrefix(origin, "https://")
	if !own {
		rest, own = strings.CutPrefix(origin, "http://")
	}
	if own && rest == c.Request.Host {
		return true
	}
	for _, o := range s.Config.CORSOrigins {
		if origin == strings.ToLower(strings.TrimSpace(o)) {
			return true
		}
	}
	return false
}

func (s *Server) sendTokens(c *gin.Context, t auth.Tokens, cookie bool) {
	now := s.Now()
	resp := tokenResponse{
		AccessToken:      t.AccessToken,
		TokenType:        "Bearer",
		ExpiresIn:        seconds(t.AccessExpiresAt.Sub(now)),
		RefreshExpiresIn: seconds(t.RefreshExpiresAt.Sub(now)),
	}
	if cookie {
		s.setCookie(c, t.RefreshToken, t.RefreshExpiresAt.Sub(now))
	} else {
		resp.RefreshToken = t.RefreshToken
	}
	respond(c, http.StatusOK, resp)
}

func seconds(d time.Duration) int64 { return max(int64(d.Round(time.Second)/time.Second), 0) }

func (s *Server) setCookie(c *gin.Context, value string, maxAge time.Duration) {
	http.SetCookie(c.Writer, &http.Cookie{
		Name:     refreshCookie,
		Value:    value,
		Path:     refreshPath,
		MaxAge:   int(maxAge / time.Second),
		HttpOnly: true,
		Secure:   s.Config.CookieSecure,
		SameSite: http.SameSiteStrictMode,
	})
}

func (s *Server) clearCookie(c *gin.Context) {
	http.SetCookie(c.Writer, &http.Cookie{
		Name: refreshCookie, Value: "", Path: refreshPath, MaxAge: -1,
		HttpOnly: true, Secure: s.Config.CookieSecure, SameSite: http.SameSiteStrictMode,
	})
}

func (s *Server) logout(c *gin.Context) {
	if err := s.Auth.Logout(c.Request.Context(), principal(c), client(c)); err != nil {
		s.fail(c, err)
		return
	}
	s.clearCookie(c)
	c.Status(http.StatusNoContent)
}

func (s *Server) logoutAll(c *gin.Context) {
	if err := s.Auth.LogoutAll(c.Request.Context(), principal(c), client(c)); err != nil {
		s.fail(c, err)
		return
	}
	s.clearCookie(c)
	c.Status(http.StatusNoContent)
}
