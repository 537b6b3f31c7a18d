package logd

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/brisk-containers/brisk/config"
)

// peerCacheTTL is how long the node a live ID was found on is asked first:
// longer than a task lives and its log stays in that node's spool.
const peerCacheTTL = 10 * time.Minute

// Peers are the other nodes' log APIs, asked when an ID is not in this
// node's spool.
type Peers struct {
	static  []string
	dns     string // a headless Service: its addresses are the peers
	port    string
	scheme  string
	timeout time.Duration
	client  *http.Client
	resolve func(ctx context.Context, host string) ([]string, error)

	mu    sync.Mutex
	where map[string]cachedPeer // namespace/id -> where it was found live
}

type cachedPeer struct {
	url string
	at  time.Time
}

// peerTask is a run a peer holds in its spool.
type peerTask struct {
	url  string // the peer's base URL
	node string
	Task
}

func newPeers(api config.LogsAPI, client *http.Client) *Peers {
	_, port, _ := net.SplitHostPort(api.Listen)
	if port == "" {
		port = config.DefaultAPIPort
	}
	scheme := "http"
	if api.TLS() {
		scheme = "https"
	}
	return &Peers{
		static: api.Peers, dns: api.PeersDNS, port: port, scheme: scheme,
		timeout: time.Duration(api.PeerTimeout), client: client,
		resolve: net.DefaultResolver.LookupHost,
		where:   map[string]cachedPeer{},
	}
}

// Configured says whether there is anyone to ask.
func (p *Peers) Configured() bool { return len(p.static) > 0 || p.dns != "" }

// urls are the peers' base URLs now: the configured ones and the
// addresses the headless Service's name resolves to.
func (p *Peers) urls(ctx context.Context) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	for _, u := range p.static {
		u = strings.TrimSuffix(u, "/")
		if !seen[u] {
			seen[u] = true
			out = append(out, u)
		}
	}
	if p.dns == "" {
		return out, nil
	}
	addrs, err := p.resolve(ctx, p.dns)
	if err != nil {
		return out, fmt.Errorf("logs.api.peers_dns = %q: %w", p.dns, err)
	}
	sort.Strings(addrs)
	for _, a := range addrs {
		u := p.scheme + "://" + net.JoinHostPort(a, p.port)
		if !seen[u] {
			seen[u] = true
			out = append(out, u)
		}
	}
	return out, nil
}

// find asks the peers, within the fan-out deadline, which of them holds
// (ns, id) in its spool; a peer that does not answer in time is named in
// unreachable, and fails nothing. Unless every run is wanted (all), the
// first peer that holds the ID ends the wait: a task runs on one node, and
// slow peers must not hold up its follower. The peer a live ID was found
// on is asked alone first, the next time.
func (p *Peers) find(ctx context.Context, ns, id, token, self string, all bool) (hits []peerTask, unreachable []string, asked []string, err error) {
	key := ns + "/" + id
	p.mu.Lock()
	c, cached := p.where[key]
	p.mu.Unlock()
	if cached && time.Since(c.at) < peerCacheTTL {
		if hits, node, err := p.ask(ctx, c.url, ns, id, token); err == nil && len(hits) > 0 && node != self {
			return hits, nil, []string{node}, nil
		}
	}
	urls, err := p.urls(ctx)
	if len(urls) == 0 {
		return nil, nil, nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	type answer struct {
		url  string
		node string
		hits []peerTask
		err  error
	}
	answers := make(chan answer, len(urls))
	for _, u := range urls {
		go func() {
			hits, node, err := p.ask(ctx, u, ns, id, token)
			answers <- answer{u, node, hits, err}
		}()
	}
	for range urls {
		if len(hits) > 0 && !all {
			break // the others are cancelled with ctx
		}
		a := <-answers
		switch {
		case a.err != nil:
			unreachable = append(unreachable, peerName(a.url))
		case a.node == self:
			// The Service's addresses include this node's own.
		default:
			asked = append(asked, a.node)
			hits = append(hits, a.hits...)
		}
	}
	sort.Strings(unreachable)
	sort.Strings(asked)
	p.mu.Lock()
	if len(hits) > 0 {
		p.where[key] = cachedPeer{url: hits[len(hits)-1].url, at: time.Now()}
	} else {
		delete(p.where, key)
	}
	for k, v := range p.where { // a few entries a minute: swept as it goes
		if time.Since(v.at) > peerCacheTTL {
			delete(p.where, k)
		}
	}
	p.mu.Unlock()
	return hits, unreachable, asked, err
}

// ask asks one peer for its spool's runs of (ns, id).
func (p *Peers) ask(ctx context.Context, base, ns, id, token string) ([]peerTask, string, error) {
	q := url.Values{"namespace": {ns}, "id": {id}, "local": {"1"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/tasks?"+q.Encode(), nil)
	if err != nil {
		return nil, "", err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, "", fmt.Errorf("%s: %s", base, resp.Status)
	}
	var list TaskList
	if err := json.NewDecoder(http.MaxBytesReader(nil, resp.Body, 4<<20)).Decode(&list); err != nil {
		return nil, "", fmt.Errorf("%s: %w", base, err)
	}
	var hits []peerTask
	for _, t := range list.Tasks {
		if t.Namespace == ns && t.ID == id {
			hits = append(hits, peerTask{url: base, node: list.Node, Task: t})
		}
	}
	return hits, list.Node, nil
}

func peerName(u string) string {
	if p, err := url.Parse(u); err == nil && p.Host != "" {
		return p.Host
	}
	return u
}

// peerClient is the client peers are called with: over TLS when this node
// serves TLS, checking the peers' certificates against client_ca (the
// cluster's CA) and giving this node's own as its client certificate.
func (s *Server) peerClient() (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	// Kept-alive connections to every peer: the fan-out asks them all
	// at once, and a new connection per peer and lookup (a TLS handshake
	// each) cost more than the lookup (the default keeps 100 in all).
	tr.MaxIdleConns = 0
	tr.MaxIdleConnsPerHost = 4
	tr.ResponseHeaderTimeout = 0
	if s.api.TLS() {
		c := &tls.Config{MinVersion: tls.VersionTLS12}
		if s.api.ClientCA != "" {
			pool, err := loadCA(s.api.ClientCA)
			if err != nil {
				return nil, err
			}
			c.RootCAs = pool
			certs := &certFiles{cert: s.api.TLSCert, key: s.api.TLSKey}
			c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return certs.get() }
		}
		tr.TLSClientConfig = c
	}
	tr.ForceAttemptHTTP2 = true
	return &http.Client{Transport: tr}, nil
}
