// Package config reads /etc/brisk/config.toml, the one file that configures
// brisk-snapshotter ([snapshotter]), containerd-shim-brisk-v2 and
// brisk-logd ([logs]), and briskctl ([briskctl], for use off the node).
// Every key is checked when the file is read: an unknown key or a bad value
// is an error that names the key and the value, so a typo never turns into
// a silently ignored setting.
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
	Briskctl    Briskctl    `toml:"briskctl"`
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
	if err := c.Logs.Validate(); err != nil {
		return err
	}
	return c.Briskctl.Validate()
}

// Warnings lists settings that are valid but likely not what was meant.
func (c *Config) Warnings() []string { return c.Logs.S3.Warnings() }

// DecodeStrict decodes TOML into v, refusing unknown keys; errors name the
// key and are errdefs.ErrInvalidArgument.
func DecodeStrict(data []byte, v any) error {
	dec := toml.NewDecoder(bytes.NewReader(data)).DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return describeDecodeError(data, err)
	}
	return nil
}

func describeDecodeError(data []byte, err error) error {
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
		return fmt.Errorf("key %s = %s (line %d): %s: %w", key, lineValue(data, row), row, de.Error(), errdefs.ErrInvalidArgument)
	}
	var ve *valueError
	if errors.As(err, &ve) {
		if key := keyOf(data, ve.value); key != "" {
			return invalid(key, ve.value, ve.err.Error())
		}
	}
	return fmt.Errorf("%v: %w", err, errdefs.ErrInvalidArgument)
}

// lineValue is what follows "=" on line row (from 1) of data: the value as
// written, which the decoder's error does not quote when it cannot read it
// (an integer past int64).
func lineValue(data []byte, row int) string {
	lines := strings.Split(string(data), "\n")
	if row < 1 || row > len(lines) {
		return "?"
	}
	_, v, _ := strings.Cut(lines[row-1], "=")
	return strings.TrimSpace(v)
}

// keyOf finds the dotted key holding value in data, for errors the decoder
// returns without a key.
func keyOf(data []byte, value string) string {
	var doc map[string]any
	if toml.Unmarshal(data, &doc) != nil {
		return ""
	}
	var find func(prefix string, m map[string]any) string
	find = func(prefix string, m map[string]any) string {
		for k, v := range m {
			if sub, ok := v.(map[string]any); ok {
				if key := find(prefix+k+".", sub); key != "" {
					return key
				}
			} else if fmt.Sprint(v) == value {
				return prefix + k
			}
		}
		return ""
	}
	return find("", doc)
}

// invalid builds the error every bad value produces: it names the key and
// the value, and is errdefs.ErrInvalidArgument.
func invalid(key string, value any, why string) error {
	return fmt.Errorf("%s = %q: %s: %w", key, fmt.Sprint(value), why, errdefs.ErrInvalidArgument)
}
