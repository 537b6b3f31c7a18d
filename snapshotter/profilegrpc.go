//go:build linux

package snapshotter

import (
	"context"

	"github.com/containerd/errdefs/pkg/errgrpc"
	"google.golang.org/grpc"
)

// containerd's proxy client names the snapshotter ([proxy_plugins.NAME]) in
// every snapshot request; containerd's snapshot service drops it. These
// interceptors put the profile it names into the request's context, which is
// all the dispatch by profile needs from gRPC.

// snapshotterNamed is what every request of containerd's snapshot API is.
type snapshotterNamed interface{ GetSnapshotter() string }

// GRPCServerOptions returns the interceptors that run each request under the
// profile it names; a request under a name that is no profile's is refused
// (profileName) with codes.InvalidArgument.
func (p *Profiled) GRPCServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(p.unaryInterceptor),
		grpc.ChainStreamInterceptor(p.streamInterceptor),
	}
}

func (p *Profiled) withRequestProfile(ctx context.Context, req any) (context.Context, error) {
	var requested string
	if r, ok := req.(snapshotterNamed); ok {
		requested = r.GetSnapshotter()
	}
	name, err := p.sn.profileName(requested)
	if err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	return WithProfile(ctx, name), nil
}

func (p *Profiled) unaryInterceptor(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	ctx, err := p.withRequestProfile(ctx, req)
	if err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

// streamInterceptor covers List (Walk), a server stream whose one request
// arrives through RecvMsg before the service asks for the context.
func (p *Profiled) streamInterceptor(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	return handler(srv, &profiledStream{ServerStream: ss, p: p, ctx: ss.Context()})
}

type profiledStream struct {
	grpc.ServerStream
	p   *Profiled
	ctx context.Context
}

func (s *profiledStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	ctx, err := s.p.withRequestProfile(s.ServerStream.Context(), m)
	if err != nil {
		return err
	}
	s.ctx = ctx
	return nil
}

func (s *profiledStream) Context() context.Context { return s.ctx }
