package main

import (
	"net/http"

	"github.com/brisk-containers/brisk/logd/web"
)

// page is the log viewer served at / and /t/{namespace}/{id}.
func page() http.Handler { return web.Handler() }
