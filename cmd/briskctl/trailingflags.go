package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"
)

// trailingFlags sets the command's flags that follow its arguments, and
// returns the arguments: users type `briskctl logs -f ID --server URL`,
// and urfave/cli stops reading flags at the first argument. "--" ends the
// flags.
func trailingFlags(c *cli.Context) ([]string, error) {
	args := c.Args().Slice()
	var positional []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			positional = append(positional, args[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			positional = append(positional, a)
			continue
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		k := slices.IndexFunc(c.Command.Flags, func(f cli.Flag) bool { return slices.Contains(f.Names(), name) })
		if k < 0 {
			return nil, fmt.Errorf("flag provided but not defined: %s", a)
		}
		if _, isBool := c.Command.Flags[k].(*cli.BoolFlag); isBool && !hasValue {
			value, hasValue = "true", true
		}
		if !hasValue {
			if i+1 == len(args) {
				return nil, fmt.Errorf("flag needs an argument: %s", a)
			}
			i++
			value = args[i]
		}
		if err := c.Set(name, value); err != nil {
			return nil, fmt.Errorf("invalid value %q for flag %s: %w", value, a, err)
		}
	}
	return positional, nil
}
