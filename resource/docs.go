package resource

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"html"
	"io"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"
)

// The docs page renders the OpenAPI document with Stoplight Elements served from the binary
// (docsassets/, gzip-compressed: about 660 KB), so /docs loads nothing from a CDN and runs under
// a Content-Security-Policy that allows scripts, styles and fetches from this origin only.
// Elements sets style attributes and injects <style> elements at run time, hence style-src
// 'unsafe-inline' (styles only; scripts stay 'self', no inline script, no eval).

// elementsVersion names the embedded Stoplight Elements release; it is part of the asset URLs so
// that they can be cached for good.
const elementsVersion = "9.0.25"

//go:embed docsassets/elements.js.gz docsassets/elements.css.gz
var docsAssets embed.FS

// DocsCSP is the Content-Security-Policy of /docs.
const DocsCSP = "default-src 'none'; base-uri 'none'; connect-src 'self'; font-src 'self' data:; " +
	"form-action 'none'; frame-ancestors 'none'; img-src 'self' data:; script-src 'self'; " +
	"style-src 'self' 'unsafe-inline'; sandbox allow-same-origin allow-scripts"

type docsAsset struct {
	gz          []byte // the embedded, gzip-compressed body
	contentType string
	etag        string
}

// docsHandlers returns the handlers of GET /docs and GET /docs/assets/{name}.
func (s *Server) docsHandlers() (page, assets http.HandlerFunc) {
	files := map[string]*docsAsset{}
	for name, ct := range map[string]string{
		"elements-" + elementsVersion + ".js":  "text/javascript; charset=utf-8",
		"elements-" + elementsVersion + ".css": "text/css; charset=utf-8",
	} {
		ext := name[strings.LastIndexByte(name, '.'):]
		gz, err := docsAssets.ReadFile("docsassets/elements" + ext + ".gz")
		if err != nil {
			panic("resource: embedded docs asset missing: " + err.Error()) // a build mistake
		}
		sum := sha256.Sum256(gz)
		files[name] = &docsAsset{gz: gz, contentType: ct, etag: `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`}
	}
	body := []byte(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="referrer" content="no-referrer">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>` + html.EscapeString(s.cfg.Title) + `</title>
<link rel="stylesheet" href="/docs/assets/elements-` + elementsVersion + `.css">
<script src="/docs/assets/elements-` + elementsVersion + `.js"></script>
</head>
<body>
<elements-api apiDescriptionUrl="/openapi.yaml" router="hash" layout="sidebar" tryItCredentialsPolicy="same-origin"></elements-api>
</body>
</html>
`)
	page = func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Content-Security-Policy", DocsCSP)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache")
		w.Write(body)
	}
	assets = func(w http.ResponseWriter, r *http.Request) {
		a, ok := files[chi.URLParam(r, "name")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Type", a.contentType)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
		h.Set("ETag", a.etag)
		h.Set("Vary", "Accept-Encoding")
		if r.Header.Get("If-None-Match") == a.etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		if acceptsGzip(r.Header.Get("Accept-Encoding")) {
			h.Set("Content-Encoding", "gzip")
			w.Write(a.gz)
			return
		}
		zr, err := gzip.NewReader(bytes.NewReader(a.gz))
		if err != nil {
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		io.Copy(w, zr)
	}
	return page, assets
}

// acceptsGzip reports whether an Accept-Encoding header allows gzip (not with q=0).
func acceptsGzip(header string) bool {
	for part := range strings.SplitSeq(header, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(coding), "gzip") || strings.TrimSpace(coding) == "*" {
			q := strings.ReplaceAll(params, " ", "")
			return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
		}
	}
	return false
}
