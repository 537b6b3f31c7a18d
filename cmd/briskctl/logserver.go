package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/internal/unixsock"
	"github.com/brisk-containers/brisk/logs/spool"
)

// errEndedEarly is a followed answer that stopped before the task's exit:
// the server or the connection went away, so the output may lack its end.
var errEndedEarly = errors.New("the stream ended before the task did")

// logServer is a brisk-logd's node log API, as briskctl logs reads it from
// a machine without the node's spool and store.
type logServer struct {
	base   string // scheme://host[/prefix], no trailing slash
	token  string
	client *http.Client
}

// setting is a value briskctl takes from a flag or, when the flag is not
// given, from the config's [briskctl] section; name says which, for
// errors.
type setting struct{ value, name string }

// newLogServer is the server at server (https://, http:// or unix://), sent
// the token read from tokenFile, an https server's certificate checked
// against caFile (or the system's roots). Warnings go to warn.
func newLogServer(server, tokenFile, caFile setting, warn io.Writer) (*logServer, error) {
	if err := config.CheckServer(server.value); err != nil {
		return nil, fmt.Errorf("%s %q: %w", server.name, server.value, err)
	}
	u, _ := url.Parse(server.value) // checked just above
	transport := http.DefaultTransport.(*http.Transport).Clone()
	// No overall timeout: a follow lasts as long as its task. A server
	// that accepts and never answers is still given up on.
	transport.ResponseHeaderTimeout = time.Minute
	s := &logServer{client: &http.Client{Transport: transport}}
	switch u.Scheme {
	case "unix":
		// brisk-logd's socket speaks plain HTTP and trusts its callers
		// (only root reaches it): no token, no TLS.
		socket := u.Path
		transport.Proxy = nil
		transport.DialContext = unixsock.Dialer(socket)
		s.base = "http://brisk-logd"
	default:
		s.base = strings.TrimSuffix(u.Scheme+"://"+u.Host+u.EscapedPath(), "/")
	}
	if caFile.value != "" {
		if u.Scheme != "https" {
			return nil, fmt.Errorf("%s %q: is for an https server, and %s %q is not one", caFile.name, caFile.value, server.name, server.value)
		}
		pem, err := os.ReadFile(caFile.value)
		if err != nil {
			return nil, fmt.Errorf("%s %q: %w", caFile.name, caFile.value, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s %q: no PEM certificate in it", caFile.name, caFile.value)
		}
		// Only this CA: the log server's certificate is the cluster's
		// own, and a public CA vouching for the name is not enough.
		transport.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	if tokenFile.value != "" {
		token, err := readToken(tokenFile, warn)
		if err != nil {
			return nil, err
		}
		s.token = token
		if host := u.Hostname(); u.Scheme == "http" && !isLoopback(host) {
			fmt.Fprintf(warn, "briskctl: warning: the token goes to %s over plain http, readable by anyone on the way: use https\n", u.Host)
		}
	}
	return s, nil
}

// readToken reads the bearer token in f: the file's one word.
func readToken(f setting, warn io.Writer) (string, error) {
	fi, err := os.Stat(f.value)
	if err != nil {
		return "", fmt.Errorf("%s %q: %w", f.name, f.value, err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		fmt.Fprintf(warn, "briskctl: warning: %s %q can be read by others (mode %#o): the token reads every log of its namespaces; chmod 600 it\n", f.name, f.value, fi.Mode().Perm())
	}
	b, err := os.ReadFile(f.value)
	if err != nil {
		return "", fmt.Errorf("%s %q: %w", f.name, f.value, err)
	}
	token := strings.TrimSpace(string(b))
	switch {
	case token == "":
		return "", fmt.Errorf("%s %q: empty: want the token alone", f.name, f.value)
	case strings.ContainsFunc(token, func(r rune) bool { return r <= ' ' }):
		// A line of logs.api.tokens_file ("TOKEN NAMESPACES") is not a
		// token: sending it would only get 401.
		return "", fmt.Errorf("%s %q: holds more than one word: want the token alone, not a line of logs.api.tokens_file", f.name, f.value)
	}
	return token, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// logsURL is GET /v1/logs/{ns}/{id} with query q; each segment of id (a
// pod's task ID/CONTAINER has two) escaped on its own.
func (s *logServer) logsURL(ns, id string, q url.Values) string {
	segs := strings.Split(id, "/")
	for i, seg := range segs {
		segs[i] = url.PathEscape(seg)
	}
	return s.base + "/v1/logs/" + url.PathEscape(ns) + "/" + strings.Join(segs, "/") + "?" + q.Encode()
}

// remoteQuery is what briskctl logs asks the server for.
type remoteQuery struct {
	follow bool
	stream spool.Stream
	run    int // 0: the latest
}

// printLogs asks the server for a run of (ns, id) and prints it with p, as
// briskctl logs prints it from the node's spool or store. A followed
// answer must end with the task's exit.
func (s *logServer) printLogs(ctx context.Context, ns, id string, rq remoteQuery, p *printer, warn io.Writer) error {
	q := url.Values{"format": {"ndjson"}}
	if rq.follow {
		q.Set("follow", "1")
	}
	if rq.stream != "" {
		q.Set("stream", string(rq.stream))
	}
	if rq.run > 0 {
		q.Set("run", fmt.Sprint(rq.run))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.logsURL(ns, id, q), nil)
	if err != nil {
		return err
	}
	if s.token != "" {
		req.Header.Set("Authorization", "Bearer "+s.token)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if peers := resp.Header.Get("Brisk-Unreachable-Peers"); peers != "" {
		fmt.Fprintf(warn, "briskctl: warning: nodes that did not answer: %s\n", peers)
	}
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		msg := strings.TrimSpace(string(body))
		if resp.StatusCode == http.StatusUnauthorized && s.token == "" {
			msg += " (give --token-file, or briskctl.token_file in the config)"
		}
		return fmt.Errorf("%s: %s", resp.Status, msg)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-ndjson") {
		return fmt.Errorf("%s answered %q, not application/x-ndjson: is it a brisk-logd?", s.base, ct)
	}
	node := resp.Header.Get("Brisk-Node")
	exited, err := decodeNDJSON(resp.Body, p.print)
	switch {
	case err != nil && ctx.Err() != nil:
		return ctx.Err()
	case err != nil:
		return fmt.Errorf("brisk-logd on %s: %w", node, err)
	case rq.follow && !exited:
		return fmt.Errorf("brisk-logd on %s: %w", node, errEndedEarly)
	}
	return nil
}

// ndLine is one line of a format=ndjson answer: a record, the exit, or an
// error met after the answer began.
type ndLine struct {
	Time    time.Time    `json:"time"`
	Stream  spool.Stream `json:"stream"`
	Partial bool         `json:"partial"`
	Log     *string      `json:"log"`
	LogB64  []byte       `json:"log_b64"` // the bytes as written, when not UTF-8
	Exit    *struct {
		Code int `json:"code"`
	} `json:"exit"`
	Error *string `json:"error"`
}

// decodeNDJSON passes each record of body to fn, and says whether the
// answer reached the task's exit. An error line, a line that is not one
// of the three, or a body cut off mid-line is an error.
func decodeNDJSON(body io.Reader, fn func(spool.Record) error) (exited bool, err error) {
	br := bufio.NewReaderSize(body, 64<<10)
	for {
		line, rerr := br.ReadBytes('\n')
		if len(line) > 0 && rerr == nil {
			var l ndLine
			if err := json.Unmarshal(line, &l); err != nil {
				return false, fmt.Errorf("not an answer line: %q: %w", truncated(line), err)
			}
			switch {
			case l.Error != nil:
				return false, errors.New(*l.Error)
			case l.Exit != nil:
				return true, nil
			case l.Log != nil:
				r := spool.Record{Time: l.Time, Stream: l.Stream, Partial: l.Partial, Content: []byte(*l.Log)}
				if l.LogB64 != nil {
					r.Content = l.LogB64
				}
				if err := fn(r); err != nil {
					return false, err
				}
			default:
				return false, fmt.Errorf("not an answer line: %q", truncated(line))
			}
			continue
		}
		switch {
		case rerr == io.EOF && len(line) == 0:
			return false, nil
		case rerr == io.EOF:
			return false, fmt.Errorf("cut off in the middle of a line: %w", errEndedEarly)
		default:
			return false, fmt.Errorf("%w: %w", errEndedEarly, rerr)
		}
	}
}

func truncated(b []byte) []byte {
	b = bytes.TrimSpace(b)
	if len(b) > 120 {
		return b[:120]
	}
	return b
}
