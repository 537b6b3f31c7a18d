package config

// RuntimeType is the containerd runtime type of the brisk shim: what ctr
// users select (ctr run --runtime io.containerd.brisk.v2), which containerd
// maps to the binary containerd-shim-brisk-v2. CRI's brisk handlers run the
// same shim under runc's type instead, through runtime_path, so a check for
// brisk containers cannot rest on the type alone.
const RuntimeType = "io.containerd.brisk.v2"

// Annotations (OCI spec) or labels that steer the shim's capture of one
// task. They are here, beside RuntimeType, because briskctl doctor checks
// that CRI passes them on, and must not link the shim to know two names.
const (
	// AnnotationLogs = "off" turns capture off.
	AnnotationLogs = "brisk.io/logs"
	// AnnotationTaskID names the log instead of the container ID.
	AnnotationTaskID = "brisk.io/task-id"
)
