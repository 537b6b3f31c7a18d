package installer

import (
	"context"
	"fmt"
	"slices"
	"sort"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"

	"github.com/brisk-containers/brisk/config"
)

// legacyRuntime is the brisk runtime type that ctr users and older configs
// select; CRI's brisk handler has runc's type and is found by snapshotter.
const legacyRuntime = config.RuntimeType

// ContainerdUsers lists, as NAMESPACE/ID, the containers of the containerd
// at address (a path under the host root) that use a brisk snapshotter or
// the brisk runtime type.
func ContainerdUsers(address string) func(ctx context.Context, snapshotters []string) ([]string, error) {
	return func(ctx context.Context, snapshotters []string) ([]string, error) {
		client, err := containerd.New(address)
		if err != nil {
			return nil, fmt.Errorf("connect to containerd at %s: %w", address, err)
		}
		defer client.Close()
		nss, err := client.NamespaceService().List(ctx)
		if err != nil {
			return nil, fmt.Errorf("list containerd namespaces: %w", err)
		}
		var users []string
		for _, ns := range nss {
			ctrs, err := client.ContainerService().List(namespaces.WithNamespace(ctx, ns))
			if err != nil {
				return nil, fmt.Errorf("list containers in %s: %w", ns, err)
			}
			for _, c := range ctrs {
				if slices.Contains(snapshotters, c.Snapshotter) || c.Runtime.Name == legacyRuntime {
					users = append(users, ns+"/"+c.ID)
				}
			}
		}
		sort.Strings(users)
		return users, nil
	}
}
