// Package version holds Brisk's version, set at link time by the Makefile
// (-X github.com/brisk-containers/brisk/internal/version.Version=...).
//
// The shim prints containerd's version variable for -v (containerd's shim
// library owns that flag), so the Makefile sets that one to the same string:
// `containerd-shim-brisk-v2 -v` and `briskctl --version` then agree, which is
// what briskctl doctor checks.
package version

// Version is "dev" in builds that did not go through the Makefile.
var Version = "dev"
