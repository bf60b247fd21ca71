package drivers

import (
	"fmt"

	"github.com/alexandria-backup/alexandria-backup/internal/proc"
)

// PlainRestore lists the plain tool commands that bring a target's latest
// backup back to where it came from, for the runbook: they work on a
// machine where alexandria-backup is not installed. Secrets stay in the
// files and commands the plan names; nothing secret is printed. Each
// driver writes its own recipe (Driver.PlainRestore).
func PlainRestore(t *Target) []Step {
	if t.Impl != nil {
		return t.Impl.PlainRestore(t)
	}
	return []Step{RestoreNote("no plain restore recipe for driver %s", t.Driver)}
}

// RestoreNote is a runbook step a person reads.
func RestoreNote(format string, args ...any) Step {
	return Step{Phase: "restore", Note: fmt.Sprintf(format, args...)}
}

// RestoreCmd is a runbook step a person runs.
func RestoreCmd(c proc.Command) Step { return Step{Phase: "restore", Command: &c} }
