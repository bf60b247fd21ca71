// Package progresstest checks, for any tool, that progress is asked for
// only when someone watches (Target.Progress) and only on the command that
// does the work: what cron runs, and what --dry-run and the golden files
// show, stays as it was.
package progresstest

import (
	"slices"
	"strings"
	"testing"

	"github.com/alexandria-backup/alexandria-backup/internal/proc"
)

// Case is one command to check. Build returns the commands of one step,
// the one that does the work first.
type Case struct {
	Name  string
	Build func(watched bool) []proc.Command
	// Watched are words of the first command only when watched,
	// Unwatched only when not.
	Watched, Unwatched []string
	// Reader: the first command has a progress reader exactly when
	// watched (false for a tool whose progress comes from its normal
	// output, read anyway).
	Reader bool
}

// Check runs every case both unwatched and watched.
func Check(t *testing.T, cases ...Case) {
	t.Helper()
	for _, c := range cases {
		for _, watched := range []bool{false, true} {
			cs := c.Build(watched)
			work := cs[0]
			for _, w := range c.Watched {
				if slices.Contains(work.Args, w) != watched {
					t.Errorf("%s, watched=%v: %s: %s", c.Name, watched, w, work)
				}
			}
			for _, w := range c.Unwatched {
				if slices.Contains(work.Args, w) == watched {
					t.Errorf("%s, watched=%v: %s: %s", c.Name, watched, w, work)
				}
			}
			if c.Reader && watched != (work.Progress != nil) {
				t.Errorf("%s, watched=%v: progress reader %v", c.Name, watched, work.Progress != nil)
			}
			for _, other := range cs[1:] {
				if !strings.Contains(other.String(), "--quiet") || other.Progress != nil {
					t.Errorf("%s: a command other than the one doing the work asks for progress: %s", c.Name, other)
				}
			}
		}
	}
}
