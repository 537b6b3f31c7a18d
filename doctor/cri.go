package doctor

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/brisk-containers/brisk/config"
)

// criAnnotations checks that the pod annotations the shim reads reach it:
// CRI passes a pod annotation to the runtime only when one of the handler's
// pod_annotations patterns matches it (path.Match, so "*" alone does not
// match a key with a slash).
var criAnnotations = Check{
	Name: "cri/pod_annotations",
	Run: func(ctx context.Context, n *Node) []Result {
		cri, err := n.CRI(ctx)
		if errors.Is(err, errCRIDisabled) {
			return one(Info, "CRI disabled: no pod annotations to pass", "")
		}
		if err != nil {
			return one(Skip, "not checked: "+err.Error(), fixStartContainerd)
		}
		var res []Result
		for _, h := range briskHandlers(cri) {
			pats := cri.Containerd.Runtimes[h].PodAnnotations
			var missing []string
			for _, key := range []string{config.AnnotationTaskID, config.AnnotationLogs} {
				if !matchesAny(pats, key) {
					missing = append(missing, key)
				}
			}
			if len(missing) > 0 {
				res = append(res, Result{Status: Fail,
					Found: fmt.Sprintf("handler %q pod_annotations = %q drops %s: task IDs and logs=off never reach the shim", h, pats, strings.Join(missing, ", ")),
					Fix:   `add pod_annotations = ["brisk.io/*"] to the handler's runtime table and restart containerd`})
				continue
			}
			res = append(res, Result{Status: Pass, Found: fmt.Sprintf("handler %q passes brisk.io/* (pod_annotations = %q)", h, pats)})
		}
		if len(res) == 0 {
			return one(Skip, "no brisk runtime handler (see containerd/runtime)", "")
		}
		return res
	},
}

func matchesAny(patterns []string, key string) bool {
	for _, p := range patterns {
		if ok, _ := path.Match(p, key); ok {
			return true
		}
	}
	return false
}
