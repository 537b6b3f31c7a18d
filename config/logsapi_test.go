package config

import (
	"errors"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
)

func TestLogsAPI(t *testing.T) {
	for _, tc := range []struct {
		name, toml, err string
	}{
		{"defaults: loopback, no tokens", "", ""},
		{"all interfaces need tokens", `listen = "0.0.0.0:7717"`, `logs.api.listen = "0.0.0.0:7717": is not loopback: set logs.api.tokens_file`},
		{"all interfaces with tokens", "listen = \"0.0.0.0:7717\"\ntokens_file = \"/etc/brisk/tokens\"", ""},
		{"localhost is loopback", `listen = "localhost:7717"`, ""},
		{"no port", `listen = "127.0.0.1"`, `logs.api.listen = "127.0.0.1": must be HOST:PORT`},
		{"socket only", `listen = ""`, ""},
		{"relative socket", `socket = "logd.sock"`, `logs.api.socket = "logd.sock": must be an absolute path`},
		{"cert without key", `tls_cert = "/c.pem"`, `logs.api.tls_cert = "/c.pem": and logs.api.tls_key = "": set both or neither`},
		{"client_ca without TLS", `client_ca = "/ca.pem"`, `logs.api.client_ca = "/ca.pem": needs logs.api.tls_cert`},
		{"relative tokens file", `tokens_file = "tokens"`, `logs.api.tokens_file = "tokens": must be an absolute path`},
		{"a peer with a path", `peers = ["http://10.0.0.7:7717/v1"]`, `logs.api.peers[0] = "http://10.0.0.7:7717/v1": must be an http:// or https:// URL with no path`},
		{"a peer without scheme", `peers = ["http://a:1", "10.0.0.7:7717"]`, `logs.api.peers[1] = "10.0.0.7:7717"`},
		{"peer_timeout too short", `peer_timeout = "1ms"`, `logs.api.peer_timeout = "1ms": must be between 10ms and 1m`},
		{"no followers", `max_followers = 0`, `logs.api.max_followers = "0": must be at least 1`},
		{"an unknown key", `lisen = "127.0.0.1:1"`, `lisen`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte("[logs.api]\n" + tc.toml + "\n"))
			switch {
			case tc.err == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Errorf("error %v; want one containing %q", err, tc.err)
			case tc.err != "" && tc.name != "an unknown key" && !errors.Is(err, errdefs.ErrInvalidArgument):
				t.Errorf("error %v is not InvalidArgument", err)
			}
		})
	}
}
