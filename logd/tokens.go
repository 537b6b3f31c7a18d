package logd

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"
)

// AllNamespaces in a tokens file grants every namespace.
const AllNamespaces = "*"

// grant is one token's line: the token, kept as its SHA-256 so that every
// comparison takes the same time whatever the token, and its namespaces.
type grant struct {
	sum        [sha256.Size]byte
	namespaces []string
}

// Tokens are the bearer tokens of a tokens file, re-read when the file
// changes: a Kubernetes Secret is updated in place by the kubelet.
type Tokens struct {
	path string

	mu      sync.Mutex
	grants  []grant
	modTime time.Time
	size    int64
	checked time.Time
}

// tokensRecheck is how often the file is looked at for a change; the
// kubelet itself takes up to a minute to update a mounted Secret.
const tokensRecheck = 2 * time.Second

// LoadTokens reads the tokens file at path: one "TOKEN NAMESPACE[,NAMESPACE...]"
// per line, "*" for every namespace, "#" comments and blank lines ignored.
func LoadTokens(path string) (*Tokens, error) {
	t := &Tokens{path: path}
	if err := t.reload(); err != nil {
		return nil, err
	}
	return t, nil
}

func (t *Tokens) reload() error {
	fi, err := os.Stat(t.path)
	if err != nil {
		return fmt.Errorf("logs.api.tokens_file = %q: %w", t.path, err)
	}
	if fi.ModTime().Equal(t.modTime) && fi.Size() == t.size && t.grants != nil {
		return nil
	}
	data, err := os.ReadFile(t.path)
	if err != nil {
		return fmt.Errorf("logs.api.tokens_file = %q: %w", t.path, err)
	}
	grants, err := parseTokens(data)
	if err != nil {
		return fmt.Errorf("logs.api.tokens_file = %q: %w", t.path, err)
	}
	t.grants, t.modTime, t.size = grants, fi.ModTime(), fi.Size()
	return nil
}

func parseTokens(data []byte) ([]grant, error) {
	grants := []grant{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) != 2 {
			// The line is not quoted: it holds a token.
			return nil, fmt.Errorf("line %d: want TOKEN NAMESPACE[,NAMESPACE...], got %d fields: %w", n, len(fields), errdefs.ErrInvalidArgument)
		}
		if len(fields[0]) < 16 {
			return nil, fmt.Errorf("line %d: a token of %d characters is too short to be secret (want at least 16): %w", n, len(fields[0]), errdefs.ErrInvalidArgument)
		}
		g := grant{sum: sha256.Sum256([]byte(fields[0]))}
		for _, ns := range strings.Split(fields[1], ",") {
			if ns == "" {
				return nil, fmt.Errorf("line %d: empty namespace in %q: %w", n, fields[1], errdefs.ErrInvalidArgument)
			}
			g.namespaces = append(g.namespaces, ns)
		}
		grants = append(grants, g)
	}
	return grants, sc.Err()
}

// Lookup returns the namespaces token may read, and false for a token the
// file does not hold. Every line is compared, in constant time each.
func (t *Tokens) Lookup(token string) ([]string, bool) {
	t.mu.Lock()
	if time.Since(t.checked) > tokensRecheck {
		t.checked = time.Now()
		// A file that cannot be read now keeps the tokens last read: a
		// Secret being swapped is briefly absent.
		_ = t.reload()
	}
	grants := t.grants
	t.mu.Unlock()
	sum := sha256.Sum256([]byte(token))
	var found []string
	ok := 0
	for _, g := range grants {
		if subtle.ConstantTimeCompare(sum[:], g.sum[:]) == 1 {
			found, ok = g.namespaces, 1
		}
	}
	return found, ok == 1
}

// Allows says whether namespaces (a token's) include ns.
func Allows(namespaces []string, ns string) bool {
	for _, n := range namespaces {
		if n == AllNamespaces || n == ns {
			return true
		}
	}
	return false
}
