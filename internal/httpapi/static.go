package httpapi

import (
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/gin-gonic/gin"
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

// spaOrNotFound serves the built SPA for browser navigation (files from
// WebDir, index.html for client-side routes) and a JSON 404 for the rest.
// Without a built SPA the API works alone.
func (s *Server) spaOrNotFound() gin.HandlerFunc {
	root := s.Config.WebDir
	index := filepath.Join(root, "index.html")
	notFound := func(c *gin.Context) {
		writeProblem(c, newProblem(http.StatusNotFound, "not_found", "The resource does not exist."))
	}
	return func(c *gin.Context) {
		if root == "" || (c.Request.Method != http.MethodGet && c.Request.Method != http.MethodHead) {
			notFound(c)
			return
		}
		clean := path.Clean("/" + c.Request.URL.Path)
		file := filepath.Join(root, filepath.FromSlash(clean))
		if info, err := os.Stat(file); err == nil && info.Mode().IsRegular() {
			document(c)
			if strings.HasPrefix(clean, "/assets/") {
				c.Header("Cache-Control", "public, max-age=31536000, immutable") // content-hashed names
			}
			http.ServeFile(c.Writer, c.Request, file)
			return
		}
		// Client-side routes (no file extension) get the app shell.
		if path.Ext(clean) == "" {
			if _, err := os.Stat(index); err == nil {
				document(c)
				c.Header("Cache-Control", "no-cache")
				http.ServeFile(c.Writer, c.Request, index)
				return
			}
		}
		notFound(c)
	}
}
