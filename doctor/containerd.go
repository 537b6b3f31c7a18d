package doctor

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/plugins"
	"github.com/containerd/errdefs"

	"github.com/brisk-containers/brisk/config"
)

const fixStartContainerd = "start containerd (systemctl start containerd), or point briskctl at it with --address or CONTAINERD_ADDRESS"

var containerdReachable = Check{
	Name: "containerd/reachable",
	Hint: fixStartContainerd,
	Run: func(ctx context.Context, n *Node) []Result {
		c, err := n.containerd()
		if err != nil {
			return one(Fail, err.Error(), fixStartContainerd)
		}
		v, err := c.Version(ctx)
		if err != nil {
			return one(Fail, fmt.Sprintf("no answer at %s: %v", n.address, err), fixStartContainerd)
		}
		return pass("containerd %s at %s", v.Version, n.address)
	},
}

var containerdSnapshotter = Check{
	Name: "containerd/snapshotter",
	Hint: "brisk-snapshotter does not answer through containerd: check systemctl status brisk-snapshotter",
	Run: func(ctx context.Context, n *Node) []Result {
		ps, err := n.Plugins(ctx)
		if err != nil {
			return one(Skip, "not checked: "+err.Error(), fixStartContainerd)
		}
		proxies := map[string]proxy{}
		for _, p := range ps {
			if p.Type == string(plugins.SnapshotPlugin) {
				proxies[p.ID] = proxy{address: p.Exports["address"], initErr: p.InitErr.GetMessage()}
			}
		}
		res := []Result{snapshotterRegistered(ctx, n, proxies)}
		return append(res, profileResults(n, proxies)...)
	},
}

// proxy is a snapshotter plugin as containerd's introspection shows it; the
// address is empty for built-in snapshotters.
type proxy struct{ address, initErr string }

// snapshotterRegistered checks that containerd has Brisk under its name, on
// the socket the config gives, and reaches it.
func snapshotterRegistered(ctx context.Context, n *Node, proxies map[string]proxy) Result {
	want := n.Config.Snapshotter.Address
	fix := fmt.Sprintf("add [proxy_plugins.%s] type = \"snapshot\", address = %q to containerd's config (contrib/containerd/config-v3.toml) and restart containerd", n.snapshotter, want)
	p, ok := proxies[n.snapshotter]
	switch {
	case !ok:
		names := slices.Sorted(maps.Keys(proxies))
		return Result{Status: Fail, Found: fmt.Sprintf("containerd has no snapshotter %q (it has %s)", n.snapshotter, strings.Join(names, ", ")), Fix: fix}
	case p.initErr != "":
		return Result{Status: Fail, Found: fmt.Sprintf("snapshotter %q failed to load: %s", n.snapshotter, p.initErr), Fix: fix}
	case p.address == "":
		return Result{Status: Fail, Found: fmt.Sprintf("snapshotter %q is built in, not a proxy to brisk-snapshotter", n.snapshotter), Fix: fix}
	case n.ConfigErr == nil && p.address != want:
		return Result{Status: Fail, Found: fmt.Sprintf("containerd dials %s for %q, but snapshotter.address is %s", p.address, n.snapshotter, want),
			Fix: fmt.Sprintf("make [proxy_plugins.%s] address and snapshotter.address the same socket", n.snapshotter)}
	}
	// Through containerd, so that the path a container start takes is the
	// one tested. A key that does not exist answers NotFound.
	c, _ := n.containerd()
	if _, err := c.SnapshotService(n.snapshotter).Stat(namespaces.WithNamespace(ctx, "default"), "brisk-doctor-probe"); err != nil && !errdefs.IsNotFound(err) {
		return Result{Status: Fail, Found: fmt.Sprintf("containerd cannot reach brisk-snapshotter at %s: %v", p.address, err),
			Fix: "start brisk-snapshotter (systemctl start brisk-snapshotter); its log says why it stopped"}
	}
	found := fmt.Sprintf("proxy snapshotter %q → %s, answering", n.snapshotter, p.address)
	// Profiles, or a second name for the same daemon, are proxy
	// snapshotters on the same socket.
	var aliases []string
	for name, other := range proxies {
		if name != n.snapshotter && other.address == p.address {
			aliases = append(aliases, name)
		}
	}
	if len(aliases) > 0 {
		slices.Sort(aliases)
		found += "; also registered there as " + strings.Join(aliases, ", ")
	}
	return Result{Status: Pass, Found: found}
}

// profileResults checks that each profile of the config is registered in
// containerd, on Brisk's socket, under its own name: the RuntimeClass that
// selects it names that snapshotter.
func profileResults(n *Node, proxies map[string]proxy) []Result {
	if n.ConfigErr != nil {
		return nil
	}
	socket := n.Config.Snapshotter.Address
	var res []Result
	for _, prof := range n.Config.Snapshotter.ProfileList() {
		name := prof.Name
		p, ok := proxies[name]
		addr := p.address
		fix := fmt.Sprintf("add [proxy_plugins.%s] type = \"snapshot\", address = %q to containerd's config and restart containerd", name, socket)
		switch {
		case !ok:
			res = append(res, Result{Check: "containerd/profile", Status: Fail, Found: fmt.Sprintf("profile %q is not registered in containerd: pods selecting it cannot start", name), Fix: fix})
		case addr != socket:
			res = append(res, Result{Check: "containerd/profile", Status: Fail, Found: fmt.Sprintf("profile %q is registered on %s, not on Brisk's socket %s", name, addr, socket), Fix: fix})
		default:
			res = append(res, Result{Check: "containerd/profile", Status: Pass, Found: fmt.Sprintf("profile %q registered on %s", name, socket)})
		}
	}
	// A name on Brisk's socket that is neither the default's nor a
	// profile's is refused by brisk-snapshotter: a typo, or a profile
	// dropped from the config that containerd still declares.
	for _, name := range slices.Sorted(maps.Keys(proxies)) {
		_, isProfile := n.Config.Snapshotter.Profiles[name]
		if proxies[name].address != socket || isProfile || name == config.DefaultSnapshotterName || name == n.snapshotter {
			continue
		}
		res = append(res, Result{Check: "containerd/profile", Status: Fail,
			Found: fmt.Sprintf("snapshotter %q is registered on Brisk's socket but is no profile: brisk-snapshotter refuses its requests", name),
			Fix:   fmt.Sprintf("remove [proxy_plugins.%s] from containerd's config, or add [snapshotter.profiles.%s] to %s", name, name, n.ConfigPath)})
	}
	return res
}

// RuntimeType is the runtime name of containerd-shim-brisk-v2.
const RuntimeType = config.RuntimeType

var containerdRuntime = Check{
	Name: "containerd/runtime",
	Hint: "CRI does not answer its status call: check containerd's log",
	Run: func(ctx context.Context, n *Node) []Result {
		cri, err := n.CRI(ctx)
		if errors.Is(err, errCRIDisabled) {
			return pass("CRI disabled: clients pick the runtime per container (ctr run --runtime %s)", RuntimeType)
		}
		if err != nil {
			return one(Skip, "not checked: "+err.Error(), fixStartContainerd)
		}
		handlers := briskHandlers(cri)
		if len(handlers) == 0 {
			return one(Fail, noBriskHandler(cri),
				`add [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.brisk] from contrib/containerd/config-v3.toml (or run brisk-installer) and restart containerd`)
		}
		var res []Result
		for _, h := range handlers {
			rt := cri.Containerd.Runtimes[h]
			if rt.Snapshotter != n.snapshotter {
				res = append(res, Result{Status: Warn,
					Found: fmt.Sprintf("handler %q runs %s on snapshotter %q: pods get Brisk's logs but not its fast upper", h, RuntimeType, rt.Snapshotter),
					Fix:   fmt.Sprintf("set snapshotter = %q in the handler's runtime table", n.snapshotter)})
				continue
			}
			shim := rt.Type
			if rt.Path != "" {
				shim += " at " + rt.Path
			}
			res = append(res, Result{Status: Pass, Found: fmt.Sprintf("CRI handler %q → %s on snapshotter %q", h, shim, rt.Snapshotter)})
		}
		return res
	},
}

// noBriskHandler says what briskHandlers looked for, in both forms it
// accepts, and which handlers it found instead: an operator who set one form
// must not be told only of the other.
func noBriskHandler(cri *criConfig) string {
	seen := "none"
	if names := slices.Sorted(maps.Keys(cri.Containerd.Runtimes)); len(names) > 0 {
		seen = strings.Join(names, ", ")
	}
	return fmt.Sprintf("no CRI runtime handler runs the brisk shim: looked for runtime_type = %q, or runtime_path naming %s (as brisk-installer writes it, beside runtime_type = \"io.containerd.runc.v2\"); handlers found: %s",
		RuntimeType, ShimBinary, seen)
}

// briskHandlers names the CRI handlers that run the brisk shim: by runtime
// type, or by runtime_path (runc's type with the brisk shim's binary, which
// gets runc's typed options from CRI).
func briskHandlers(cri *criConfig) []string {
	var hs []string
	for name, rt := range cri.Containerd.Runtimes {
		if rt.Type == RuntimeType || filepath.Base(rt.Path) == ShimBinary {
			hs = append(hs, name)
		}
	}
	slices.Sort(hs)
	return hs
}
