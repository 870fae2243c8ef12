package httpapi

import (
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/revenue-api/revenue-api/internal/apperr"
)

// spaCSP lets the built single-page app load its own scripts and styles and
// call the API on the same origin, and nothing else.
const spaCSP = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; " +
	"frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"

// document sets the headers of a file a browser may render as a page.
func document(c *gin.Context) {
	h := c.Writer.Header()
	for _, f := range documentHeaderSet {
		h[f.key] = f.value
	}
	h.Set("Content-Security-Policy", spaCSP)
}

// apiResources are the first path segments of the API's resources, every
// one of them whether or not this process serves it (a verifier-only
// process has no /login): nothing under them is ever the web app's, so a
// mistyped API path (/REVENUE, /revenue/, //revenue, /me/x) answers a JSON
// 404 rather than a 200 HTML page a client would take for an answer.
var apiResources = []string{
	"login", "logout", "token", "me", "sessions", "revenue",
	".well-known", "healthz", "readyz", "metrics", "openapi.yaml", "revocations",
}

// underAPI reports whether the cleaned path clean is, case-insensitively,
// one of apiResources or under one.
func underAPI(clean string) bool {
	first, _, _ := strings.Cut(strings.TrimPrefix(clean, "/"), "/")
	for _, r := range apiResources {
		if strings.EqualFold(first, r) {
			return true
		}
	}
	return false
}

// cleanPath is p with repeated slashes, dot segments and any trailing
// slash removed, so that //revenue and /./revenue are seen as /revenue.
func cleanPath(p string) string { return path.Clean("/" + p) }

// navigation reports whether a request is a browser's navigation: a GET or
// HEAD asking for an HTML page (fetch and XHR calls, curl and Postman send
// no text/html in Accept).
func navigation(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	for _, v := range r.Header.Values("Accept") {
		for _, mr := range strings.Split(v, ",") {
			mt, _, _ := strings.Cut(mr, ";")
			if strings.EqualFold(strings.TrimSpace(mt), "text/html") {
				return true
			}
		}
	}
	return false
}

// spaOrNotFound serves the built SPA (its files and / to any GET or HEAD,
// index.html to a browser's navigation to a client-side route) and a JSON
// 404 for the rest. Nothing under the API's resources is the SPA's.
// Without a built SPA the API works alone.
func (s *Server) spaOrNotFound() gin.HandlerFunc {
	root := s.Config.WebDir
	index := filepath.Join(root, "index.html")
	notFound := func(c *gin.Context) {
		writeProblem(c, apperr.ErrNotFound)
	}
	return func(c *gin.Context) {
		clean := cleanPath(c.Request.URL.Path)
		if root == "" || (c.Request.Method != http.MethodGet && c.Request.Method != http.MethodHead) || underAPI(clean) {
			notFound(c)
			return
		}
		cache := ""
		if strings.HasPrefix(clean, "/assets/") {
			cache = "public, max-age=31536000, immutable" // content-hashed names
		}
		if serveFile(c, filepath.Join(root, filepath.FromSlash(clean)), cache) {
			return
		}
		// The app itself, and a navigation to a client-side route (no file
		// extension), get the app shell.
		if (clean == "/" || path.Ext(clean) == "" && navigation(c.Request)) && serveFile(c, index, "no-cache") {
			return
		}
		notFound(c)
	}
}

// serveFile answers with the regular file name, if there is one, with
// cacheControl unless empty. Unlike
// http.ServeFile it redirects nothing (/index.html) and answers no
// plain-text error (a path with ".." in it): the caller has cleaned the
// path. Range requests are not served (nothing in the SPA needs them), so
// no plain-text 416 either.
func serveFile(c *gin.Context, name, cacheControl string) bool {
	f, err := os.Open(name)
	if err != nil {
		return false
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil || !info.Mode().IsRegular() {
		return false
	}
	document(c)
	if cacheControl != "" {
		c.Header("Cache-Control", cacheControl)
	}
	c.Request.Header.Del("Range")
	http.ServeContent(c.Writer, c.Request, info.Name(), info.ModTime(), f)
	return true
}
