package main

import "net/http"

// page is the log viewer served at / (package logd/web once it lands).
func page() http.Handler { return nil }
