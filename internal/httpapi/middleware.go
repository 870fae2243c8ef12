package httpapi

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/revenue-api/revenue-api/internal/apperr"
	"github.com/revenue-api/revenue-api/internal/auth"
	"github.com/revenue-api/revenue-api/internal/token"
)

// Keys of values kept on the gin context for the access log (on error
// paths only: setting the first value allocates the context's map).
const (
	ctxErrorKey  = "error"
	ctxReasonKey = "token_rejection"
)

// requestIDHeader is X-Request-ID in Go's canonical spelling, the form it
// is sent in anyway: using it as is spares every request a canonicalising
// allocation on the way in and on the way out.
const requestIDHeader = "X-Request-Id"

// requestID gives every request an id, in the X-Request-ID response header
// and on every log line. A caller's id is kept only when it is short and
// plain, so it cannot inject anything into logs. A fresh id is 96 random
// bits from the runtime's per-thread generator (ChaCha8, seeded by the
// system): an id only ties log lines together and grants nothing, so it
// needs no call into crypto/rand per request.
func (s *Server) requestID(c *gin.Context) {
	id := c.Request.Header.Get(requestIDHeader)
	if !plainID(id) {
		var b [12]byte
		binary.LittleEndian.PutUint64(b[:8], rand.Uint64())
		binary.LittleEndian.PutUint32(b[8:], rand.Uint32())
		id = hex.EncodeToString(b[:])
	}
	c.Writer.Header()[requestIDHeader] = []string{id}
	c.Next()
}

// requestIDOf returns the id requestID gave c's request, kept in the
// response header it is sent in.
func requestIDOf(c *gin.Context) string {
	if v := c.Writer.Header()[requestIDHeader]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// clientIP is gin's ClientIP, the address of the connection's peer or, from
// a trusted proxy, the one it names, without its cost in the usual case: with
// no proxy trusted and a TCP peer, it is the host part of RemoteAddr, which
// net/http formats canonically (gin would parse it and format it again).
func (s *Server) clientIP(c *gin.Context) string {
	if !s.proxied {
		host, _, err := net.SplitHostPort(c.Request.RemoteAddr)
		ip, perr := netip.ParseAddr(host)
		var canonical [64]byte
		if err == nil && perr == nil && !ip.Is4In6() && ip.Zone() == "" && string(ip.AppendTo(canonical[:0])) == host {
			return host
		}
	}
	return c.ClientIP()
}

func plainID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// recoverPanic turns a panic into a logged 500 problem; the stack goes to
// the log, never to the client.
func (s *Server) recoverPanic(c *gin.Context) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.ErrorContext(c.Request.Context(), "panic", "request_id", requestIDOf(c),
				"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			if !c.Writer.Written() {
				writeProblem(c, errInternal)
			}
		}
	}()
	c.Next()
}

// accessLog feeds the request metrics and writes one line per request: to
// the batched AccessLog (if any), or for a 5xx answer at once to the error
// log. It logs the route, never the path or query string, and never a header
// value, so no token or password can reach the log.
func (s *Server) accessLog(c *gin.Context) {
	start := time.Now()
	c.Next()
	elapsed := time.Since(start)
	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	status := c.Writer.Status()
	s.Metrics.observeRequest(c.Request.Method, route, status, elapsed)
	if status < 500 {
		if s.AccessLog != nil {
			e := accessEntry{time: start.Add(elapsed), requestID: requestIDOf(c), method: c.Request.Method,
				route: route, status: status, duration: elapsed, clientIP: s.clientIP(c)}
			if v, ok := c.Get(ctxReasonKey); ok {
				e.rejection, _ = v.(string)
			}
			if v, ok := c.Get(ctxErrorKey); ok {
				e.err = fmt.Sprint(v)
			}
			s.AccessLog.log(&e)
		}
		return
	}
	attrs := []slog.Attr{
		slog.String("request_id", requestIDOf(c)),
		slog.String("method", c.Request.Method),
		slog.String("route", route),
		slog.Int("status", status),
		slog.Duration("duration", elapsed),
		slog.String("client_ip", s.clientIP(c)),
	}
	if v, ok := c.Get(ctxErrorKey); ok {
		attrs = append(attrs, slog.String("error", fmt.Sprint(v)))
	}
	s.log.LogAttrs(c.Request.Context(), slog.LevelError, "request", attrs...)
}

// fixedHeader is a response header every answer of a group carries. Keys
// are in canonical form and values are built once: header values are only
// ever replaced, never changed in place, so answers can share them, and
// each request is spared an allocation and a key check per header.
type fixedHeader struct {
	key   string
	value []string
}

// securityHeaderSet is OWASP's set for a REST API's answers: nothing may
// sniff, frame or embed them, and rendered as a page they run nothing. It is
// kept short on purpose: with the request id, Cache-Control and
// Content-Type an answer's header map holds six keys, within the eight a Go
// map holds before it grows (net/http adds Date and Content-Length outside
// it). The old nine-key set profiled as a tenth of a GET /me.
var securityHeaderSet = []fixedHeader{
	{"X-Content-Type-Options", []string{"nosniff"}},
	{"X-Frame-Options", []string{"DENY"}},
	{"Content-Security-Policy", []string{"default-src 'none'; frame-ancestors 'none'"}},
}

// documentHeaderSet is added to what a browser renders as a page (the
// SPA's files, with their own Content-Security-Policy): they must not leak
// their URL to other sites, nor share a browsing context with a page that
// opened them. (A JSON answer has no links and runs no script, so it needs
// neither.)
var documentHeaderSet = []fixedHeader{
	{"Referrer-Policy", []string{"no-referrer"}},
	{"Cross-Origin-Opener-Policy", []string{"same-origin"}},
}

// noStoreHeaderSet keeps API answers, which may carry tokens, out of every cache.
var noStoreHeaderSet = []fixedHeader{
	{"Cache-Control", []string{"no-store"}},
}

// tokenAnswerHeaderSet is what RFC 6749 §5.1 asks of answers that carry
// tokens, on top of no-store: Pragma for HTTP/1.0 caches.
var tokenAnswerHeaderSet = []fixedHeader{
	{"Pragma", []string{"no-cache"}},
}

func securityHeaders(c *gin.Context) { setHeaders(c, securityHeaderSet) }

func noStore(c *gin.Context) { setHeaders(c, noStoreHeaderSet) }

func tokenAnswer(c *gin.Context) { setHeaders(c, tokenAnswerHeaderSet) }

func setHeaders(c *gin.Context, set []fixedHeader) {
	h := c.Writer.Header()
	for _, f := range set {
		h[f.key] = f.value
	}
	c.Next()
}

// authenticate verifies the access token from the Authorization header, and
// only from there: never a query string, form field or cookie, then refuses
// it if it was revoked. It calls no database, cache or network: the keys and
// the revocations are in memory.
func (s *Server) authenticate(c *gin.Context) {
	values := c.Request.Header.Values("Authorization")
	if len(values) == 0 {
		s.unauthorized(c, "", "")
		return
	}
	if len(values) > 1 {
		s.unauthorized(c, token.ReasonMalformed, "send exactly one Authorization header")
		return
	}
	scheme, raw, ok := strings.Cut(values[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		s.unauthorized(c, "", "")
		return
	}
	raw = strings.TrimSpace(raw)
	if len(raw) > token.MaxTokenBytes {
		s.unauthorized(c, token.ReasonTooLarge, "")
		return
	}
	p, err := s.Verifier.Verify(raw)
	if err != nil {
		reason, ok := token.ReasonOf(err)
		if !ok {
			reason = token.ReasonMalformed
		}
		s.unauthorized(c, reason, "")
		return
	}
	if !s.checkRevoked(c, p) {
		return
	}
	c.Request = c.Request.WithContext(auth.WithPrincipal(c.Request.Context(), p))
	c.Next()
}

// unauthorized answers 401 with an RFC 6750 challenge. With no reason the
// request carried no bearer token, and the challenge has no error code.
func (s *Server) unauthorized(c *gin.Context, reason token.Reason, description string) {
	if reason == "" {
		c.Header("WWW-Authenticate", bearerChallenge("", "", ""))
		writeProblem(c, apperr.New(apperr.CodeMissingToken, "Send an access token in the Authorization header: Bearer TOKEN."))
		return
	}
	s.Metrics.tokenRejected(reason)
	c.Set(ctxReasonKey, string(reason))
	if description == "" {
		description = reason.Description()
	}
	c.Header("WWW-Authenticate", bearerChallenge("invalid_token", description, ""))
	writeProblem(c, apperr.New(apperr.CodeInvalidToken, description))
}

// requireScope lets through only principals granted scope (RFC 6750 §3.1).
func requireScope(scope string) gin.HandlerFunc {
	return func(c *gin.Context) {
		p, ok := auth.PrincipalFrom(c.Request.Context())
		if !ok || !p.HasScope(scope) {
			c.Header("WWW-Authenticate", bearerChallenge("insufficient_scope", "the access token lacks the "+scope+" scope", scope))
			writeProblem(c, apperr.New(apperr.CodeInsufficientScope, "Your account has no access to this resource (needs "+scope+")."))
			return
		}
		c.Next()
	}
}

// principal returns the verified principal of an authenticated request.
func principal(c *gin.Context) auth.Principal {
	p, _ := auth.PrincipalFrom(c.Request.Context())
	return p
}

// client describes the caller for sessions and the audit trail.
func client(c *gin.Context) auth.Client {
	ua := c.Request.UserAgent()
	if len(ua) > 512 {
		ua = ua[:512]
	}
	return auth.Client{IP: c.ClientIP(), UserAgent: strings.ToValidUTF8(ua, "?")}
}
