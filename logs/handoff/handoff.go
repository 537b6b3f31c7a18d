// Package handoff is how a shim gives a finished spool entry to the node's
// log daemon, brisk-logd, which ships it: one small request on the
// daemon's unix socket. The shim then neither signs nor uploads anything,
// and links no S3 client.
package handoff

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/brisk-containers/brisk/internal/unixsock"
)

// Timeout bounds a hand-off: the daemon answers at once (it queues the
// entry), so a daemon that does not answer in this time is not serving.
const Timeout = 2 * time.Second

// Path is the hand-off request's path on the daemon's socket.
const Path = "/v1/handoff"

// Client hands entries over to the daemon on one unix socket.
type Client struct {
	socket string
	http   *http.Client
}

// New returns the client of the daemon listening on socket.
func New(socket string) *Client {
	return &Client{socket: socket, http: &http.Client{
		Timeout: Timeout,
		// One connection kept: a shim hands over one entry per task.
		Transport: &http.Transport{DialContext: unixsock.Dialer(socket), MaxIdleConns: 1, IdleConnTimeout: 30 * time.Second},
	}}
}

// Request is a hand-off's body.
type Request struct {
	// Entry is the spool entry's directory.
	Entry string `json:"entry"`
}

// Notify tells the daemon that the entry in dir was finished and let go
// of: it ships it at once. The entry is already safe on the spool: when no
// daemon answers, it waits there for one (or for briskctl flush).
func (c *Client) Notify(ctx context.Context, dir string) error {
	body, err := json.Marshal(Request{Entry: dir})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://brisk-logd"+Path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("hand the log over to brisk-logd on %s: %w", c.socket, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("hand the log over to brisk-logd on %s: %s", c.socket, resp.Status)
	}
	return nil
}
