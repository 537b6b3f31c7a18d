package doctor

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	introspectionapi "github.com/containerd/containerd/api/services/introspection/v1"
	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/errdefs"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/brisk-containers/brisk/config"
)

// Node is what the checks inspect: Brisk's configuration, containerd at
// its address, and this machine. Lookups several checks share (containerd's
// plugins, its process, CRI's configuration) are made once.
type Node struct {
	ConfigPath string
	Config     config.Config
	// ConfigErr is config.Load's error: the one the daemons would stop on.
	ConfigErr error

	address       string
	snapshotter   string
	noWrite       bool
	sample        time.Duration
	kubeletConfig string
	procRoot      string
	sysRoot       string

	ctdOnce sync.Once
	ctd     *client.Client
	ctdErr  error

	pluginsOnce sync.Once
	plugins     []*introspectionapi.Plugin
	pluginsErr  error

	serverOnce sync.Once
	server     serverProcess
	serverErr  error

	criOnce sync.Once
	cri     *criConfig
	criErr  error
}

// Opt configures a Node.
type Opt func(*Node)

// WithContainerdAddress is containerd's socket (ctr's --address).
func WithContainerdAddress(a string) Opt { return func(n *Node) { n.address = a } }

// WithSnapshotterName is the [proxy_plugins] name Brisk is registered as.
func WithSnapshotterName(s string) Opt { return func(n *Node) { n.snapshotter = s } }

// WithoutWrites skips the test object written to S3.
func WithoutWrites() Opt { return func(n *Node) { n.noWrite = true } }

// WithSampleWindow is how long device counters are sampled.
func WithSampleWindow(d time.Duration) Opt { return func(n *Node) { n.sample = d } }

// WithKubeletConfig is the kubelet configuration file to read reservations
// from.
func WithKubeletConfig(p string) Opt { return func(n *Node) { n.kubeletConfig = p } }

// DefaultKubeletConfig is where kubeadm and most distributions put it.
const DefaultKubeletConfig = "/var/lib/kubelet/config.yaml"

// NewNode describes the node to check; cfg and cfgErr are config.Load's
// results for cfgPath.
func NewNode(cfgPath string, cfg config.Config, cfgErr error, opts ...Opt) *Node {
	n := &Node{
		ConfigPath: cfgPath, Config: cfg, ConfigErr: cfgErr,
		address: "/run/containerd/containerd.sock", snapshotter: "brisk",
		sample: 2 * time.Second, kubeletConfig: DefaultKubeletConfig,
		procRoot: "/proc", sysRoot: "/sys",
	}
	for _, o := range opts {
		o(n)
	}
	return n
}

// Close releases the containerd connection.
func (n *Node) Close() error {
	if n.ctd != nil {
		return n.ctd.Close()
	}
	return nil
}

// containerd connects once. gRPC would keep retrying a socket nobody
// listens on until each caller's deadline; one plain dial first makes every
// containerd check say at once that containerd is not there.
func (n *Node) containerd() (*client.Client, error) {
	n.ctdOnce.Do(func() {
		c, err := net.DialTimeout("unix", n.address, dialTimeout)
		if err != nil {
			n.ctdErr = fmt.Errorf("containerd at %s: %w", n.address, err)
			return
		}
		c.Close()
		n.ctd, n.ctdErr = client.New(n.address, client.WithTimeout(dialTimeout))
		if n.ctdErr != nil {
			n.ctdErr = fmt.Errorf("containerd at %s: %w", n.address, n.ctdErr)
		}
	})
	return n.ctd, n.ctdErr
}

const dialTimeout = 3 * time.Second

// Plugins lists containerd's plugins once.
func (n *Node) Plugins(ctx context.Context) ([]*introspectionapi.Plugin, error) {
	n.pluginsOnce.Do(func() {
		c, err := n.containerd()
		if err != nil {
			n.pluginsErr = err
			return
		}
		resp, err := c.IntrospectionService().Plugins(ctx)
		if err != nil {
			n.pluginsErr = fmt.Errorf("containerd at %s: list plugins: %w", n.address, err)
			return
		}
		n.plugins = resp.Plugins
	})
	return n.plugins, n.pluginsErr
}

// plugin finds a plugin by type and ID.
func (n *Node) plugin(ctx context.Context, typ, id string) (*introspectionapi.Plugin, error) {
	ps, err := n.Plugins(ctx)
	if err != nil {
		return nil, err
	}
	for _, p := range ps {
		if p.Type == typ && p.ID == id {
			return p, nil
		}
	}
	return nil, nil
}

// serverProcess is containerd's process as this node sees it.
type serverProcess struct {
	Pid int
	// Env is containerd's environment, which its shims inherit: PATH,
	// BRISK_CONFIG, S3 credentials. Nil when it cannot be read (another
	// PID namespace).
	Env map[string]string
	// Exe is containerd's executable; shims beside it are found too.
	Exe string
}

// Server finds containerd's process once.
func (n *Node) Server(ctx context.Context) (serverProcess, error) {
	n.serverOnce.Do(func() {
		c, err := n.containerd()
		if err != nil {
			n.serverErr = err
			return
		}
		resp, err := c.IntrospectionService().Server(ctx)
		if err != nil {
			n.serverErr = fmt.Errorf("containerd at %s: server info: %w", n.address, err)
			return
		}
		n.server.Pid = int(resp.Pid)
		self, _ := os.Readlink(filepath.Join(n.procRoot, "self/ns/pid"))
		if self != fmt.Sprintf("pid:[%d]", resp.Pidns) {
			n.serverErr = fmt.Errorf("containerd runs in another PID namespace (pid:[%d]); run briskctl on the host", resp.Pidns)
			return
		}
		n.server.Exe, _ = os.Readlink(filepath.Join(n.procRoot, fmt.Sprint(resp.Pid), "exe"))
		environ, err := os.ReadFile(filepath.Join(n.procRoot, fmt.Sprint(resp.Pid), "environ"))
		if err != nil {
			n.serverErr = fmt.Errorf("read containerd's environment: %w", err)
			return
		}
		n.server.Env = parseEnviron(environ)
	})
	return n.server, n.serverErr
}

func parseEnviron(b []byte) map[string]string {
	env := map[string]string{}
	for _, kv := range strings.Split(string(b), "\x00") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	return env
}

// criConfig is the part of CRI's effective configuration the checks read,
// as CRI's verbose status reports it (crictl info).
type criConfig struct {
	Containerd struct {
		Runtimes map[string]criRuntime `json:"runtimes"`
	} `json:"containerd"`
}

type criRuntime struct {
	Type                 string   `json:"runtimeType"`
	Path                 string   `json:"runtimePath"`
	Snapshotter          string   `json:"snapshotter"`
	PodAnnotations       []string `json:"PodAnnotations"`
	ContainerAnnotations []string `json:"ContainerAnnotations"`
}

// errCRIDisabled: containerd runs without its CRI plugin (no Kubernetes).
var errCRIDisabled = fmt.Errorf("CRI plugin not enabled in containerd: %w", errdefs.ErrNotImplemented)

// CRI reads CRI's effective configuration once. Reading it from CRI, not
// from containerd's config file, sees imports, drop-ins and defaults.
func (n *Node) CRI(ctx context.Context) (*criConfig, error) {
	n.criOnce.Do(func() {
		c, err := n.containerd()
		if err != nil {
			n.criErr = err
			return
		}
		conn, ok := c.Conn().(*grpc.ClientConn)
		if !ok {
			n.criErr = fmt.Errorf("containerd client has no gRPC connection")
			return
		}
		resp, err := runtimeapi.NewRuntimeServiceClient(conn).Status(ctx, &runtimeapi.StatusRequest{Verbose: true})
		if status.Code(err) == codes.Unimplemented {
			n.criErr = errCRIDisabled
			return
		}
		if err != nil {
			n.criErr = fmt.Errorf("CRI status: %w", err)
			return
		}
		var cfg criConfig
		if err := json.Unmarshal([]byte(resp.Info["config"]), &cfg); err != nil {
			n.criErr = fmt.Errorf("CRI status has no readable config: %w", err)
			return
		}
		n.cri = &cfg
	})
	return n.cri, n.criErr
}
