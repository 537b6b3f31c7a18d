package web

import (
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

//go:embed page/index.html page/app.css page/app.js
var files embed.FS

// page is the viewer with its script and style inlined, and the policy that
// lets exactly these run: a log is attacker-controlled text, so should any of
// it ever become markup, the browser still runs nothing but the page's own
// script (no inline handlers, no other source).
type page struct {
	body []byte
	csp  string
}

// build inlines app.css and app.js into index.html and hashes them for the
// Content-Security-Policy.
func build() (*page, error) {
	read := func(name string) (string, error) {
		b, err := files.ReadFile("page/" + name)
		if err != nil {
			return "", fmt.Errorf("page %s: %w", name, err)
		}
		return string(b), nil
	}
	html, err := read("index.html")
	if err != nil {
		return nil, err
	}
	css, err := read("app.css")
	if err != nil {
		return nil, err
	}
	js, err := read("app.js")
	if err != nil {
		return nil, err
	}
	for name, text := range map[string]string{"app.css": css, "app.js": js} {
		if strings.Contains(strings.ToLower(text), "</s") {
			return nil, fmt.Errorf("page %s: holds %q, which would end its element early", name, "</s")
		}
	}
	for _, slot := range []struct{ tag, text string }{{"<style></style>", css}, {"<script></script>", js}} {
		if strings.Count(html, slot.tag) != 1 {
			return nil, fmt.Errorf("page index.html: want one %s to fill, found %d", slot.tag, strings.Count(html, slot.tag))
		}
		open, end, _ := strings.Cut(slot.tag, "><")
		html = strings.Replace(html, slot.tag, open+">"+slot.text+"<"+end, 1)
	}
	csp := strings.Join([]string{
		"default-src 'self'",
		"script-src " + hashSource(js),
		"style-src " + hashSource(css),
		"img-src 'self' data:",
		"connect-src 'self'",
		"object-src 'none'",
		"base-uri 'none'",
		"form-action 'none'",
		"frame-ancestors 'none'",
	}, "; ")
	return &page{body: []byte(html), csp: csp}, nil
}

func mustBuild() *page {
	p, err := build()
	if err != nil {
		// The files are compiled in: this is a broken build, which the
		// package's tests catch.
		panic(err)
	}
	return p
}

// hashSource is the CSP source expression that allows exactly the inline
// element whose content is text.
func hashSource(text string) string {
	sum := sha256.Sum256([]byte(text))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}

func (p *page) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", p.csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	// no-store: no cache, the back/forward cache included, keeps the page
	// with a token typed into its box.
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(len(p.body)))
	_, _ = w.Write(p.body)
}
