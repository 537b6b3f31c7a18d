package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"

	"github.com/containerd/containerd/api/types"
	"github.com/containerd/containerd/v2/pkg/shim"

	brisk "github.com/brisk-containers/brisk/shim"
)

// manager is runc's shim manager; only the runtime options containerd writes
// to the shim's stdin are translated first (see brisk.RuncOptions), so that
// runc's manager sees options such as ShimCgroup and BinaryName whichever
// client started the task.
type manager struct {
	shim.Manager
}

func (m manager) Start(ctx context.Context, id string, opts shim.StartOpts) (shim.BootstrapParams, error) {
	// runc's Start reads os.Stdin itself; give it the translated bytes.
	data, err := io.ReadAll(os.Stdin)
	if err != nil {
		return shim.BootstrapParams{}, fmt.Errorf("read runtime options: %w", err)
	}
	if data, err = brisk.RuncOptionsBytes(data); err != nil {
		return shim.BootstrapParams{}, err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return shim.BootstrapParams{}, err
	}
	go func() {
		_, _ = w.Write(data)
		w.Close()
	}()
	os.Stdin = r
	return m.Manager.Start(ctx, id, opts)
}

func (m manager) Info(ctx context.Context, optionsR io.Reader) (*types.RuntimeInfo, error) {
	data, err := io.ReadAll(optionsR)
	if err != nil {
		return nil, fmt.Errorf("read runtime options: %w", err)
	}
	if data, err = brisk.RuncOptionsBytes(data); err != nil {
		return nil, err
	}
	return m.Manager.Info(ctx, bytes.NewReader(data))
}
