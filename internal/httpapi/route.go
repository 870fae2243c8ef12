package httpapi

import (
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/revenue-api/revenue-api/internal/apperr"
)

// queryParams are the query parameters a route knows.
type queryParams []string

// none is the query of a route that takes no parameters.
var none queryParams

// query names the parameters a route knows.
func query(names ...string) queryParams { return names }

// get registers a GET route and, with the same handlers, its HEAD (RFC
// 9110 §9.3.2: the same status and headers, no body; discardHeadBody drops
// the body).
func get(g gin.IRoutes, path string, q queryParams, h ...gin.HandlerFunc) {
	h = q.first(h)
	g.GET(path, h...)
	g.HEAD(path, h...)
}

func post(g gin.IRoutes, path string, q queryParams, h ...gin.HandlerFunc) {
	g.POST(path, q.first(h)...)
}

func put(g gin.IRoutes, path string, q queryParams, h ...gin.HandlerFunc) {
	g.PUT(path, q.first(h)...)
}

func del(g gin.IRoutes, path string, q queryParams, h ...gin.HandlerFunc) {
	g.DELETE(path, q.first(h)...)
}

// first puts the query check before a route's handlers.
func (q queryParams) first(h []gin.HandlerFunc) []gin.HandlerFunc {
	return append([]gin.HandlerFunc{q.check}, h...)
}

// check refuses a query string the route cannot mean: one with a ';' (Go
// does not split on it, other servers and proxies do, so they would read
// different parameters than this one), one that does not decode, a
// parameter the route does not know (a client that believes it filters,
// say by org_id, must learn that it does not), and a known one given twice
// (which copy would count?) or empty (every parameter takes a value; read
// as absent, "?cursor=" would quietly start over).
func (q queryParams) check(c *gin.Context) {
	raw := c.Request.URL.RawQuery
	if raw == "" {
		c.Next()
		return
	}
	if strings.Contains(raw, ";") {
		writeProblem(c, invalidQuery("The query string holds a ';'; separate parameters with '&'."))
		return
	}
	values, err := url.ParseQuery(raw)
	if err != nil {
		writeProblem(c, invalidQuery("The query string is not valid URL encoding."))
		return
	}
	for _, name := range slices.Sorted(maps.Keys(values)) {
		if slices.Contains(q, name) {
			if v := values[name]; len(v) > 1 {
				writeProblem(c, apperr.Invalid(name, "give it once"))
				return
			} else if v[0] == "" {
				writeProblem(c, apperr.Invalid(name, "empty; give a value or leave it out"))
				return
			}
			continue
		}
		known := "this resource takes no query parameters"
		if len(q) > 0 {
			known = "it knows only " + strings.Join(q, ", ")
		}
		writeProblem(c, invalidQuery("Unknown query parameter "+apperr.Quote(name)+"; "+known+"."))
		return
	}
	c.Next()
}

func invalidQuery(detail string) *apperr.Error {
	return apperr.New(apperr.CodeInvalidQuery, detail)
}

// discardHeadBody answers a HEAD request as the GET handlers would answer
// GET, without the body: the handlers write as usual, the body is counted
// and dropped, and its length becomes Content-Length unless the handler
// set one (http.ServeContent does). Status and headers are the handler's.
func discardHeadBody(c *gin.Context) {
	if c.Request.Method != http.MethodHead {
		c.Next()
		return
	}
	w := &headWriter{ResponseWriter: c.Writer}
	c.Writer = w
	c.Next()
	if h := w.Header(); w.size > 0 && h.Get("Content-Length") == "" && !w.Written() {
		h.Set("Content-Length", strconv.Itoa(w.size))
	}
	// Send the header now: gin writes its own plain-text 404 and 405 after
	// the handlers unless the answer shows as written.
	w.WriteHeaderNow()
}

// headWriter counts the body of a HEAD answer and writes none of it.
type headWriter struct {
	gin.ResponseWriter
	size int
}

func (w *headWriter) Write(b []byte) (int, error) {
	w.size += len(b)
	return len(b), nil
}

func (w *headWriter) WriteString(s string) (int, error) {
	w.size += len(s)
	return len(s), nil
}
