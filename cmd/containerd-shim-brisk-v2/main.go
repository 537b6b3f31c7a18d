// Command containerd-shim-brisk-v2 is the io.containerd.brisk.v2 runtime:
// containerd's runc v2 shim, whose manager and task service it reuses as they
// are, plus capture of every task's output and its shipping at exit.
package main

import (
	"context"
	"os"

	runcmanager "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2/manager"
	"github.com/containerd/containerd/v2/pkg/shim"
	"github.com/containerd/containerd/v2/pkg/shutdown"
	"github.com/containerd/containerd/v2/plugins"
	"github.com/containerd/plugin"
	"github.com/containerd/plugin/registry"

	"github.com/brisk-containers/brisk/config"
	brisk "github.com/brisk-containers/brisk/shim"
)

// RuntimeName is what users select: ctr run --runtime io.containerd.brisk.v2.
const RuntimeName = config.RuntimeType

func init() {
	// Our task service in place of runc's: same requirements, same ID, so
	// shim.Run serves it exactly where containerd expects the task API.
	registry.Register(&plugin.Registration{
		Type:     plugins.TTRPCPlugin,
		ID:       "task",
		Requires: []plugin.Type{plugins.EventPlugin, plugins.InternalPlugin},
		InitFn: func(ic *plugin.InitContext) (interface{}, error) {
			pp, err := ic.GetByID(plugins.EventPlugin, "publisher")
			if err != nil {
				return nil, err
			}
			ss, err := ic.GetByID(plugins.InternalPlugin, "shutdown")
			if err != nil {
				return nil, err
			}
			return brisk.New(ic.Context, pp.(shim.Publisher), ss.(shutdown.Service), serviceOpts(ic.Context, os.Getenv)...)
		},
	})
}

func main() {
	shim.Run(context.Background(), manager{Manager: runcmanager.NewShimManager(RuntimeName)})
}
