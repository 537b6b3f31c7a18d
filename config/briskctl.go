package config

import (
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
)

// Briskctl is the [briskctl] section: what briskctl needs off the node,
// so that a laptop's config names the log server once instead of every
// command repeating --server, --token-file and --ca-file. It is named
// after the binary that reads it, like [snapshotter]: the daemons never
// read it, and [logs.api] already holds the node's own client settings
// for its peers (client_ca), which a section called [client] would blur.
type Briskctl struct {
	// Server is a brisk-logd's node log API: https://HOST:PORT,
	// http://HOST:PORT, or unix:///run/brisk/logd.sock on a node. When
	// set, briskctl logs reads through it rather than from this machine's
	// spool and store.
	Server string `toml:"server"`
	// TokenFile holds the bearer token sent to Server (a TCP server
	// refuses requests without one).
	TokenFile string `toml:"token_file"`
	// CAFile is the PEM CA that signed an https Server's certificate,
	// trusted instead of the system's roots.
	CAFile string `toml:"ca_file"`
}

// Validate checks [briskctl]; every error names the key and its value.
func (b *Briskctl) Validate() error {
	if b.Server != "" {
		if err := CheckServer(b.Server); err != nil {
			return invalid("briskctl.server", b.Server, err.Error())
		}
	}
	for _, f := range []struct{ key, path string }{{"briskctl.token_file", b.TokenFile}, {"briskctl.ca_file", b.CAFile}} {
		if f.path != "" && !filepath.IsAbs(f.path) {
			return invalid(f.key, f.path, "must be an absolute path (the file is read from wherever briskctl runs)")
		}
	}
	if b.CAFile != "" && b.Server != "" && !strings.HasPrefix(b.Server, "https://") {
		return invalid("briskctl.ca_file", b.CAFile, fmt.Sprintf("is for an https server, and briskctl.server = %q is not one", b.Server))
	}
	return nil
}

// CheckServer says why s is not a node log API address: an http:// or
// https:// URL with a host and no query, or unix:// and an absolute socket
// path. The error does not name the key: config and flags name their own.
func CheckServer(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("not a URL: %w", err)
	}
	switch u.Scheme {
	case "http", "https":
		if u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return fmt.Errorf("want %s://HOST:PORT, with no user, query or fragment", u.Scheme)
		}
	case "unix":
		if u.Host != "" || !filepath.IsAbs(u.Path) {
			return fmt.Errorf("want unix:// and an absolute socket path (unix:///run/brisk/logd.sock)")
		}
	default:
		return fmt.Errorf("want https://HOST:PORT, http://HOST:PORT or unix:///PATH/TO/logd.sock")
	}
	return nil
}
