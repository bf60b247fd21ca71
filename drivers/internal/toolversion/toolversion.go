// Package toolversion asks a tool for its version and compares versions,
// so a driver can refuse a tool too old for it and use newer features when
// the installed one has them.
package toolversion

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/alexandria-backup/alexandria-backup/internal/proc"
)

// version is a tool's version, as its --version output states it.
type Version struct{ major, minor, patch int }

func (v Version) String() string { return fmt.Sprintf("%d.%d.%d", v.major, v.minor, v.patch) }

func (v Version) Less(major, minor int) bool {
	return v.major < major || v.major == major && v.minor < minor
}

// Probe runs a tool's version command (once per run: proc.Remember) and
// reads "X.Y.Z" from its output with re, whose three groups are major,
// minor and patch.
func Probe(ctx context.Context, x proc.Executor, re *regexp.Regexp, program string, args ...string) (Version, error) {
	c := proc.Command{Program: program, Args: args}
	res, err := proc.Remember(ctx, c.String(), func() (proc.Result, error) { return x.Run(ctx, c) })
	if err != nil {
		return Version{}, err
	}
	m := re.FindSubmatch(res.Stdout)
	if m == nil {
		return Version{}, fmt.Errorf("%s %s: cannot read a version from %q", program, strings.Join(args, " "), proc.LastLines(res.Stdout, 1))
	}
	var v Version
	v.major, _ = strconv.Atoi(string(m[1]))
	v.minor, _ = strconv.Atoi(string(m[2]))
	if len(m) > 3 {
		v.patch, _ = strconv.Atoi(string(m[3]))
	}
	return v, nil
}
