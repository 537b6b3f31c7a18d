package shim

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	runcoptions "github.com/containerd/containerd/api/types/runc/options"
	runtimeoptions "github.com/containerd/containerd/api/types/runtimeoptions/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

func TestRuncOptions(t *testing.T) {
	file := filepath.Join(t.TempDir(), "runc.toml")
	if err := os.WriteFile(file, []byte("BinaryName = \"/opt/runc\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mustAny := func(m proto.Message) *anypb.Any {
		a, err := anypb.New(m)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	for _, tc := range []struct {
		name    string
		in      *anypb.Any
		want    *runcoptions.Options // nil: expect in unchanged
		wantErr string
	}{
		{name: "none", in: nil},
		{name: "runc's own, from ctr", in: mustAny(&runcoptions.Options{BinaryName: "crun", SystemdCgroup: true})},
		{name: "CRI body", in: mustAny(&runtimeoptions.Options{ConfigBody: []byte("BinaryName = \"runc\"\nSystemdCgroup = true\nShimCgroup = \"/brisk\"\n")}),
			want: &runcoptions.Options{BinaryName: "runc", SystemdCgroup: true, ShimCgroup: "/brisk"}},
		{name: "CRI empty table", in: mustAny(&runtimeoptions.Options{}), want: &runcoptions.Options{}},
		{name: "CRI config path", in: mustAny(&runtimeoptions.Options{ConfigPath: file}), want: &runcoptions.Options{BinaryName: "/opt/runc"}},
		{name: "unknown key", in: mustAny(&runtimeoptions.Options{ConfigBody: []byte("BinaryNmae = \"runc\"\n")}), wantErr: "BinaryNmae"},
		{name: "missing config path", in: mustAny(&runtimeoptions.Options{ConfigPath: "/nonexistent/runc.toml"}), wantErr: "/nonexistent/runc.toml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := RuncOptions(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one naming %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.want == nil {
				if got != tc.in {
					t.Fatalf("options changed: %v", got)
				}
				return
			}
			var opts runcoptions.Options
			if err := got.UnmarshalTo(&opts); err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(&opts, tc.want) {
				t.Fatalf("got %v, want %v", &opts, tc.want)
			}
			// The stdin form used by the shim manager round-trips too.
			data, _ := proto.Marshal(tc.in)
			conv, err := RuncOptionsBytes(data)
			if err != nil {
				t.Fatal(err)
			}
			var back anypb.Any
			if err := proto.Unmarshal(conv, &back); err != nil || !proto.Equal(&back, got) {
				t.Fatalf("RuncOptionsBytes: %v %v", &back, err)
			}
		})
	}
}
