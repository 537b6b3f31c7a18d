package installer

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"

	"github.com/containerd/errdefs"
	"github.com/pelletier/go-toml/v2"
)

// NodeKeys are [logs.api] keys the installer writes into the config it
// installs, because the ConfigMap is the same on every node: node_name is
// each node's own (the DaemonSet passes spec.nodeName), and peers_dns is
// the headless Service the manifests add in front of the DaemonSet. An
// empty key is left out; a key the config sets itself is the operator's and
// stays as it is.
type NodeKeys struct {
	NodeName string // [logs.api] node_name
	PeersDNS string // [logs.api] peers_dns
}

// dnsName is what a Kubernetes node name or a Service's DNS name may be:
// lower-case labels of letters, digits and '-', joined by dots.
var dnsName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)

// apiHeader is the [logs.api] table's header line.
var apiHeader = regexp.MustCompile(`(?m)^[ \t]*\[[ \t]*logs[ \t]*\.[ \t]*api[ \t]*\][ \t]*(#.*)?$`)

func (k NodeKeys) keys() [][2]string {
	var out [][2]string
	for _, kv := range [][2]string{{"node_name", k.NodeName}, {"peers_dns", k.PeersDNS}} {
		if kv[1] != "" {
			out = append(out, kv)
		}
	}
	return out
}

// withNodeKeys returns the config data with k's keys added to its [logs.api]
// table: under the table's header when it has one, else in a table of their
// own at the end. Everything else (the operator's comments, their order)
// stays byte for byte, so that the same ConfigMap and node give the same
// file and a resync changes nothing.
func withNodeKeys(data []byte, k NodeKeys) ([]byte, error) {
	var doc struct {
		Logs struct {
			API map[string]any `toml:"api"`
		} `toml:"logs"`
	}
	if err := toml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("brisk config: %w: %w", err, errdefs.ErrInvalidArgument)
	}
	var lines []byte
	for _, kv := range k.keys() {
		if !dnsName.MatchString(kv[1]) || len(kv[1]) > 253 {
			return nil, fmt.Errorf("logs.api.%s = %q: want a DNS name (lower-case letters, digits, '-' and '.'): %w", kv[0], kv[1], errdefs.ErrInvalidArgument)
		}
		if _, set := doc.Logs.API[kv[0]]; set {
			continue // the operator's
		}
		lines = fmt.Appendf(lines, "%s = %s # set by brisk-installer\n", kv[0], strconv.Quote(kv[1]))
	}
	if len(lines) == 0 {
		return data, nil
	}
	var out []byte
	if loc := apiHeader.FindIndex(data); loc != nil {
		end := loc[1]
		out = append(out, data[:end]...)
		out = append(out, '\n')
		out = append(out, lines...)
		rest := data[end:]
		rest, _ = bytes.CutPrefix(rest, []byte("\n"))
		out = append(out, rest...)
	} else {
		out = append(out, data...)
		if len(out) > 0 && out[len(out)-1] != '\n' {
			out = append(out, '\n')
		}
		out = append(out, "\n[logs.api]\n"...)
		out = append(out, lines...)
	}
	// A config that defines logs.api otherwise (an inline table, dotted
	// keys under [logs]) cannot take a table header: say so rather than
	// install a file no daemon reads.
	var check struct {
		Logs struct {
			API map[string]any `toml:"api"`
		} `toml:"logs"`
	}
	if err := toml.Unmarshal(out, &check); err != nil {
		return nil, fmt.Errorf("brisk config: cannot add logs.api.%s: the config defines logs.api other than as a [logs.api] table (%v); set the key there yourself: %w",
			k.keys()[0][0], err, errdefs.ErrInvalidArgument)
	}
	for _, kv := range k.keys() {
		if _, set := doc.Logs.API[kv[0]]; !set && check.Logs.API[kv[0]] != kv[1] {
			return nil, fmt.Errorf("brisk config: logs.api.%s added as %q reads back as %v: %w", kv[0], kv[1], check.Logs.API[kv[0]], errdefs.ErrInternal)
		}
	}
	return out, nil
}
