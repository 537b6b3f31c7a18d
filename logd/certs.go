package logd

import (
	"crypto/tls"
	"fmt"
	"os"
	"sync"
	"time"
)

// certFiles is a key pair read from files, read again when the
// certificate file changes.
type certFiles struct {
	cert, key string

	mu      sync.Mutex
	loaded  *tls.Certificate
	modTime time.Time
}

func (c *certFiles) get() (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fi, err := os.Stat(c.cert)
	if err == nil && c.loaded != nil && fi.ModTime().Equal(c.modTime) {
		return c.loaded, nil
	}
	pair, lerr := tls.LoadX509KeyPair(c.cert, c.key)
	if lerr != nil {
		if c.loaded != nil {
			return c.loaded, nil // mid-rotation: the pair last read still serves
		}
		return nil, fmt.Errorf("logs.api.tls_cert = %q, tls_key = %q: %w", c.cert, c.key, lerr)
	}
	c.loaded = &pair
	if err == nil {
		c.modTime = fi.ModTime()
	}
	return c.loaded, nil
}
