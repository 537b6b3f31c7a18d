package shim

import (
	"strconv"
	"strings"

	"github.com/brisk-containers/brisk/config"
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
	// criSandboxUID is the pod's UID, criSandboxID its sandbox's ID;
	// kubeletPodUID is the kubelet's label for the UID, present where a
	// runtime copies labels into annotations.
	criSandboxUID = "io.kubernetes.cri.sandbox-uid"
	criSandboxID  = "io.kubernetes.cri.sandbox-id"
	kubeletPodUID = "io.kubernetes.pod.uid"
)

// LogID names the log of a container: its container ID, unique per run, or
// the brisk.io/task-id annotation. In Kubernetes that annotation is the pod's,
// shared by all of its containers and by every restart of each, so the log of
// one run is TASK-ID/CONTAINER-NAME, and TASK-ID/CONTAINER-NAME/restart-N
// after N restarts: two runs never write one spool entry or overwrite each
// other's object.
func LogID(containerID string, annotations map[string]string) string {
	id := annotations[config.AnnotationTaskID]
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

// LogIDSource names where LogID took the ID from, for an error that tells
// the user what to change.
func LogIDSource(annotations map[string]string) string {
	if annotations[config.AnnotationTaskID] == "" {
		return "the container ID"
	}
	if annotations[criContainerName] != "" {
		return "the " + config.AnnotationTaskID + " pod annotation (with the container name)"
	}
	return "the " + config.AnnotationTaskID + " label or annotation"
}

// PodIdentity is the Kubernetes pod a container runs in: its UID, else its
// sandbox ID; empty outside Kubernetes. A Job's retry pods share task ID,
// container name and restart count 0, so the same log ID: the pod names
// each one's run, which keeps their objects apart and says which pod wrote
// which.
func PodIdentity(annotations map[string]string) string {
	for _, k := range []string{criSandboxUID, kubeletPodUID, criSandboxID} {
		if v := annotations[k]; v != "" {
			return v
		}
	}
	return ""
}
