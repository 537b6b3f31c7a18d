// Package web serves brisk-logd's log viewer: one page that follows a task's
// log through the node log API (GET /v1/logs/...) from the browser.
//
// The page is served without authentication: it holds no data. It asks for a
// token, keeps it in the tab's sessionStorage and sends it as a bearer token on
// its own requests to /v1. Everything it needs is inside the one document, so
// the policy forbids any other script, style or connection than its own.
package web

import (
	"net/http"
)

// Handler serves the page at GET / and at GET /t/{namespace}/{id}, the link
// that opens one task directly (the one a CI system prints).
func Handler() http.Handler {
	p := mustBuild()
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", p)
	mux.Handle("GET /t/{namespace}/{id}", p)
	return mux
}
