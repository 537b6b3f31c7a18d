package logd

import (
	"fmt"
	"net/http"
	"strings"
)

// caller is who sent a request and what they may read.
type caller struct {
	namespaces []string // AllNamespaces for the unix socket
	token      string   // passed on when the request is sent on to a peer
	peerCert   bool     // a certificate signed by client_ca was given
}

func (c caller) allows(ns string) bool { return Allows(c.namespaces, ns) }

// authenticated runs h for requests that carry a known token, or come over
// the unix socket (trusted: only root can reach it, and root reads the
// spool anyway).
func (s *Server) authenticated(trusted bool, h func(http.ResponseWriter, *http.Request, caller)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if trusted {
			h(w, r, caller{namespaces: []string{AllNamespaces}})
			return
		}
		c := caller{peerCert: r.TLS != nil && len(r.TLS.VerifiedChains) > 0}
		if s.tokens == nil {
			deny(w, http.StatusUnauthorized, "this node has no logs.api.tokens_file: its API over the network is closed (root on the node uses the unix socket)")
			return
		}
		auth := r.Header.Get("Authorization")
		token, ok := strings.CutPrefix(auth, "Bearer ")
		if !ok || token == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="brisk-logd"`)
			deny(w, http.StatusUnauthorized, "no token: send Authorization: Bearer TOKEN")
			return
		}
		namespaces, known := s.tokens.Lookup(token)
		if !known {
			w.Header().Set("WWW-Authenticate", `Bearer realm="brisk-logd", error="invalid_token"`)
			deny(w, http.StatusUnauthorized, "unknown token")
			return
		}
		c.namespaces, c.token = namespaces, token
		// A request for this node's spool alone is a peer's hop. With
		// client_ca set, only a peer's certificate may make it, so that a
		// token alone cannot probe each node directly.
		if r.URL.Query().Get("local") != "" && s.api.ClientCA != "" && !c.peerCert {
			deny(w, http.StatusForbidden, "local=1 is for peers: present a certificate signed by logs.api.client_ca")
			return
		}
		h(w, r, c)
	})
}

// deny answers with status and a one-line reason.
func deny(w http.ResponseWriter, status int, format string, args ...any) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	fmt.Fprintf(w, format+"\n", args...)
}
