// Package config reads /etc/brisk/config.toml, the one file that configures
// brisk-snapshotter ([snapshotter]), containerd-shim-brisk-v2 ([logs]) and
// briskctl. Every key is checked when the file is read: an unknown key or a
// bad value is an error that names the key and the value, so a typo never
// turns into a silently ignored setting.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/pelletier/go-toml/v2"
)

// DefaultPath is where the daemon, the shim and briskctl look for the file.
const DefaultPath = "/etc/brisk/config.toml"

// EnvPath names the environment variable that overrides DefaultPath for the
// shim, which containerd starts without flags of ours.
const EnvPath = "BRISK_CONFIG"

// Config is the whole file.
type Config struct {
	Snapshotter Snapshotter `toml:"snapshotter"`
	Logs        Logs        `toml:"logs"`
}

// Default returns the configuration used for every key the file leaves out.
func Default() Config {
	return Config{Snapshotter: DefaultSnapshotter(), Logs: DefaultLogs()}
}

// Load reads path over the defaults and validates the result. A missing file
// is not an error when allowMissing is set: a node with no config file runs
// on the defaults.
func Load(path string, allowMissing bool) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) && allowMissing {
			cfg := Default()
			return cfg, cfg.Validate()
		}
		return Config{}, fmt.Errorf("read config %s: %w", path, err)
	}
	cfg, err := Parse(data)
	if err != nil {
		return Config{}, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

// Parse decodes TOML over the defaults and validates the result.
func Parse(data []byte) (Config, error) {
	cfg := Default()
	if err := DecodeStrict(data, &cfg); err != nil {
		return Config{}, err
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// Validate checks every section.
func (c *Config) Validate() error {
	if err := c.Snapshotter.Validate(); err != nil {
		return err
	}
	return c.Logs.Validate()
}

// DecodeStrict decodes TOML into v, refusing unknown keys; errors name the
// key and are errdefs.ErrInvalidArgument.
func DecodeStrict(data []byte, v any) error {
	dec := toml.NewDecoder(bytes.NewReader(data)).DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return describeDecodeError(err)
	}
	return nil
}

func describeDecodeError(err error) error {
	var strict *toml.StrictMissingError
	if errors.As(err, &strict) {
		var keys []string
		for _, e := range strict.Errors {
			keys = append(keys, strings.Join(e.Key(), "."))
		}
		return fmt.Errorf("unknown key %s: %w", strings.Join(keys, ", "), errdefs.ErrInvalidArgument)
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		row, col := de.Position()
		key := strings.Join(de.Key(), ".")
		if key == "" {
			return fmt.Errorf("line %d column %d: %s: %w", row, col, de.Error(), errdefs.ErrInvalidArgument)
		}
		return fmt.Errorf("key %s (line %d): %s: %w", key, row, de.Error(), errdefs.ErrInvalidArgument)
	}
	return fmt.Errorf("%v: %w", err, errdefs.ErrInvalidArgument)
}

// invalid builds the error every bad value produces: it names the key and
// the value, and is errdefs.ErrInvalidArgument.
func invalid(key string, value any, why string) error {
	return fmt.Errorf("%s = %q: %s: %w", key, fmt.Sprint(value), why, errdefs.ErrInvalidArgument)
}
