// Package unixsock is how Brisk's daemons serve, and their clients reach,
// the root-only unix sockets of a node: the snapshotter's, its usage API's,
// brisk-logd's.
package unixsock

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/containerd/errdefs"
)

// Listen serves on path with mode 0600: Brisk's sockets hand out mounts of
// any container's filesystem, name every snapshot, or read any task's log,
// so only root may dial them. The socket is made under a temporary name and
// renamed into place once it is 0600, so that it is never reachable with
// looser permissions.
//
// A socket someone still serves on is not taken over: the rename would cut
// its server off, and this daemon's exit would then delete it. A leftover of
// a dead daemon refuses connections and is replaced. The caller removes
// path once it stops serving.
func Listen(path string) (_ net.Listener, retErr error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o711); err != nil {
		return nil, err
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("listen on %s: another process serves on it; not taking it over: %w", path, errdefs.ErrAlreadyExists)
	}
	tmp := fmt.Sprintf("%s.%d.tmp", path, os.Getpid())
	_ = os.Remove(tmp)
	l, err := net.Listen("unix", tmp)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	defer func() {
		if retErr != nil {
			l.Close()
			_ = os.Remove(tmp)
		}
	}()
	// The path it was bound to is gone after the rename; the caller
	// removes the final one.
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	if err := os.Chmod(tmp, 0o600); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	return l, nil
}

// Dialer dials the socket at path whatever the address asked for: an HTTP
// transport's DialContext, so that URLs name the service, not the socket.
func Dialer(path string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", path)
	}
}

// HTTPClient is a client of the HTTP server on the socket at path. One
// request per connection: a kept-alive connection would stay open in the
// daemon until its idle timeout, and a CLI makes one or two requests.
func HTTPClient(path string, timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: &http.Transport{DialContext: Dialer(path), DisableKeepAlives: true}}
}
