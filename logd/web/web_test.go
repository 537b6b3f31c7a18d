package web

import (
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func TestHandlerRoutes(t *testing.T) {
	srv := httptest.NewServer(Handler())
	defer srv.Close()
	for _, tc := range []struct {
		method, path string
		want         int
	}{
		{"GET", "/", http.StatusOK},
		{"HEAD", "/", http.StatusOK},
		{"GET", "/t/default/abc123", http.StatusOK},
		{"GET", "/t/ci%2Fjobs/run%201", http.StatusOK},
		{"GET", "/t/default", http.StatusNotFound},
		{"GET", "/t/default/abc/more", http.StatusNotFound},
		{"GET", "/v1/logs/default/abc", http.StatusNotFound},
		{"GET", "/index.html", http.StatusNotFound},
		{"POST", "/", http.StatusMethodNotAllowed},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, srv.URL+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("%s %s: status %d, want %d", tc.method, tc.path, resp.StatusCode, tc.want)
			}
		})
	}
}

// TestPageHeaders checks the policy that keeps a log's text from running as
// script: only the page's own inline script and style, by hash, nothing from
// elsewhere, and no caching.
func TestPageHeaders(t *testing.T) {
	srv := httptest.NewServer(Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/t/default/abc")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []struct{ key, want string }{
		{"Content-Type", "text/html; charset=utf-8"},
		{"X-Content-Type-Options", "nosniff"},
		{"Cache-Control", "no-store"},
		{"Referrer-Policy", "no-referrer"},
		{"X-Frame-Options", "DENY"},
	} {
		if got := resp.Header.Get(h.key); got != h.want {
			t.Errorf("header %s = %q, want %q", h.key, got, h.want)
		}
	}

	csp := map[string]string{}
	for _, d := range strings.Split(resp.Header.Get("Content-Security-Policy"), ";") {
		name, value, _ := strings.Cut(strings.TrimSpace(d), " ")
		csp[name] = value
	}
	page := string(body)
	inline := func(tag string) string {
		m := regexp.MustCompile(`(?s)<`+tag+`>(.*?)</`+tag+`>`).FindAllStringSubmatch(page, -1)
		if len(m) != 1 {
			t.Fatalf("page has %d <%s> elements, want 1", len(m), tag)
		}
		sum := sha256.Sum256([]byte(m[0][1]))
		return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
	}
	for _, d := range []struct{ name, want string }{
		{"default-src", "'self'"},
		{"script-src", inline("script")},
		{"style-src", inline("style")},
		{"connect-src", "'self'"},
		{"object-src", "'none'"},
		{"base-uri", "'none'"},
		{"frame-ancestors", "'none'"},
	} {
		if got := csp[d.name]; got != d.want {
			t.Errorf("Content-Security-Policy %s = %q, want %q", d.name, got, d.want)
		}
	}
	for _, bad := range []string{"unsafe-inline", "unsafe-eval", "http:", "https:", "*"} {
		if strings.Contains(resp.Header.Get("Content-Security-Policy"), bad) {
			t.Errorf("Content-Security-Policy allows %q: %s", bad, resp.Header.Get("Content-Security-Policy"))
		}
	}
	// No external assets: nothing the page names is fetched from elsewhere.
	if m := regexp.MustCompile(`(?i)(src|href)\s*=\s*"(https?:)?//`).FindString(page); m != "" {
		t.Errorf("page names an external asset: %s", m)
	}
	if strings.Contains(page, "innerHTML") || strings.Contains(page, "insertAdjacentHTML") || strings.Contains(page, "document.write") {
		t.Error("page writes markup from strings; a log's text must reach it through textContent only")
	}
}
