package httpapi_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/revenue-api/revenue-api/internal/apitest"
	"github.com/revenue-api/revenue-api/internal/config"
)

// builtWeb is a build of the web app as `npm run build` leaves it: the
// dashboard's shell, the API reference's page, and assets, some with the
// compressed copies the build writes beside them (name.gz, name.br).
type builtWeb struct {
	dir   string
	files map[string][]byte // path under dir → content
}

// The bytes of each variant are told apart by the test; only gzip's must
// decode, brotli's are passed through as they are.
const (
	shellHTML = "<!doctype html><title>app</title><div id=root></div>"
	docsHTML  = "<!doctype html><title>Revenue API reference</title><main id=docs></main>"
)

func newBuiltWeb(t *testing.T, withDocs bool) *builtWeb {
	t.Helper()
	w := &builtWeb{dir: t.TempDir(), files: map[string][]byte{}}
	script := []byte(strings.Repeat("console.log('the dashboard');\n", 100))
	shell := []byte(shellHTML + strings.Repeat("<!-- padding -->", 100))
	w.write(t, "index.html", shell)
	w.write(t, "index.html.gz", gzipped(t, shell))
	w.write(t, "index.html.br", []byte("brotli bytes of index.html"))
	w.write(t, "assets/app-1a2b.js", script)
	w.write(t, "assets/app-1a2b.js.gz", gzipped(t, script))
	w.write(t, "assets/app-1a2b.js.br", []byte("brotli bytes of app-1a2b.js"))
	w.write(t, "assets/gz-only-3c4d.css", []byte("body { margin: 0 }"))
	w.write(t, "assets/gz-only-3c4d.css.gz", gzipped(t, []byte("body { margin: 0 }")))
	w.write(t, "assets/plain-5e6f.css", []byte("main { padding: 0 }"))
	if withDocs {
		w.write(t, "docs.html", []byte(docsHTML))
	}
	return w
}

func (w *builtWeb) write(t *testing.T, name string, data []byte) {
	t.Helper()
	path := filepath.Join(w.dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	w.files[name] = data
}

func gzipped(t *testing.T, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func gunzipped(t *testing.T, data []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("the gzip answer does not decode: %v", err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("the gzip answer does not decode: %v", err)
	}
	return out
}

var browserNavigation = http.Header{"Accept": {"text/html,application/xhtml+xml,*/*;q=0.8"}}

// The API reference is one page at /docs, for a browser and for curl
// alike, under its own strict policy; nothing under /docs/ is a page, nor
// the web app's shell, and without a built reference /docs is a 404
// problem like any unknown path.
func TestDocsPage(t *testing.T) {
	web := newBuiltWeb(t, true)
	env := apitest.New(t, func(c *config.Config) { c.WebDir = web.dir })
	for _, tt := range []struct {
		name, method, path string
		header             http.Header
		want               string // "docs", "shell" or "404"
	}{
		{"curl", "GET", "/docs", http.Header{"Accept": {"*/*"}}, "docs"},
		{"no Accept", "GET", "/docs", nil, "docs"},
		{"a browser's navigation", "GET", "/docs", browserNavigation, "docs"},
		{"HEAD", "HEAD", "/docs", nil, "docs"},
		{"a trailing slash, without a redirect", "GET", "/docs/", browserNavigation, "docs"},
		{"repeated slashes", "GET", "//docs", nil, "docs"},
		{"another case", "GET", "/Docs", browserNavigation, "docs"},
		{"the page's own file", "GET", "/docs.html", nil, "docs"},
		{"a path under /docs", "GET", "/docs/revenue", browserNavigation, "404"},
		{"a file name under /docs", "GET", "/docs/assets/app-1a2b.js", nil, "404"},
		{"a deeper path under /docs", "GET", "/docs/a/b", browserNavigation, "404"},
		{"POST", "POST", "/docs", browserNavigation, "404"},
		{"a path that only starts like it", "GET", "/docsy", browserNavigation, "shell"},
		{"the dashboard", "GET", "/", browserNavigation, "shell"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp := env.Do(apitest.Request{Method: tt.method, Path: tt.path, Header: tt.header})
			if loc := resp.Header().Get("Location"); loc != "" {
				t.Errorf("%s %s: redirects to %q", tt.method, tt.path, loc)
			}
			switch tt.want {
			case "404":
				if resp.Code != http.StatusNotFound || resp.ProblemCode(t) != "not_found" {
					t.Fatalf("%s %s: %d %s, want a 404 not_found problem", tt.method, tt.path, resp.Code, resp.Body)
				}
				return
			case "shell":
				if resp.Code != http.StatusOK || !strings.Contains(resp.Body.String(), shellHTML) {
					t.Fatalf("%s %s: %d %.80q, want the web app's shell", tt.method, tt.path, resp.Code, resp.Body)
				}
				if csp := resp.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
					t.Errorf("%s %s: the shell's policy is %q, want the web app's", tt.method, tt.path, csp)
				}
				return
			}
			if resp.Code != http.StatusOK {
				t.Fatalf("%s %s: %d %s, want the API reference", tt.method, tt.path, resp.Code, resp.Body)
			}
			if ct := resp.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
				t.Errorf("%s %s: Content-Type %q, want HTML", tt.method, tt.path, ct)
			}
			if tt.method == http.MethodHead {
				if resp.Body.Len() != 0 || resp.Header().Get("Content-Length") != strconv.Itoa(len(docsHTML)) {
					t.Errorf("HEAD %s: a body of %d bytes and Content-Length %q, want none and %d", tt.path, resp.Body.Len(), resp.Header().Get("Content-Length"), len(docsHTML))
				}
			} else if resp.Body.String() != docsHTML {
				t.Errorf("%s %s: %.80q, want the API reference's page", tt.method, tt.path, resp.Body)
			}
			if cc := resp.Header().Get("Cache-Control"); cc != "no-cache" {
				t.Errorf("%s %s: Cache-Control %q, want no-cache (the page names content-hashed assets)", tt.method, tt.path, cc)
			}
			csp := resp.Header().Get("Content-Security-Policy")
			for _, want := range []string{"default-src 'none'", "script-src 'self'", "connect-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "base-uri 'none'"} {
				if !strings.Contains(csp, want) {
					t.Errorf("%s %s: Content-Security-Policy %q lacks %s", tt.method, tt.path, csp, want)
				}
			}
			if strings.Contains(csp, "unsafe-") || strings.Contains(csp, "*") || strings.Contains(csp, "http") {
				t.Errorf("%s %s: Content-Security-Policy %q allows eval, inline code or another origin", tt.method, tt.path, csp)
			}
		})
	}

	t.Run("without a built reference /docs is a 404 problem, not the shell", func(t *testing.T) {
		env := apitest.New(t, func(c *config.Config) { c.WebDir = newBuiltWeb(t, false).dir })
		for _, h := range []http.Header{browserNavigation, nil} {
			resp := env.Do(apitest.Request{Method: http.MethodGet, Path: "/docs", Header: h})
			if resp.Code != http.StatusNotFound || resp.ProblemCode(t) != "not_found" {
				t.Errorf("GET /docs (Accept %q): %d %.80q, want a 404 problem", h.Get("Accept"), resp.Code, resp.Body)
			}
		}
	})
}

// A file the build compressed is sent as the copy the client's
// Accept-Encoding weighs most (RFC 9110 §12.5.3), brotli before gzip when
// it weighs them alike, and as it is when it accepts neither or prefers
// identity; every variant has its own length and ETag, the original's
// Content-Type, and says it varies by Accept-Encoding.
func TestPrecompressedAssets(t *testing.T) {
	web := newBuiltWeb(t, true)
	env := apitest.New(t, func(c *config.Config) { c.WebDir = web.dir })
	const script = "/assets/app-1a2b.js"
	etags := map[string]string{} // coding → ETag
	for _, tt := range []struct {
		accept []string // Accept-Encoding lines; nil: none
		want   string   // "" for the file as it is
	}{
		{nil, ""},
		{[]string{""}, ""},
		{[]string{"gzip"}, "gzip"},
		{[]string{"br"}, "br"},
		{[]string{"gzip, deflate, br, zstd"}, "br"}, // as Chromium sends it
		{[]string{"gzip, deflate"}, "gzip"},
		{[]string{"br;q=0.5, gzip"}, "gzip"},
		{[]string{"gzip;q=0.8, br;q=0.9"}, "br"},
		{[]string{"br;q=0, gzip;q=0"}, ""},
		{[]string{"br;q=0"}, ""},
		{[]string{"*"}, "br"},
		{[]string{"*;q=0.5, gzip"}, "gzip"},
		{[]string{"*;q=0"}, ""},
		{[]string{"identity;q=0, gzip;q=0.5"}, "gzip"},
		{[]string{"identity;q=0, br;q=0, *;q=0.1"}, "gzip"},
		{[]string{"gzip;q=0.5, identity"}, ""},
		{[]string{"br;q=0.001"}, "br"}, // identity, unlisted, is only the last resort
		{[]string{"br;q=0.001, identity;q=0.002"}, ""},
		{[]string{"*;q=0.5, gzip;q=0.3"}, "br"},         // br weighs 0.5 by "*", as much as identity
		{[]string{"*;q=0.5, gzip;q=0.3, br;q=0.3"}, ""}, // identity weighs 0.5 by "*"
		{[]string{"identity"}, ""},
		{[]string{"deflate, compress"}, ""},
		{[]string{"x-gzip"}, "gzip"},
		{[]string{"GZIP"}, "gzip"},
		{[]string{"Br;Q=1"}, "br"},
		{[]string{" gzip ; q=0.9 , br ; q=0.8 "}, "gzip"},
		{[]string{"gzip;q=0.1", "br"}, "br"}, // two header lines
		{[]string{"gzip;q=1.5"}, ""},         // not a qvalue: ignored
		{[]string{"gzip;q=abc, br;q=0.2"}, "br"},
		{[]string{"gzip;q=0.1234"}, ""},
		{[]string{"gzip;q=1.001"}, ""},
		{[]string{"gzip;q=1.000"}, "gzip"},
		{[]string{"gzip;q=0."}, ""},
		{[]string{"gzip;q="}, ""},
		{[]string{",,gzip,,"}, "gzip"},
		{[]string{"gzip;level=9"}, "gzip"},
	} {
		label := "Accept-Encoding " + strings.Join(tt.accept, " | ")
		if tt.accept == nil {
			label = "no Accept-Encoding"
		}
		t.Run(label, func(t *testing.T) {
			h := http.Header{}
			for _, v := range tt.accept {
				h.Add("Accept-Encoding", v)
			}
			if tt.accept == nil {
				h = nil
			}
			resp := env.Do(apitest.Request{Method: http.MethodGet, Path: script, Header: h})
			if resp.Code != http.StatusOK {
				t.Fatalf("GET %s: %d %s", script, resp.Code, resp.Body)
			}
			if got := resp.Header().Get("Content-Encoding"); got != tt.want {
				t.Fatalf("Content-Encoding %q, want %q", got, tt.want)
			}
			checkVariant(t, resp, web.files["assets/app-1a2b.js"], tt.want)
			if ct := resp.Header().Get("Content-Type"); ct != "text/javascript; charset=utf-8" {
				t.Errorf("Content-Type %q, want the script's own", ct)
			}
			etag := resp.Header().Get("ETag")
			if seen, ok := etags[tt.want]; ok && seen != etag {
				t.Errorf("ETag %s, but the same variant had %s", etag, seen)
			}
			etags[tt.want] = etag
		})
	}
	if len(etags) != 3 || etags[""] == etags["gzip"] || etags["gzip"] == etags["br"] || etags[""] == etags["br"] {
		t.Errorf("ETags by coding %v, want one of its own for each variant", etags)
	}

	t.Run("HEAD sends the chosen variant's headers and no body", func(t *testing.T) {
		for coding, file := range map[string]string{"br": "app-1a2b.js.br", "gzip": "app-1a2b.js.gz", "": "app-1a2b.js"} {
			h := http.Header{"Accept-Encoding": {coding}}
			head := env.Do(apitest.Request{Method: http.MethodHead, Path: script, Header: h})
			get := env.Do(apitest.Request{Method: http.MethodGet, Path: script, Header: h})
			if head.Code != http.StatusOK || head.Body.Len() != 0 {
				t.Errorf("HEAD (%q): %d with %d bytes, want 200 and no body", coding, head.Code, head.Body.Len())
			}
			if want := strconv.Itoa(len(web.files["assets/"+file])); head.Header().Get("Content-Length") != want {
				t.Errorf("HEAD (%q): Content-Length %q, want %s (%s)", coding, head.Header().Get("Content-Length"), want, file)
			}
			for _, name := range []string{"Content-Encoding", "Content-Length", "Content-Type", "ETag", "Vary", "Cache-Control"} {
				if head.Header().Get(name) != get.Header().Get(name) {
					t.Errorf("HEAD (%q): %s %q, GET's %q", coding, name, head.Header().Get(name), get.Header().Get(name))
				}
			}
		}
	})

	t.Run("a conditional GET is answered 304 only for the variant it holds", func(t *testing.T) {
		gz := http.Header{"Accept-Encoding": {"gzip"}}
		first := env.Do(apitest.Request{Method: http.MethodGet, Path: script, Header: gz})
		etag := first.Header().Get("ETag")
		for _, tt := range []struct {
			name   string
			header http.Header
			want   int
		}{
			{"same variant", http.Header{"Accept-Encoding": {"gzip"}, "If-None-Match": {etag}}, 304},
			{"weak comparison", http.Header{"Accept-Encoding": {"gzip"}, "If-None-Match": {`"x", W/` + etag}}, 304},
			{"any", http.Header{"Accept-Encoding": {"gzip"}, "If-None-Match": {"*"}}, 304},
			{"now brotli", http.Header{"Accept-Encoding": {"br"}, "If-None-Match": {etag}}, 200},
			{"now none", http.Header{"If-None-Match": {etag}}, 200},
			{"another tag", http.Header{"Accept-Encoding": {"gzip"}, "If-None-Match": {`"other"`}}, 200},
			{"not modified since", http.Header{"Accept-Encoding": {"gzip"}, "If-Modified-Since": {first.Header().Get("Last-Modified")}}, 304},
			{"modified since", http.Header{"Accept-Encoding": {"gzip"}, "If-Modified-Since": {"Mon, 01 Jan 2001 00:00:00 GMT"}}, 200},
			{"If-None-Match decides over If-Modified-Since", http.Header{"Accept-Encoding": {"gzip"}, "If-None-Match": {`"other"`}, "If-Modified-Since": {first.Header().Get("Last-Modified")}}, 200},
			{"If-Match is not a precondition here", http.Header{"Accept-Encoding": {"gzip"}, "If-Match": {`"other"`}}, 200},
		} {
			resp := env.Do(apitest.Request{Method: http.MethodGet, Path: script, Header: tt.header})
			if resp.Code != tt.want {
				t.Errorf("%s: %d, want %d", tt.name, resp.Code, tt.want)
			}
			if resp.Code == http.StatusNotModified {
				if resp.Body.Len() != 0 || resp.Header().Get("ETag") != etag || !strings.Contains(resp.Header().Get("Vary"), "Accept-Encoding") {
					t.Errorf("%s: 304 with %d bytes, ETag %q, Vary %q; want no body, %s, Vary Accept-Encoding", tt.name, resp.Body.Len(), resp.Header().Get("ETag"), resp.Header().Get("Vary"), etag)
				}
			}
		}
	})

	t.Run("Range is not served: the whole variant comes", func(t *testing.T) {
		resp := env.Do(apitest.Request{Method: http.MethodGet, Path: script, Header: http.Header{"Accept-Encoding": {"gzip"}, "Range": {"bytes=0-9"}}})
		if resp.Code != http.StatusOK || resp.Header().Get("Content-Range") != "" || resp.Header().Get("Accept-Ranges") == "bytes" {
			t.Fatalf("%d, Content-Range %q, Accept-Ranges %q; want 200, the whole file, no ranges offered", resp.Code, resp.Header().Get("Content-Range"), resp.Header().Get("Accept-Ranges"))
		}
		checkVariant(t, resp, web.files["assets/app-1a2b.js"], "gzip")
	})

	t.Run("the app shell of a client-side route is compressed too", func(t *testing.T) {
		for _, path := range []string{"/", "/reports/2025", "/index.html"} {
			h := browserNavigation.Clone()
			h.Set("Accept-Encoding", "gzip")
			resp := env.Do(apitest.Request{Method: http.MethodGet, Path: path, Header: h})
			if resp.Code != http.StatusOK || resp.Header().Get("Content-Encoding") != "gzip" {
				t.Fatalf("GET %s: %d, Content-Encoding %q; want 200 gzip", path, resp.Code, resp.Header().Get("Content-Encoding"))
			}
			checkVariant(t, resp, web.files["index.html"], "gzip")
			if ct := resp.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
				t.Errorf("GET %s: Content-Type %q, want HTML", path, ct)
			}
			if csp := resp.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
				t.Errorf("GET %s: Content-Security-Policy %q, want the web app's", path, csp)
			}
		}
	})

	t.Run("only the copies the build wrote are sent", func(t *testing.T) {
		all := http.Header{"Accept-Encoding": {"br, gzip"}}
		resp := env.Do(apitest.Request{Method: http.MethodGet, Path: "/assets/gz-only-3c4d.css", Header: all})
		if resp.Header().Get("Content-Encoding") != "gzip" {
			t.Errorf("a file with only a .gz: Content-Encoding %q, want gzip", resp.Header().Get("Content-Encoding"))
		}
		checkVariant(t, resp, web.files["assets/gz-only-3c4d.css"], "gzip")
		resp = env.Do(apitest.Request{Method: http.MethodGet, Path: "/assets/plain-5e6f.css", Header: all})
		if resp.Header().Get("Content-Encoding") != "" || resp.Header().Get("Vary") != "" {
			t.Errorf("a file without copies: Content-Encoding %q, Vary %q; want neither", resp.Header().Get("Content-Encoding"), resp.Header().Get("Vary"))
		}
		if ct := resp.Header().Get("Content-Type"); ct != "text/css; charset=utf-8" {
			t.Errorf("Content-Type %q, want CSS", ct)
		}
	})

	t.Run("a copy older than its file is stale and not sent", func(t *testing.T) {
		stale := newBuiltWeb(t, false)
		later := time.Now().Add(time.Hour)
		if err := os.Chtimes(filepath.Join(stale.dir, "assets", "app-1a2b.js"), later, later); err != nil {
			t.Fatal(err)
		}
		env := apitest.New(t, func(c *config.Config) { c.WebDir = stale.dir })
		resp := env.Do(apitest.Request{Method: http.MethodGet, Path: script, Header: http.Header{"Accept-Encoding": {"br, gzip"}}})
		if resp.Header().Get("Content-Encoding") != "" {
			t.Errorf("Content-Encoding %q, want the file as it is", resp.Header().Get("Content-Encoding"))
		}
		checkVariant(t, resp, stale.files["assets/app-1a2b.js"], "")
	})

	t.Run("over a real connection, lengths hold", func(t *testing.T) {
		srv := httptest.NewServer(env.Handler)
		t.Cleanup(srv.Close)
		client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
		t.Cleanup(client.CloseIdleConnections)
		for _, method := range []string{http.MethodGet, http.MethodHead} {
			req, err := http.NewRequest(method, srv.URL+script, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Accept-Encoding", "gzip")
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatalf("%s: reading the body: %v", method, err)
			}
			want := int64(len(web.files["assets/app-1a2b.js.gz"]))
			if resp.ContentLength != want || resp.Header.Get("Content-Encoding") != "gzip" {
				t.Errorf("%s: Content-Length %d, Content-Encoding %q; want %d gzip", method, resp.ContentLength, resp.Header.Get("Content-Encoding"), want)
			}
			if method == http.MethodGet && !bytes.Equal(gunzipped(t, body), web.files["assets/app-1a2b.js"]) {
				t.Errorf("GET: the body does not decode to the script")
			}
		}
	})
}

// checkVariant checks that resp carries original under coding ("" for
// none, "br" for the stand-in bytes of newBuiltWeb), with a matching
// Content-Length and Vary.
func checkVariant(t *testing.T, resp apitest.Response, original []byte, coding string) {
	t.Helper()
	body := resp.Body.Bytes()
	if n := resp.Header().Get("Content-Length"); n != strconv.Itoa(len(body)) {
		t.Errorf("Content-Length %q, body of %d bytes", n, len(body))
	}
	if vary := resp.Header().Get("Vary"); !strings.Contains(vary, "Accept-Encoding") {
		t.Errorf("Vary %q, want Accept-Encoding", vary)
	}
	switch coding {
	case "":
		if !bytes.Equal(body, original) {
			t.Errorf("the body is not the file as it is: %.60q", body)
		}
	case "gzip":
		if !bytes.Equal(gunzipped(t, body), original) {
			t.Errorf("the gzip body does not decode to the file")
		}
	case "br":
		if !strings.HasPrefix(string(body), "brotli bytes of ") {
			t.Errorf("the body is not the .br copy: %.60q", body)
		}
	}
}
