package doctor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	units "github.com/docker/go-units"
	"go.yaml.in/yaml/v3"
	"golang.org/x/sys/unix"

	"github.com/brisk-containers/brisk/config"
)

var tmpfsBudget = Check{
	Name: "tmpfs/budget",
	Run: func(_ context.Context, n *Node) []Result {
		if n.ConfigErr != nil {
			return needConfig(n)
		}
		s := n.Config.Snapshotter
		if s.Upper != config.UpperTmpfs {
			return one(Info, "upper = dir: no tmpfs uppers, tmpfs_budget unused", "")
		}
		var si unix.Sysinfo_t
		if err := unix.Sysinfo(&si); err != nil {
			return one(Skip, "sysinfo: "+err.Error(), "")
		}
		ram := int64(si.Totalram) * int64(si.Unit)
		budget := int64(s.TmpfsBudget)
		found := fmt.Sprintf("tmpfs_budget %s (%d uppers of tmpfs_size %s) against %s of RAM (%.0f%%)",
			size(budget), budget/int64(s.TmpfsSize), s.TmpfsSize, size(ram), 100*float64(budget)/float64(ram))
		if budget > ram {
			return one(Fail, found+": full uppers can take all memory and hang the node", "set snapshotter.tmpfs_budget below RAM (the default is half)")
		}
		var res []Result
		if budget > ram*3/4 {
			res = append(res, Result{Status: Warn, Found: found + ": little left for the containers' own memory", Fix: "lower snapshotter.tmpfs_budget to half of RAM or less"})
		} else {
			res = append(res, Result{Status: Pass, Found: found})
		}
		reserved, err := kubeletReserved(n.kubeletConfig, ram)
		switch {
		case errors.Is(err, os.ErrNotExist):
			res = append(res, Result{Status: Info, Found: "no kubelet config at " + n.kubeletConfig + ": memory reserved for pods not known, not compared", Fix: "on a Kubernetes node, pass --kubelet-config"})
		case err != nil:
			res = append(res, Result{Status: Skip, Found: fmt.Sprintf("kubelet config %s: %v", n.kubeletConfig, err)})
		default:
			// tmpfs pages are charged to the container that writes them, so
			// uppers are paid for out of the pods' allocatable memory.
			alloc := ram - reserved
			found := fmt.Sprintf("pods' allocatable memory %s (RAM less %s of reservations and eviction threshold in %s); tmpfs_budget %s", size(alloc), size(reserved), n.kubeletConfig, size(budget))
			if budget > alloc {
				res = append(res, Result{Status: Warn, Found: found + ": the budget can never be used in full without evictions", Fix: "lower snapshotter.tmpfs_budget below the allocatable memory"})
			} else {
				res = append(res, Result{Status: Pass, Found: found})
			}
		}
		return res
	},
}

func size(n int64) string { return units.BytesSize(float64(n)) }

// kubeletConfig is the part of a KubeletConfiguration that takes memory
// away from pods.
type kubeletConfig struct {
	SystemReserved map[string]string `yaml:"systemReserved"`
	KubeReserved   map[string]string `yaml:"kubeReserved"`
	EvictionHard   map[string]string `yaml:"evictionHard"`
}

// kubeletReserved is the memory the kubelet keeps from pods: system and
// kube reservations plus the hard eviction threshold.
func kubeletReserved(path string, ram int64) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	var kc kubeletConfig
	if err := yaml.Unmarshal(b, &kc); err != nil {
		return 0, fmt.Errorf("parse: %w", err)
	}
	var total int64
	for key, q := range map[string]string{"systemReserved.memory": kc.SystemReserved["memory"], "kubeReserved.memory": kc.KubeReserved["memory"], `evictionHard["memory.available"]`: kc.EvictionHard["memory.available"]} {
		if q == "" {
			continue
		}
		v, err := parseQuantity(q, ram)
		if err != nil {
			return 0, fmt.Errorf("%s = %q: %w", key, q, err)
		}
		total += v
	}
	return total, nil
}

// parseQuantity reads a Kubernetes memory quantity ("1Gi", "500M",
// "104857600") or a percentage of ram ("10%"). Unlike Brisk's own sizes, a
// plain M or G is decimal here, as Kubernetes reads it.
func parseQuantity(q string, ram int64) (int64, error) {
	q = strings.TrimSpace(q)
	if p, ok := strings.CutSuffix(q, "%"); ok {
		f, err := strconv.ParseFloat(p, 64)
		if err != nil {
			return 0, fmt.Errorf("not a percentage")
		}
		return int64(f / 100 * float64(ram)), nil
	}
	for _, u := range []struct {
		suffix string
		mult   float64
	}{{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30}, {"Ti", 1 << 40}, {"k", 1e3}, {"M", 1e6}, {"G", 1e9}, {"T", 1e12}, {"", 1}} {
		if num, ok := strings.CutSuffix(q, u.suffix); ok {
			f, err := strconv.ParseFloat(num, 64)
			if err != nil || f < 0 {
				return 0, fmt.Errorf("not a memory quantity (want e.g. 1Gi or 500M)")
			}
			return int64(f * u.mult), nil
		}
	}
	return 0, fmt.Errorf("not a memory quantity")
}
