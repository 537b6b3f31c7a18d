package doctor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/brisk-containers/brisk/internal/unixsock"
	"github.com/brisk-containers/brisk/logs/spool"
)

// logdCheck asks brisk-logd for /healthz on its unix socket. brisk-logd is
// the node's log retrier as well as its log API: without it a log whose
// upload failed at the task's exit waits in the spool until someone runs
// briskctl flush.
var logdCheck = Check{
	Name: "logd/running",
	Hint: "brisk-logd does not answer on its socket: check systemctl status brisk-logd",
	Run: func(ctx context.Context, n *Node) []Result {
		if n.ConfigErr != nil {
			return needConfig(n)
		}
		return logdResults(ctx, n.Config.Logs.API.Socket, n.Config.Logs.SpoolDir)
	},
}

// logdResults grades brisk-logd on socket sock, with the spool in spoolDir
// telling whether logs wait for it.
func logdResults(ctx context.Context, sock, spoolDir string) []Result {
	if sock == "" {
		return one(Info, "logs.api.socket is empty: brisk-logd serves no socket here, not checked",
			`set logs.api.socket (default "/run/brisk/logd.sock") and restart brisk-logd`)
	}
	err := logdHealthz(ctx, sock)
	if err == nil {
		return shippingResults(ctx, sock)
	}
	found := fmt.Sprintf("no brisk-logd answers on %s (%v)", sock, err)
	fix := "systemctl enable --now brisk-logd (its log says why it stopped), with the config briskctl reads"
	st, serr := spool.ReadStats(spoolDir)
	switch {
	case serr != nil:
		return one(Fail, found+"; read spool "+spoolDir+": "+serr.Error(), fix)
	case st.Done > 0:
		return one(Fail, fmt.Sprintf("%s, and %d finished logs are pending in %s: logs wait; briskctl flush ships them", found, st.Done, spoolDir),
			fix+"; briskctl flush ships the pending logs now")
	}
	return one(Warn, found+": no node log API, and a log whose upload fails at exit waits for briskctl flush", fix)
}

// logdShipping is the part of brisk-logd's GET /v1/status that doctor
// grades (logd.ShipHealth).
type logdShipping struct {
	Store               string    `json:"store"`
	Shipped             uint64    `json:"shipped"`
	ConsecutiveFailures int       `json:"consecutive_failures"`
	LastShipped         time.Time `json:"last_shipped"`
	LastError           string    `json:"last_error"`
	LastErrorKind       string    `json:"last_error_kind"`
}

// shippingResults grades how brisk-logd ships: a shipper that cannot ship
// (no credentials, refused, no bucket, unreachable) is a FAIL naming why.
// What its S3 requests cost follows, as logd/cost, when it says.
func shippingResults(ctx context.Context, sock string) []Result {
	var st struct {
		Shipping *logdShipping `json:"shipping"`
		Requests *logdRequests `json:"requests"`
	}
	resp, err := logdGet(ctx, sock, "/v1/status")
	if err == nil {
		defer resp.Body.Close()
		err = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&st)
	}
	if err != nil || st.Shipping == nil {
		return pass("brisk-logd answers on %s (its shipping status not read: %v)", sock, err)
	}
	rs := shipping(sock, st.Shipping)
	if st.Requests != nil {
		rs = append(rs, costResult(*st.Requests))
	}
	return rs
}

// shipping grades brisk-logd's shipping status.
func shipping(sock string, sh *logdShipping) []Result {
	if sh.ConsecutiveFailures == 0 {
		return pass("brisk-logd answers on %s and ships to %s (%d shipped since it started)", sock, sh.Store, sh.Shipped)
	}
	since := "since it started"
	if !sh.LastShipped.IsZero() {
		since = "since its last success at " + sh.LastShipped.UTC().Format(time.RFC3339)
	}
	fix := map[string]string{
		"credentials": "give brisk-logd S3 credentials: the node's instance role, or /etc/brisk/s3.env (mode 0600) read by its unit; then systemctl restart brisk-logd",
		"access":      "the store refuses brisk-logd's credentials: check the key in /etc/brisk/s3.env or the role's policy (s3:PutObject on the bucket)",
		"bucket":      "create the bucket: briskctl bucket init",
		"network":     "brisk-logd cannot reach logs.s3.endpoint: check the endpoint, DNS and the network path",
		"timeout":     "the store does not answer within logs.s3.request_timeout: check the link and the store",
	}[sh.LastErrorKind]
	if fix == "" {
		fix = "read brisk-logd's log (journalctl -u brisk-logd); briskctl flush shows the same error"
	}
	return one(Fail, fmt.Sprintf("brisk-logd cannot ship to %s: %d failed attempts in a row %s; last (%s): %s: finished logs wait in the spool",
		sh.Store, sh.ConsecutiveFailures, since, sh.LastErrorKind, sh.LastError), fix)
}

// logdHealthz is GET /healthz over the unix socket sock: nil when it
// answers 200 "ok".
func logdHealthz(ctx context.Context, sock string) error {
	resp, err := logdGet(ctx, sock, "/healthz")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(body)) != "ok" {
		return fmt.Errorf("GET /healthz: %s %q", resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}

// logdGet is GET path on brisk-logd's unix socket sock.
func logdGet(ctx context.Context, sock, path string) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	client := unixsock.HTTPClient(sock, 0) // the context bounds it
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://brisk-logd"+path, nil)
	if err != nil {
		cancel()
		return nil, err
	}
	resp, err := client.Do(req)
	var ue *url.Error
	if errors.As(err, &ue) {
		cancel()
		return nil, ue.Err // the dial's error, without the made-up URL
	}
	if err != nil {
		cancel()
		return nil, err
	}
	resp.Body = cancelOnClose{resp.Body, cancel}
	return resp, nil
}

// cancelOnClose ends a request's context once its body is read.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c cancelOnClose) Close() error { defer c.cancel(); return c.ReadCloser.Close() }
