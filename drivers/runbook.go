package drivers

import (
	"fmt"
	"path/filepath"
	"strings"

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

// RestoreShell is a runbook line a shell runs as printed (ShellLine
// renders its commands).
func RestoreShell(format string, args ...any) Step {
	return Step{Phase: "restore", Shell: fmt.Sprintf(format, args...)}
}

// PlainRecoverer is implemented by drivers that can say, in plain tool
// commands a shell runs as printed, how `recover` puts a target's newest
// backup back on a new server: the database created and restored into, or
// each backed-up path restored beside its place and moved into it. Later
// lines may use shell variables earlier lines set (one shell session).
type PlainRecoverer interface {
	PlainRecover(t *Target) []Step
}

// ShellLine renders a command for a POSIX shell, as a person pastes it:
// unlike Command.String (a log line), each environment variable is an
// assignment the shell honours (NAME='value', never 'NAME=value', which a
// shell runs as a program name). Secret values stay masked.
func ShellLine(c proc.Command) string {
	var words []string
	for _, e := range c.Env {
		v := proc.MaskURLPasswords(e.Value)
		if e.Secret {
			v = proc.Masked
		}
		words = append(words, e.Name+"="+proc.ShellQuote(v))
	}
	words = append(words, proc.ShellQuote(c.Program))
	for _, a := range c.Args {
		words = append(words, proc.ShellQuote(proc.MaskURLPasswords(a)))
	}
	return strings.Join(words, " ")
}

// StepLine is a runbook step as a shell reads it: commands through
// ShellLine, notes as comments.
func StepLine(s Step) string {
	if s.Command != nil {
		return ShellLine(*s.Command)
	}
	return s.String()
}

// PlainStage is where a runbook's plain recovery restores path first: a
// directory beside it, so on the same filesystem and moved with a rename.
func PlainStage(path string) string {
	return filepath.Join(filepath.Dir(path), ".alexandria-recover")
}

// MoveIntoPlaceSteps move path's restored tree (stage/<absolute path>, as
// restic and borg restore it) into place and remove the staging
// directory. mv -T renames onto an empty directory (a fresh mount point)
// and refuses a non-empty one, like recover.
func MoveIntoPlaceSteps(stage, path string) []Step {
	return []Step{
		RestoreCmd(proc.Command{Program: "mv", Args: []string{"-T", filepath.Join(stage, path), path}}),
		RestoreCmd(proc.Command{Program: "rm", Args: []string{"-r", stage}}),
	}
}
