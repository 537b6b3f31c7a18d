package harness

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/internal/unixsock"
)

// LogdToken is the token of every namespace in a harness brisk-logd's
// tokens file; LogdTokenFor gives one limited to a namespace.
const LogdToken = "harness-token-all-namespaces-0001"

// LogdTokenFor is the harness tokens file's token for namespace ns alone.
func LogdTokenFor(ns string) string { return "harness-token-ns-" + ns }

// Logd is a running brisk-logd.
type Logd struct {
	Proc       *Process
	Name       string
	URL        string // its TCP API, http:// or https://
	Socket     string
	ConfigPath string
	TokensFile string
}

// LogdOpt adds to a brisk-logd's [logs.api] section.
type LogdOpt func(api *string)

// WithAPI appends lines to the [logs.api] section (peers = [...], tls_cert = ...).
func WithAPI(lines string) LogdOpt { return func(api *string) { *api += lines + "\n" } }

// StartLogd writes a config of logsTOML (the [logs] sections the shims
// read, spool_dir among them, and the [logs.api] socket they hand logs
// over on, when it names one) and a private [logs.api], and starts
// brisk-logd as the node named name, waiting until it answers.
// Each namespace the harness uses (brisk-test, k8s.io, default, other) and
// each named in namespaces gets a token of its own (LogdTokenFor).
func (e *Env) StartLogd(name, logsTOML string, namespaces []string, opts ...LogdOpt) *Logd {
	e.T.Helper()
	return e.StartLogdEnv(name, logsTOML, namespaces, nil, opts...)
}

// StartLogdEnv is StartLogd with env added to the daemon's environment (S3
// credentials the test process does not hold).
func (e *Env) StartLogdEnv(name, logsTOML string, namespaces, env []string, opts ...LogdOpt) *Logd {
	e.T.Helper()
	port := FreePort(e.T)
	l := &Logd{
		Name:       name,
		URL:        fmt.Sprintf("http://127.0.0.1:%d", port),
		Socket:     e.Path("logd-" + name + ".sock"),
		ConfigPath: e.Path("logd-" + name + ".toml"),
		TokensFile: e.Path("logd-" + name + ".tokens"),
	}
	tokens := LogdToken + " *\n"
	for _, ns := range append([]string{"brisk-test", "k8s.io", "default", "other"}, namespaces...) {
		tokens += LogdTokenFor(ns) + " " + ns + "\n"
	}
	if err := os.WriteFile(l.TokensFile, []byte(tokens), 0o600); err != nil {
		e.T.Fatal(err)
	}
	api := fmt.Sprintf("listen = \"127.0.0.1:%d\"\ntokens_file = %q\nnode_name = %q\n", port, l.TokensFile, name)
	for _, o := range opts {
		o(&api)
	}
	// The shims' config may name the socket they hand logs over on
	// (logs.api.socket): this daemon serves it, under the same header.
	var file string
	if head, rest, ok := strings.Cut(logsTOML, "[logs.api]\n"); ok {
		cfg, err := config.Parse([]byte(logsTOML))
		if err != nil {
			e.T.Fatal(err)
		}
		l.Socket = cfg.Logs.API.Socket
		file = head + "[logs.api]\n" + api + rest
	} else {
		file = logsTOML + "\n[logs.api]\n" + fmt.Sprintf("socket = %q\n", l.Socket) + api
	}
	if err := os.WriteFile(l.ConfigPath, []byte(file), 0o644); err != nil {
		e.T.Fatal(err)
	}
	if tlsOn(api) {
		l.URL = fmt.Sprintf("https://127.0.0.1:%d", port)
	}
	l.Proc = e.Start("brisk-logd-"+name, env, filepath.Join(e.BriskBin, "brisk-logd"), "--config", l.ConfigPath, "--log-level", "debug")
	e.WaitLogd(l)
	return l
}

func tlsOn(api string) bool {
	for _, line := range strings.Split(api, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "tls_cert") {
			return true
		}
	}
	return false
}

// UnixClient is an HTTP client of the server on the unix socket at path
// (any host in the URL).
func UnixClient(path string) *http.Client { return unixsock.HTTPClient(path, 0) }

// WaitLogd waits until l's unix socket answers /healthz, failing the test
// with its log if it exits or does not come up.
func (e *Env) WaitLogd(l *Logd) {
	e.T.Helper()
	c := UnixClient(l.Socket)
	ok := WaitFor(20*time.Second, func() bool {
		if !l.Proc.Running() {
			return true
		}
		resp, err := c.Get("http://logd/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	if !ok || !l.Proc.Running() {
		e.T.Fatalf("brisk-logd %s did not come up:\n%s", l.Name, l.Proc.LogTail())
	}
}
