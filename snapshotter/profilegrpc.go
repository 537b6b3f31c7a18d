//go:build linux

package snapshotter

import (
	"context"

	"google.golang.org/grpc"
)

// containerd's proxy client names the snapshotter ([proxy_plugins.NAME]) in
// every snapshot request; containerd's snapshot service drops it. These
// interceptors put the profile it names into the request's context, which is
// all the dispatch by profile needs from gRPC.

// snapshotterNamed is what every request of containerd's snapshot API is.
type snapshotterNamed interface{ GetSnapshotter() string }

// GRPCServerOptions returns the interceptors that run each request under the
// profile it names; a name that is no profile's runs under the default one.
func (p *Profiled) GRPCServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(p.unaryInterceptor),
		grpc.ChainStreamInterceptor(p.streamInterceptor),
	}
}

func (p *Profiled) withRequestProfile(ctx context.Context, req any) context.Context {
	if r, ok := req.(snapshotterNamed); ok {
		return WithProfile(ctx, p.sn.profileName(r.GetSnapshotter()))
	}
	return WithProfile(ctx, p.sn.profileName(""))
}

func (p *Profiled) unaryInterceptor(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	return handler(p.withRequestProfile(ctx, req), req)
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
	s.ctx = s.p.withRequestProfile(s.ServerStream.Context(), m)
	return nil
}

func (s *profiledStream) Context() context.Context { return s.ctx }
