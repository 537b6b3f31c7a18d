package shim

import (
	"fmt"
	"os"

	runcoptions "github.com/containerd/containerd/api/types/runc/options"
	runtimeoptions "github.com/containerd/containerd/api/types/runtimeoptions/v1"
	"github.com/containerd/typeurl/v2"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/brisk-containers/brisk/config"
)

// RuncOptions returns the runc options carried by opts, for runc's manager
// and task service, which understand nothing else.
//
// ctr sends runc's own options type. CRI sends every runtime type other than
// io.containerd.runc.v2 a generic runtimeoptions.v1.Options holding the TOML
// of the runtime's options table (or the path of a TOML file), so a
// RuntimeClass's BinaryName or SystemdCgroup would otherwise never reach
// runc. The keys are runc's option names, as CRI reads them for runc; an
// unknown key is an error naming it rather than a silently ignored setting.
func RuncOptions(opts *anypb.Any) (*anypb.Any, error) {
	if opts == nil || !opts.MessageIs((*runtimeoptions.Options)(nil)) {
		return opts, nil
	}
	var generic runtimeoptions.Options
	if err := opts.UnmarshalTo(&generic); err != nil {
		return nil, fmt.Errorf("runtime options: %w", err)
	}
	body, source := generic.ConfigBody, "the runtime's options table"
	if generic.ConfigPath != "" {
		data, err := os.ReadFile(generic.ConfigPath)
		if err != nil {
			return nil, fmt.Errorf("runtime options ConfigPath %q: %w", generic.ConfigPath, err)
		}
		body, source = data, fmt.Sprintf("ConfigPath %q", generic.ConfigPath)
	}
	var runc runcoptions.Options
	if err := config.DecodeStrict(body, &runc); err != nil {
		return nil, fmt.Errorf("runc options in %s: %w", source, err)
	}
	// Marshalled as containerd does, with the type URL runc's shim expects.
	return typeurl.MarshalAnyToProto(&runc)
}

// RuncOptionsBytes is RuncOptions for a marshalled Any, as containerd writes
// it to a shim's stdin when starting it.
func RuncOptionsBytes(data []byte) ([]byte, error) {
	if len(data) == 0 {
		return data, nil
	}
	var opts anypb.Any
	if err := proto.Unmarshal(data, &opts); err != nil {
		// Not ours to judge: runc's manager reports it as before.
		return data, nil
	}
	conv, err := RuncOptions(&opts)
	if err != nil || conv == &opts {
		return data, err
	}
	return proto.Marshal(conv)
}
