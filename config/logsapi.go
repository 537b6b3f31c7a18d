package config

import (
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"time"
)

// LogsAPI is the [logs.api] section: brisk-logd's node log API. It is
// served on a unix socket for the node (root only, no token) and on a TCP
// listener for everyone else, where every request carries a token.
type LogsAPI struct {
	// Listen is the TCP address; loopback unless told otherwise. "" turns
	// the TCP listener off.
	Listen string `toml:"listen"`
	// Socket is the unix socket for the node's own clients (briskctl,
	// shims): mode 0600, so only root reaches it.
	Socket string `toml:"socket"`
	// TLSCert and TLSKey turn on TLS (and HTTP/2) on the TCP listener.
	TLSCert string `toml:"tls_cert"`
	TLSKey  string `toml:"tls_key"`
	// ClientCA, when set, requires peers' and clients' certificates signed
	// by it (mutual TLS), and is the CA peers' certificates are checked
	// against when this daemon calls them.
	ClientCA string `toml:"client_ca"`
	// TokensFile holds one "TOKEN NAMESPACE[,NAMESPACE...]" per line, "*"
	// for every namespace. Re-read when it changes (a Kubernetes Secret).
	TokensFile string `toml:"tokens_file"`
	// Peers are the other nodes' API URLs; PeersDNS a headless Service's
	// name whose addresses are the peers (on this daemon's port).
	Peers    []string `toml:"peers"`
	PeersDNS string   `toml:"peers_dns"`
	// NodeName names this node in answers; the hostname by default.
	NodeName string `toml:"node_name"`
	// PeerTimeout bounds the fan-out to peers when looking an ID up.
	PeerTimeout Duration `toml:"peer_timeout"`
	// MetricsAddress serves Prometheus metrics (shipping, the spool's
	// backlog) over TCP, unauthenticated as Prometheus scrapes: they hold
	// counts, never a log. "" serves them on the unix socket alone.
	MetricsAddress string `toml:"metrics_address"`
	// MaxConnections and MaxFollowers cap what clients can hold open.
	MaxConnections int `toml:"max_connections"`
	MaxFollowers   int `toml:"max_followers"`
}

// DefaultAPIPort is the node log API's port.
const DefaultAPIPort = "7717"

// DefaultLogsAPI returns the [logs.api] defaults: loopback only, the unix
// socket under /run/brisk, peers asked for at most 1 s.
func DefaultLogsAPI() LogsAPI {
	return LogsAPI{
		Listen:         "127.0.0.1:" + DefaultAPIPort,
		Socket:         "/run/brisk/logd.sock",
		PeerTimeout:    Duration(time.Second),
		MaxConnections: 256,
		MaxFollowers:   128,
	}
}

// Loopback says whether the TCP listener is bound to loopback only.
func (a *LogsAPI) Loopback() bool {
	host, _, err := net.SplitHostPort(a.Listen)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// TLS says whether the TCP listener serves TLS.
func (a *LogsAPI) TLS() bool { return a.TLSCert != "" }

// Validate checks [logs.api]; every error names the key and its value.
func (a *LogsAPI) Validate() error {
	if a.Listen != "" {
		if _, port, err := net.SplitHostPort(a.Listen); err != nil || port == "" {
			return invalid("logs.api.listen", a.Listen, "must be HOST:PORT (127.0.0.1:7717), or empty to serve only the unix socket")
		}
		if !a.Loopback() && a.TokensFile == "" {
			return invalid("logs.api.listen", a.Listen, "is not loopback: set logs.api.tokens_file, so that every request over the network is authenticated")
		}
	}
	if a.MetricsAddress != "" {
		if _, port, err := net.SplitHostPort(a.MetricsAddress); err != nil || port == "" {
			return invalid("logs.api.metrics_address", a.MetricsAddress, "must be HOST:PORT, or empty")
		}
	}
	if a.Socket != "" && !filepath.IsAbs(a.Socket) {
		return invalid("logs.api.socket", a.Socket, "must be an absolute path")
	}
	if (a.TLSCert == "") != (a.TLSKey == "") {
		return invalid("logs.api.tls_cert", a.TLSCert, fmt.Sprintf("and logs.api.tls_key = %q: set both or neither", a.TLSKey))
	}
	if a.ClientCA != "" && a.TLSCert == "" {
		return invalid("logs.api.client_ca", a.ClientCA, "needs logs.api.tls_cert and tls_key: mutual TLS is TLS")
	}
	for _, f := range []struct{ key, path string }{
		{"logs.api.tls_cert", a.TLSCert}, {"logs.api.tls_key", a.TLSKey},
		{"logs.api.client_ca", a.ClientCA}, {"logs.api.tokens_file", a.TokensFile},
	} {
		if f.path != "" && !filepath.IsAbs(f.path) {
			return invalid(f.key, f.path, "must be an absolute path")
		}
	}
	for i, p := range a.Peers {
		u, err := url.Parse(p)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return invalid(fmt.Sprintf("logs.api.peers[%d]", i), p, "must be an http:// or https:// URL with no path (https://10.0.0.7:7717)")
		}
	}
	if time.Duration(a.PeerTimeout) < 10*time.Millisecond || time.Duration(a.PeerTimeout) > time.Minute {
		return invalid("logs.api.peer_timeout", time.Duration(a.PeerTimeout).String(), "must be between 10ms and 1m")
	}
	if a.MaxConnections < 1 {
		return invalid("logs.api.max_connections", a.MaxConnections, "must be at least 1")
	}
	if a.MaxFollowers < 1 {
		return invalid("logs.api.max_followers", a.MaxFollowers, "must be at least 1")
	}
	return nil
}
