package installer

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"
)

// InstalledLabel marks a node where Brisk is installed; the brisk
// RuntimeClasses schedule only there.
const InstalledLabel = "brisk.io/installed"

// serviceAccountDir is where Kubernetes mounts the pod's API credentials.
const serviceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"

// NodeLabel sets and removes InstalledLabel on one node through the API
// server, with the pod's service account (RBAC: nodes get, patch). A merge
// patch of one label is all it needs, so it speaks HTTP rather than pulling
// in client-go.
type NodeLabel struct {
	Server string // https://host:port
	Token  string
	Node   string
	Client *http.Client
}

// InClusterNodeLabel is the NodeLabel of the pod's own node, from the
// service account and NODE_NAME (downward API).
func InClusterNodeLabel(node string) (*NodeLabel, error) {
	host, port := os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT")
	if host == "" || port == "" || node == "" {
		return nil, fmt.Errorf("not in a pod: KUBERNETES_SERVICE_HOST, KUBERNETES_SERVICE_PORT and NODE_NAME are needed")
	}
	token, err := os.ReadFile(serviceAccountDir + "/token")
	if err != nil {
		return nil, err
	}
	ca, err := os.ReadFile(serviceAccountDir + "/ca.crt")
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, fmt.Errorf("no certificate in %s/ca.crt", serviceAccountDir)
	}
	return &NodeLabel{
		Server: "https://" + net.JoinHostPort(host, port),
		Token:  string(bytes.TrimSpace(token)),
		Node:   node,
		Client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}},
	}, nil
}

// Set labels the node.
func (n *NodeLabel) Set(ctx context.Context) error { return n.patch(ctx, "true") }

// Remove unlabels the node, so no new brisk pod is scheduled there.
func (n *NodeLabel) Remove(ctx context.Context) error { return n.patch(ctx, nil) }

func (n *NodeLabel) patch(ctx context.Context, value any) error {
	body, err := json.Marshal(map[string]any{"metadata": map[string]any{"labels": map[string]any{InstalledLabel: value}}})
	if err != nil {
		return err
	}
	u := n.Server + "/api/v1/nodes/" + url.PathEscape(n.Node)
	req, err := http.NewRequestWithContext(ctx, http.MethodPatch, u, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/merge-patch+json")
	req.Header.Set("Authorization", "Bearer "+n.Token)
	resp, err := n.Client.Do(req)
	if err != nil {
		return fmt.Errorf("label node %s: %w", n.Node, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("label node %s: %s: %s", n.Node, resp.Status, bytes.TrimSpace(msg))
	}
	return nil
}
