// Package kubernetes holds Brisk's Kubernetes manifests; this test decodes
// every one of them strictly into the k8s.io/api types the API server
// would, so a misspelt or misplaced field fails here rather than being
// dropped by kubectl.
package kubernetes

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
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
	"v1/Namespace":                func() any { return &corev1.Namespace{} },
	"v1/ServiceAccount":           func() any { return &corev1.ServiceAccount{} },
	"v1/ConfigMap":                func() any { return &corev1.ConfigMap{} },
	"v1/Service":                  func() any { return &corev1.Service{} },
	"v1/Secret":                   func() any { return &corev1.Secret{} },
	"apps/v1/DaemonSet":           func() any { return &appsv1.DaemonSet{} },
	"batch/v1/Job":                func() any { return &batchv1.Job{} },
	"node.k8s.io/v1/RuntimeClass": func() any { return &nodev1.RuntimeClass{} },
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

// TestLogdManifests: the headless Service brisk-logd names every node's
// brisk-logd (the installer's pods, in the host's network), the DaemonSet
// passes the installer the node's name and the Service's DNS name for
// [logs.api], and the tokens Secret reaches the installer as it expects,
// shipped without a live token.
func TestLogdManifests(t *testing.T) {
	objs := decodeAll(t)
	var ds *appsv1.DaemonSet
	for _, o := range objs["DaemonSet"] {
		if d := o.(*appsv1.DaemonSet); d.Name == "brisk-installer" {
			ds = d
		}
	}
	if ds == nil {
		t.Fatal("no DaemonSet brisk-installer")
	}
	spec := ds.Spec.Template.Spec
	if !spec.HostNetwork {
		t.Errorf("DaemonSet brisk-installer: not hostNetwork: the Service's addresses would not be the nodes' brisk-logd")
	}

	var svc *corev1.Service
	for _, o := range objs["Service"] {
		if s := o.(*corev1.Service); s.Name == "brisk-logd" {
			svc = s
		}
	}
	if svc == nil {
		t.Fatal("no Service brisk-logd")
	}
	if svc.Spec.ClusterIP != corev1.ClusterIPNone || svc.Namespace != ds.Namespace {
		t.Errorf("Service brisk-logd: clusterIP %q in %s, want None (headless) in %s", svc.Spec.ClusterIP, svc.Namespace, ds.Namespace)
	}
	if len(svc.Spec.Selector) == 0 {
		t.Errorf("Service brisk-logd selects nothing")
	}
	for k, v := range svc.Spec.Selector {
		if ds.Spec.Template.Labels[k] != v {
			t.Errorf("Service brisk-logd selects %s=%s, which the DaemonSet's pods lack (%v)", k, v, ds.Spec.Template.Labels)
		}
	}
	// The ConfigMap's brisk-logd listens off loopback on the Service's
	// port, with the tokens the installer installs from the Secret.
	var api config.LogsAPI
	for _, o := range objs["ConfigMap"] {
		if cm := o.(*corev1.ConfigMap); cm.Name == "brisk-config" {
			cfg, err := config.Parse([]byte(cm.Data["config.toml"]))
			if err != nil {
				t.Fatalf("ConfigMap brisk-config: %v", err)
			}
			api = cfg.Logs.API
		}
	}
	_, port, _ := net.SplitHostPort(api.Listen)
	if api.Loopback() || port != config.DefaultAPIPort {
		t.Errorf("ConfigMap brisk-config: logs.api.listen = %q, want every address on port %s: peers and the Service reach it", api.Listen, config.DefaultAPIPort)
	}
	if want := installer.DefaultLayout().LogdTokensPath; api.TokensFile != want {
		t.Errorf("ConfigMap brisk-config: logs.api.tokens_file = %q, want %s, where the installer puts the Secret", api.TokensFile, want)
	}
	if api.NodeName != "" || api.PeersDNS != "" {
		t.Errorf("ConfigMap brisk-config sets node_name %q or peers_dns %q, which the installer writes per node", api.NodeName, api.PeersDNS)
	}
	if p := svc.Spec.Ports; len(p) != 1 || p[0].Name != "logs" || strconv.Itoa(int(p[0].Port)) != port || p[0].TargetPort.String() != port {
		t.Errorf("Service brisk-logd ports %+v, want one named logs on %s (logs.api.listen)", p, port)
	}

	c := spec.Containers[0]
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		env[e.Name] = e
	}
	fieldRef := func(name string) string {
		if e := env[name]; e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
			return e.ValueFrom.FieldRef.FieldPath
		}
		return ""
	}
	if fieldRef("NODE_NAME") != "spec.nodeName" {
		t.Errorf("NODE_NAME (the installer's --logs-node-name) is not the pod's spec.nodeName: %+v", env["NODE_NAME"])
	}
	// $(POD_NAMESPACE) expands only when defined before its use.
	wantDNS := svc.Name + ".$(POD_NAMESPACE).svc.cluster.local"
	if fieldRef("POD_NAMESPACE") != "metadata.namespace" || env["BRISK_LOGS_PEERS_DNS"].Value != wantDNS ||
		slices.IndexFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == "POD_NAMESPACE" }) > slices.IndexFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == "BRISK_LOGS_PEERS_DNS" }) {
		t.Errorf("BRISK_LOGS_PEERS_DNS (the installer's --logs-peers-dns) is %+v, want %s after POD_NAMESPACE from metadata.namespace", env["BRISK_LOGS_PEERS_DNS"], wantDNS)
	}

	// The Secret's key tokens at the installer's --source-logd-tokens.
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		mounts[m.Name] = m.MountPath
	}
	var secretName string
	for _, v := range spec.Volumes {
		if v.Secret != nil && mounts[v.Name] == "/etc/brisk-logd-tokens" {
			secretName = v.Secret.SecretName
			if v.Secret.Optional == nil || !*v.Secret.Optional {
				t.Errorf("volume %s: the tokens Secret is not optional: the installer would not start without it", v.Name)
			}
		}
	}
	if secretName == "" {
		t.Fatalf("no Secret mounted at /etc/brisk-logd-tokens (the installer's --source-logd-tokens /etc/brisk-logd-tokens/tokens)")
	}
	var secrets int
	for _, o := range objs["Secret"] {
		s := o.(*corev1.Secret)
		if s.Name != secretName {
			continue
		}
		secrets++
		tokens, ok := s.StringData["tokens"]
		if !ok {
			t.Errorf("Secret %s has no key tokens", s.Name)
		}
		for _, line := range strings.Split(tokens, "\n") {
			if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "#") {
				t.Errorf("Secret %s ships a live token line %q: applying it would open the API to whoever reads this repository", s.Name, l)
			}
		}
	}
	if secrets != 1 {
		t.Errorf("%d example Secrets %s, want 1", secrets, secretName)
	}
}

// TestStrictDecoding shows that the decoding above refuses a misspelt field.
func TestStrictDecoding(t *testing.T) {
	doc := "apiVersion: node.k8s.io/v1\nkind: RuntimeClass\nmetadata:\n  name: brisk\nhandlr: brisk\n"
	if err := yaml.UnmarshalStrict([]byte(doc), &nodev1.RuntimeClass{}); err == nil || !strings.Contains(err.Error(), "handlr") {
		t.Fatalf("misspelt field accepted: %v", err)
	}
}
