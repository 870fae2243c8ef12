package httpapi

import (
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/revenue-api/revenue-api/internal/apperr"
)

// spaCSP lets the built single-page app load its own scripts and styles and
// call the API on the same origin, and nothing else.
const spaCSP = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; " +
	"frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"

// docsCSP is the API reference's policy, stricter than spaCSP: the page
// (Swagger UI, bundled at build time) runs its own script, fetches
// /openapi.yaml and sends "Try it out" calls to this origin, and loads its
// own stylesheet; nothing else, and no eval. Swagger UI sets styles only
// through element.style, which needs no 'unsafe-inline'. The one
// relaxation: img-src data:, for the icons its stylesheet draws as
// data: SVG backgrounds (and the page's data: icon, which keeps browsers
// from asking for /favicon.ico). Its forms are handled by script, so no
// form is ever submitted (form-action 'none').
const docsCSP = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// docsPage is the built API reference, served at /docs.
const docsPage = "docs.html"

// document sets the headers of a file a browser may render as a page,
// under the content security policy csp.
func document(c *gin.Context, csp string) {
	h := c.Writer.Header()
	for _, f := range documentHeaderSet {
		h[f.key] = f.value
	}
	h.Set("Content-Security-Policy", csp)
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
	return firstSegmentIs(clean, apiResources...)
}

// firstSegmentIs reports whether the first segment of the cleaned path
// clean is, case-insensitively, one of names.
func firstSegmentIs(clean string, names ...string) bool {
	first, _, _ := strings.Cut(strings.TrimPrefix(clean, "/"), "/")
	for _, r := range names {
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
// index.html to a browser's navigation to a client-side route), the API
// reference at /docs (to anyone: curl gets the page too), and a JSON 404
// for the rest. Nothing under the API's resources is the SPA's, nor is
// anything under /docs/: the reference has one page, whose sections are
// #fragments. Without a built SPA the API works alone.
func (s *Server) spaOrNotFound() gin.HandlerFunc {
	root := s.Config.WebDir
	index := filepath.Join(root, "index.html")
	docs := filepath.Join(root, docsPage)
	notFound := func(c *gin.Context) {
		writeProblem(c, apperr.ErrNotFound)
	}
	return func(c *gin.Context) {
		clean := cleanPath(c.Request.URL.Path)
		if root == "" || (c.Request.Method != http.MethodGet && c.Request.Method != http.MethodHead) || underAPI(clean) {
			notFound(c)
			return
		}
		if firstSegmentIs(clean, "docs") {
			if strings.Count(clean, "/") > 1 || !serveFile(c, docs, "no-cache") {
				notFound(c)
			}
			return
		}
		cache := ""
		if strings.HasPrefix(clean, "/assets/") {
			cache = "public, max-age=31536000, immutable" // content-hashed names
		} else if path.Ext(clean) == ".html" {
			cache = "no-cache" // a page names the assets of its build
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

// precompressed are the content codings the build writes beside a file
// (name.br, name.gz), in the order this server prefers them when the
// client weighs them alike: brotli is the smaller.
var precompressed = []struct{ coding, ext string }{
	{"br", ".br"},
	{"gzip", ".gz"},
}

// serveFile answers with the regular file name, if there is one, with
// cacheControl unless empty. When the build wrote a compressed copy of it
// that the request's Accept-Encoding accepts, that copy is sent instead,
// with Content-Encoding and the file's own Content-Type; the answer then
// varies by Accept-Encoding, and each variant has its own ETag and
// Content-Length.
//
// Unlike http.ServeFile it redirects nothing (/index.html) and answers no
// plain-text error (a path with ".." in it): the caller has cleaned the
// path. Range requests are not served (nothing in the web app needs them),
// so no plain-text 416 either, nor a 412: of the conditional headers only
// If-None-Match and If-Modified-Since are honoured, with a 304.
func serveFile(c *gin.Context, name, cacheControl string) bool {
	f, info := openRegular(name)
	if f == nil {
		return false
	}
	defer f.Close()
	ctype := mime.TypeByExtension(filepath.Ext(name))
	if ctype == "" {
		var head [512]byte
		n, _ := io.ReadFull(f, head[:])
		ctype = http.DetectContentType(head[:n])
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return false
		}
	}

	// A copy older than the file is stale (the file was replaced after the
	// build): it is not sent.
	type variant struct {
		f    *os.File
		info os.FileInfo
	}
	var available []string
	variants := map[string]variant{}
	varies := false
	for _, p := range precompressed {
		v, vi := openRegular(name + p.ext)
		if v == nil {
			continue
		}
		defer v.Close()
		varies = true
		if !vi.ModTime().Before(info.ModTime()) {
			available = append(available, p.coding)
			variants[p.coding] = variant{v, vi}
		}
	}
	coding := parseAcceptEncoding(c.Request.Header.Values("Accept-Encoding")).choose(available)
	sent, sentInfo := f, info
	if coding != "" {
		sent, sentInfo = variants[coding].f, variants[coding].info
	}

	document(c, cspOf(name))
	h := c.Writer.Header()
	if cacheControl != "" {
		h.Set("Cache-Control", cacheControl)
	}
	if varies {
		h.Add("Vary", "Accept-Encoding")
	}
	// The ETag names the bytes sent: the variant's size and time, and its
	// coding, so a cache never takes one coding's bytes for another's.
	etag := fmt.Sprintf(`"%x-%x`, sentInfo.ModTime().UnixNano(), sentInfo.Size())
	if coding != "" {
		etag += "-" + coding
	}
	etag += `"`
	h.Set("ETag", etag)
	modified := info.ModTime().UTC().Truncate(time.Second)
	h.Set("Last-Modified", modified.Format(http.TimeFormat))
	if notModified(c.Request, etag, modified) {
		c.Status(http.StatusNotModified)
		return true
	}
	h.Set("Content-Type", ctype)
	if coding != "" {
		h.Set("Content-Encoding", coding)
	}
	h.Set("Content-Length", strconv.FormatInt(sentInfo.Size(), 10))
	c.Status(http.StatusOK)
	if c.Request.Method != http.MethodHead {
		_, _ = io.Copy(c.Writer, sent) // a client gone mid-body needs no answer
	}
	return true
}

// cspOf is the content security policy of the page file name.
func cspOf(name string) string {
	if filepath.Base(name) == docsPage {
		return docsCSP
	}
	return spaCSP
}

// openRegular opens name if it is a regular file; nil otherwise.
func openRegular(name string) (*os.File, os.FileInfo) {
	f, err := os.Open(name)
	if err != nil {
		return nil, nil
	}
	info, err := f.Stat()
	if err != nil || !info.Mode().IsRegular() {
		f.Close()
		return nil, nil
	}
	return f, info
}

// notModified reports whether a GET or HEAD with r's conditional headers
// gets a 304 (RFC 9110 §13.2.2): If-None-Match, when sent, decides alone,
// by weak comparison; otherwise If-Modified-Since.
func notModified(r *http.Request, etag string, modified time.Time) bool {
	if inm := r.Header.Values("If-None-Match"); len(inm) > 0 {
		for _, v := range inm {
			for _, tag := range strings.Split(v, ",") {
				tag = strings.TrimSpace(tag)
				if tag == "*" || strings.TrimPrefix(tag, "W/") == etag {
					return true
				}
			}
		}
		return false
	}
	since, err := http.ParseTime(r.Header.Get("If-Modified-Since"))
	return err == nil && !modified.After(since)
}

// acceptEncoding is a parsed Accept-Encoding (RFC 9110 §12.5.3): each
// listed coding, lower-cased, with its weight; "*" stands for any other.
type acceptEncoding map[string]float64

// parseAcceptEncoding reads every Accept-Encoding value of a request. An
// element whose weight is not a qvalue is ignored; a coding listed twice
// keeps its higher weight; x-gzip is gzip (RFC 9110 §8.4.1.3).
func parseAcceptEncoding(values []string) acceptEncoding {
	out := acceptEncoding{}
	for _, v := range values {
		for _, element := range strings.Split(v, ",") {
			coding, params, _ := strings.Cut(element, ";")
			coding = strings.ToLower(strings.TrimSpace(coding))
			if coding == "" {
				continue
			}
			if coding == "x-gzip" {
				coding = "gzip"
			}
			q, ok := 1.0, true
			for _, p := range strings.Split(params, ";") {
				k, val, _ := strings.Cut(p, "=")
				if strings.EqualFold(strings.TrimSpace(k), "q") {
					q, ok = qvalue(strings.TrimSpace(val))
				}
			}
			if prev, seen := out[coding]; ok && (!seen || q > prev) {
				out[coding] = q
			}
		}
	}
	return out
}

// qvalue parses a weight: 0 to 1 with at most three decimals (RFC 9110 §12.4.2).
func qvalue(s string) (float64, bool) {
	whole, frac, _ := strings.Cut(s, ".")
	if whole != "0" && whole != "1" || len(frac) > 3 {
		return 0, false
	}
	for _, d := range frac {
		if d < '0' || d > '9' || whole == "1" && d != '0' {
			return 0, false
		}
	}
	q, err := strconv.ParseFloat(s, 64)
	return q, err == nil
}

// weight is how much the client accepts coding, and whether it said so:
// its own weight, else that of "*"; unlisted, a coding is not acceptable.
// No Accept-Encoding at all is read as identity only, so plain curl gets
// plain bytes.
func (a acceptEncoding) weight(coding string) (q float64, listed bool) {
	if q, ok := a[coding]; ok {
		return q, true
	}
	if q, ok := a["*"]; ok {
		return q, true
	}
	return 0, false
}

// choose picks the coding to send among available ones (in this server's
// order of preference), or "" for the file as it is: the heaviest coding
// of weight above 0, unless the client weighs identity (no coding) more,
// by name or by "*". Identity is always acceptable as a last resort: when
// nothing listed is, the file goes as it is even under "identity;q=0"
// (RFC 9110 §12.5.3 allows it, and a page is more use than a 406).
func (a acceptEncoding) choose(available []string) string {
	best, bestQ := "", 0.0
	for _, coding := range available {
		if q, _ := a.weight(coding); q > bestQ {
			best, bestQ = coding, q
		}
	}
	if q, listed := a.weight("identity"); listed && q > bestQ {
		return ""
	}
	return best
}
