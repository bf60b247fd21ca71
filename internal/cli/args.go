package cli

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// normalizeArgs lets flags come anywhere on the line. urfave/cli v2 stops
// reading a command's flags at its first positional argument, so
// `run weekly --dry-run` would take --dry-run as a second argument, and
// global flags are only read before the command. This reorders the line to
// the shape cli expects: program, global flags, command, command flags,
// then the positional arguments. Unknown flags stay in flag position, so
// cli reports them as usage errors.
func normalizeArgs(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	global, rest := takeFlags(app.Flags, args[1:])
	if len(rest) == 0 {
		return args
	}
	var cmd *cli.Command
	for _, c := range app.Commands {
		if c.HasName(rest[0]) {
			cmd = c
		}
	}
	if cmd == nil {
		return append(append([]string{args[0]}, global...), rest...)
	}
	moreGlobal, cmdFlags, positional := splitCommandArgs(app.Flags, cmd.Flags, rest[1:])
	out := []string{args[0]}
	out = append(out, global...)
	out = append(out, moreGlobal...)
	out = append(out, rest[0])
	out = append(out, cmdFlags...)
	if len(positional) > 0 {
		out = append(out, "--")
	}
	return append(out, positional...)
}

// takeFlags reads leading flags (with their values) until the first
// positional argument.
func takeFlags(flags []cli.Flag, args []string) (taken, rest []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" || !isFlag(a) {
			return taken, args[i:]
		}
		taken = append(taken, a)
		if f := lookupFlag(flags, a); f != nil && takesValue(f) && !strings.Contains(a, "=") && i+1 < len(args) {
			i++
			taken = append(taken, args[i])
		}
	}
	return taken, nil
}

// splitCommandArgs sorts a command's arguments into global flags, command
// flags and positional arguments.
func splitCommandArgs(global, local []cli.Flag, args []string) (g, l, pos []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return g, l, append(pos, args[i+1:]...)
		}
		if !isFlag(a) {
			pos = append(pos, a)
			continue
		}
		dst, f := &l, lookupFlag(local, a)
		if f == nil {
			if gf := lookupFlag(global, a); gf != nil {
				dst, f = &g, gf
			}
		}
		*dst = append(*dst, a)
		if f != nil && takesValue(f) && !strings.Contains(a, "=") && i+1 < len(args) {
			i++
			*dst = append(*dst, args[i])
		}
	}
	return g, l, pos
}

func isFlag(a string) bool { return len(a) > 1 && a[0] == '-' }

func lookupFlag(flags []cli.Flag, arg string) cli.Flag {
	name := strings.TrimLeft(arg, "-")
	name, _, _ = strings.Cut(name, "=")
	for _, f := range flags {
		for _, n := range f.Names() {
			if n == name {
				return f
			}
		}
	}
	return nil
}

func takesValue(f cli.Flag) bool {
	_, isBool := f.(*cli.BoolFlag)
	return !isBool
}
