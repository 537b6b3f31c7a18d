package shim

import (
	"strconv"
	"strings"
)

// Annotations CRI and the kubelet put on a container's OCI spec.
const (
	// criContainerType marks CRI's pod sandbox (the pause process): it
	// writes nothing worth an object per pod.
	criContainerType = "io.kubernetes.cri.container-type"
	// criContainerName is the container's name in its pod spec.
	criContainerName = "io.kubernetes.cri.container-name"
	// kubeletRestartCount is the kubelet's count of earlier runs of the
	// container in this pod; containerd passes it on when listed in the
	// runtime's container_annotations.
	kubeletRestartCount = "io.kubernetes.container.restartCount"
)

// LogID names the log of a container: its container ID, unique per run, or
// the brisk.io/task-id annotation. In Kubernetes that annotation is the pod's,
// shared by all of its containers and by every restart of each, so the log of
// one run is TASK-ID/CONTAINER-NAME, and TASK-ID/CONTAINER-NAME/restart-N
// after N restarts: two runs never write one spool entry or overwrite each
// other's object.
func LogID(containerID string, annotations map[string]string) string {
	id := annotations[AnnotationTaskID]
	if id == "" {
		return containerID
	}
	name := annotations[criContainerName]
	if name == "" {
		return id // ctr, nerdctl: the annotation is this container's own
	}
	id = strings.TrimSuffix(id, "/") + "/" + name
	if n, err := strconv.Atoi(annotations[kubeletRestartCount]); err == nil && n > 0 {
		id += "/restart-" + strconv.Itoa(n)
	}
	return id
}
