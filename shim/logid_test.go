package shim

import (
	"testing"

	"github.com/brisk-containers/brisk/config"
)

func TestLogID(t *testing.T) {
	for _, tc := range []struct {
		name        string
		annotations map[string]string
		want        string
	}{
		{"container ID by default", nil, "c0ffee"},
		{"ctr annotation names the log", map[string]string{config.AnnotationTaskID: "job-7"}, "job-7"},
		{"CRI container without task-id keeps its ID", map[string]string{criContainerName: "main"}, "c0ffee"},
		{"pod annotation: one log per container",
			map[string]string{config.AnnotationTaskID: "job-7", criContainerName: "sidecar"}, "job-7/sidecar"},
		{"first run of a restarting container",
			map[string]string{config.AnnotationTaskID: "job-7", criContainerName: "main", kubeletRestartCount: "0"}, "job-7/main"},
		{"restarts keep earlier runs' logs",
			map[string]string{config.AnnotationTaskID: "job-7", criContainerName: "main", kubeletRestartCount: "2"}, "job-7/main/restart-2"},
		{"unreadable restart count is ignored",
			map[string]string{config.AnnotationTaskID: "job-7", criContainerName: "main", kubeletRestartCount: "x"}, "job-7/main"},
		{"trailing slash in task-id",
			map[string]string{config.AnnotationTaskID: "ci/job-7/", criContainerName: "main"}, "ci/job-7/main"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := LogID("c0ffee", tc.annotations); got != tc.want {
				t.Errorf("LogID(%v) = %q, want %q", tc.annotations, got, tc.want)
			}
		})
	}
}

func TestPodIdentityAndIDSource(t *testing.T) {
	for _, tc := range []struct {
		name        string
		annotations map[string]string
		pod, source string
	}{
		{"ctr", nil, "", "the container ID"},
		{"ctr label", map[string]string{config.AnnotationTaskID: "t1"}, "", "the brisk.io/task-id label or annotation"},
		{"CRI pod UID", map[string]string{config.AnnotationTaskID: "job-7", criContainerName: "main", criSandboxUID: "uid-1", criSandboxID: "sb-1"},
			"uid-1", "the brisk.io/task-id pod annotation (with the container name)"},
		{"kubelet label", map[string]string{kubeletPodUID: "uid-2", criSandboxID: "sb-2"}, "uid-2", "the container ID"},
		{"sandbox ID only", map[string]string{criSandboxID: "sb-3"}, "sb-3", "the container ID"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := PodIdentity(tc.annotations); got != tc.pod {
				t.Errorf("PodIdentity = %q, want %q", got, tc.pod)
			}
			if got := LogIDSource(tc.annotations); got != tc.source {
				t.Errorf("LogIDSource = %q, want %q", got, tc.source)
			}
		})
	}
}
