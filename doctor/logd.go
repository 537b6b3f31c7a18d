package doctor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"

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
		return pass("brisk-logd answers on %s", sock)
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

// logdHealthz is GET /healthz over the unix socket sock: nil when it
// answers 200 "ok".
func logdHealthz(ctx context.Context, sock string) error {
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
		DisableKeepAlives: true,
	}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://brisk-logd/healthz", nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err // the dial's error, without the made-up URL
	}
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
