// Package kubernetes holds Brisk's Kubernetes manifests; this test decodes
// every one of them strictly into the k8s.io/api types the API server
// would, so a misspelt or misplaced field fails here rather than being
// dropped by kubectl.
package kubernetes

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/internal/briskimage"
	"github.com/brisk-containers/brisk/internal/installer"
)

// kinds are the objects the manifests may hold.
var kinds = map[string]func() any{
	"v1/Namespace":                                    func() any { return &corev1.Namespace{} },
	"v1/ServiceAccount":                               func() any { return &corev1.ServiceAccount{} },
	"v1/ConfigMap":                                    func() any { return &corev1.ConfigMap{} },
	"apps/v1/DaemonSet":                               func() any { return &appsv1.DaemonSet{} },
	"batch/v1/Job":                                    func() any { return &batchv1.Job{} },
	"node.k8s.io/v1/RuntimeClass":                     func() any { return &nodev1.RuntimeClass{} },
	"rbac.authorization.k8s.io/v1/ClusterRole":        func() any { return &rbacv1.ClusterRole{} },
	"rbac.authorization.k8s.io/v1/ClusterRoleBinding": func() any { return &rbacv1.ClusterRoleBinding{} },
}

var docSeparator = regexp.MustCompile(`(?m)^---\s*$`)

// decodeAll strictly decodes every document of every manifest.
func decodeAll(t *testing.T) map[string][]any {
	t.Helper()
	files, err := filepath.Glob("*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	objs := map[string][]any{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range docSeparator.Split(string(data), -1) {
			if strings.TrimSpace(stripComments(doc)) == "" {
				continue
			}
			var tm metav1.TypeMeta
			if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
				t.Fatalf("%s document %d: %v", f, i, err)
			}
			key := tm.APIVersion + "/" + tm.Kind
			newObj, ok := kinds[key]
			if !ok {
				t.Fatalf("%s document %d: unexpected kind %q", f, i, key)
			}
			obj := newObj()
			if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
				t.Errorf("%s document %d (%s): %v", f, i, key, err)
				continue
			}
			objs[tm.Kind] = append(objs[tm.Kind], obj)
		}
	}
	return objs
}

func stripComments(doc string) string {
	var b strings.Builder
	for _, line := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

func TestManifests(t *testing.T) {
	objs := decodeAll(t)

	// Every RuntimeClass the Job and the docs name exists, and selects the
	// nodes the installer labels.
	classes := map[string]*nodev1.RuntimeClass{}
	for _, o := range objs["RuntimeClass"] {
		rc := o.(*nodev1.RuntimeClass)
		classes[rc.Name] = rc
		if rc.Scheduling == nil || rc.Scheduling.NodeSelector[installer.InstalledLabel] != "true" {
			t.Errorf("RuntimeClass %s does not select nodes labelled %s=true", rc.Name, installer.InstalledLabel)
		}
	}
	for _, name := range []string{"brisk", "brisk-small", "brisk-large"} {
		if classes[name] == nil || classes[name].Handler != name {
			t.Errorf("RuntimeClass %s with handler %s missing", name, name)
		}
	}
	for _, o := range objs["Job"] {
		job := o.(*batchv1.Job)
		if rc := job.Spec.Template.Spec.RuntimeClassName; rc == nil || classes[*rc] == nil {
			t.Errorf("Job %s uses an undefined RuntimeClass", job.Name)
		}
	}
	// The brisk handler is the runtime the shipped containerd config (and
	// the installer's drop-in) declares.
	ctd, err := os.ReadFile("../containerd/config-v3.toml")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(ctd, []byte(`containerd.runtimes.brisk]`)) {
		t.Errorf("contrib/containerd/config-v3.toml declares no runtime brisk")
	}
	for _, f := range []string{"profiles-v2.toml", "profiles-v3.toml"} {
		ctd, err := os.ReadFile(filepath.Join("../containerd", f))
		if err != nil {
			t.Fatal(err)
		}
		for name := range classes {
			if name != "brisk" && !bytes.Contains(ctd, []byte("containerd.runtimes."+name+"]")) {
				t.Errorf("contrib/containerd/%s declares no runtime %s", f, name)
			}
		}
	}

	// The ConfigMap is a valid Brisk config: the installer would refuse it.
	var configMaps int
	for _, o := range objs["ConfigMap"] {
		cm := o.(*corev1.ConfigMap)
		if cm.Name != "brisk-config" {
			continue
		}
		configMaps++
		cfg, err := config.Parse([]byte(cm.Data["config.toml"]))
		if err != nil {
			t.Errorf("ConfigMap brisk-config: %v", err)
		}
		// Every RuntimeClass has a handler the installer declares
		// from this config, and no profile lacks a RuntimeClass.
		names := installer.SnapshotterNames(cfg)
		for name := range classes {
			if !slices.Contains(names, name) {
				t.Errorf("RuntimeClass %s: the ConfigMap brisk-config has no profile %s", name, name)
			}
		}
		for _, name := range names {
			if classes[name] == nil {
				t.Errorf("ConfigMap brisk-config: profile %s has no RuntimeClass", name)
			}
		}
	}
	if configMaps != 1 {
		t.Errorf("%d ConfigMaps brisk-config, want 1", configMaps)
	}

	// The DaemonSets run the image make image builds, privileged, with the
	// host at /host and systemd's socket, under the ServiceAccount bound to
	// the role that may label nodes.
	accounts := map[string]bool{}
	for _, o := range objs["ServiceAccount"] {
		accounts[o.(*corev1.ServiceAccount).Name] = true
	}
	var bound []string
	for _, o := range objs["ClusterRoleBinding"] {
		for _, s := range o.(*rbacv1.ClusterRoleBinding).Subjects {
			bound = append(bound, s.Name)
		}
	}
	for _, o := range objs["ClusterRole"] {
		r := o.(*rbacv1.ClusterRole)
		if len(r.Rules) != 1 || !slices.Contains(r.Rules[0].Resources, "nodes") || !slices.Contains(r.Rules[0].Verbs, "patch") {
			t.Errorf("ClusterRole %s: %+v, want patch on nodes only", r.Name, r.Rules)
		}
	}
	daemonSets := map[string]*appsv1.DaemonSet{}
	for _, o := range objs["DaemonSet"] {
		ds := o.(*appsv1.DaemonSet)
		daemonSets[ds.Name] = ds
		spec := ds.Spec.Template.Spec
		if !accounts[spec.ServiceAccountName] || !slices.Contains(bound, spec.ServiceAccountName) {
			t.Errorf("DaemonSet %s: ServiceAccount %q undefined or unbound", ds.Name, spec.ServiceAccountName)
		}
		c := spec.Containers[0]
		if c.Image != briskimage.DefaultName {
			t.Errorf("DaemonSet %s: image %s, want %s (make image)", ds.Name, c.Image, briskimage.DefaultName)
		}
		if c.SecurityContext == nil || c.SecurityContext.Privileged == nil || !*c.SecurityContext.Privileged {
			t.Errorf("DaemonSet %s: not privileged", ds.Name)
		}
		if !slices.Contains(c.Args, "--host-root=/host") {
			t.Errorf("DaemonSet %s: args %q lack --host-root=/host", ds.Name, c.Args)
		}
		mounts := map[string]string{}
		for _, m := range c.VolumeMounts {
			mounts[m.MountPath] = m.Name
		}
		vols := map[string]corev1.Volume{}
		for _, v := range spec.Volumes {
			vols[v.Name] = v
		}
		for path, hostPath := range map[string]string{"/host": "/", "/run/systemd": "/run/systemd"} {
			v, ok := vols[mounts[path]]
			if !ok || v.HostPath == nil || v.HostPath.Path != hostPath {
				t.Errorf("DaemonSet %s: %s is not hostPath %s", ds.Name, path, hostPath)
			}
		}
	}
	if ds := daemonSets["brisk-installer"]; ds == nil || ds.Spec.Template.Spec.Containers[0].Args[0] != "install" {
		t.Errorf("no DaemonSet brisk-installer running install")
	}
	if ds := daemonSets["brisk-uninstaller"]; ds == nil || ds.Spec.Template.Spec.Containers[0].Args[0] != "uninstall" {
		t.Errorf("no DaemonSet brisk-uninstaller running uninstall")
	}
}

// TestStrictDecoding shows that the decoding above refuses a misspelt field.
func TestStrictDecoding(t *testing.T) {
	doc := "apiVersion: node.k8s.io/v1\nkind: RuntimeClass\nmetadata:\n  name: brisk\nhandlr: brisk\n"
	if err := yaml.UnmarshalStrict([]byte(doc), &nodev1.RuntimeClass{}); err == nil || !strings.Contains(err.Error(), "handlr") {
		t.Fatalf("misspelt field accepted: %v", err)
	}
}
