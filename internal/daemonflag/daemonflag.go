// Package daemonflag is the command line Brisk's daemons share: --config,
// the file every Brisk binary reads, and --log-level.
package daemonflag

import (
	"flag"
	"fmt"

	"github.com/containerd/log"

	"github.com/brisk-containers/brisk/config"
)

// Flags are the shared flags of one daemon's flag set.
type Flags struct {
	fs         *flag.FlagSet
	configPath *string
	logLevel   *string
}

// Define adds --config and --log-level to fs.
func Define(fs *flag.FlagSet) *Flags {
	return &Flags{
		fs:         fs,
		configPath: fs.String("config", config.DefaultPath, "configuration file (the same for every Brisk binary)"),
		logLevel:   fs.String("log-level", "info", "log level: trace, debug, info, warn, error"),
	}
}

// Load, once fs is parsed, refuses arguments, sets up logging and loads
// the configuration. The default path may be absent (a node running on
// defaults); a path the operator named must exist.
func (f *Flags) Load() (config.Config, error) {
	if f.fs.NArg() > 0 {
		return config.Config{}, fmt.Errorf("unexpected arguments %q", f.fs.Args())
	}
	if err := log.SetLevel(*f.logLevel); err != nil {
		return config.Config{}, fmt.Errorf("--log-level %q: %w", *f.logLevel, err)
	}
	if err := log.SetFormat(log.TextFormat); err != nil {
		return config.Config{}, err
	}
	explicit := false
	f.fs.Visit(func(fl *flag.Flag) { explicit = explicit || fl.Name == "config" })
	return config.Load(*f.configPath, !explicit)
}
