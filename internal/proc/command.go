package proc

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"syscall"
)

// Command is one invocation of a real tool, as pure data. Drivers build
// Commands without doing any I/O, so the same value serves the executor,
// --dry-run output, golden tests and error messages.
type Command struct {
	Program string
	Args    []string
	// Env is added to the inherited environment. Values marked Secret are
	// masked wherever the command is shown.
	Env []EnvVar
	// DropEnv names variables of our own environment the child must not
	// inherit (see drivers.InheritedEnv); Env still sets them.
	DropEnv []string
	Dir     string
	// Stdin, when set, is the child's standard input (default /dev/null).
	Stdin io.Reader
	// Stdout, when set, takes all of the child's standard output instead
	// of the bounded tail (Result.Stdout is then empty): a backup that is
	// a tool's output goes straight to its file, in bounded memory. An
	// *os.File is handed to the child as is, with no copy in between.
	Stdout io.Writer
	// ExtraFiles are opened read-only when the command starts and passed
	// as file descriptors 3, 4, ...: how a secret file reaches a tool that
	// reads a descriptor (borg's BORG_PASSPHRASE_FD) without argv or env.
	ExtraFiles []string
	// Codes says which exit codes are a success or a warning; every other
	// code, and death by a signal, is an error.
	Codes ExitCodes
	// StdoutTail is how many bytes of standard output are kept (the tail).
	// Zero keeps DefaultTail bytes.
	StdoutTail int
	// Progress, when set, reads the tool's progress from its output; the
	// lines it recognises go to the context's Trace, not the tail.
	Progress *ProgressReader
	// Stop is the signal that makes the tool stop and clean up when its
	// context ends (zero: SIGTERM); SIGKILL follows StopGrace later. Each
	// driver says which signal its tool cleans up on (restic 0.14 releases
	// its lock only on SIGINT; borg 1.2 commits a checkpoint on SIGINT).
	Stop syscall.Signal
}

// EnvVar is one NAME=value pair passed to a child.
type EnvVar struct {
	Name   string
	Value  string
	Secret bool
}

// Masked is what a secret value is shown as.
const Masked = "***"

// String renders the command the way an operator would type it: environment
// assignments first, every word shell-quoted, secrets masked (and the
// password of any URL in a value or argument). It is the only way commands
// are shown (dry-run, logs, reports, errors).
func (c Command) String() string {
	var words []string
	for _, e := range c.Env {
		v := MaskURLPasswords(e.Value)
		if e.Secret {
			v = Masked
		}
		words = append(words, ShellQuote(e.Name+"="+v))
	}
	words = append(words, ShellQuote(c.Program))
	for _, a := range c.Args {
		words = append(words, ShellQuote(MaskURLPasswords(a)))
	}
	return strings.Join(words, " ")
}

// ShellQuote quotes s for a POSIX shell, leaving plain words alone so the
// common case stays readable.
func ShellQuote(s string) string {
	if s == "" {
		return "''"
	}
	safe := true
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
			strings.ContainsRune("-_./:=,+%@^", r)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Class is how one tool exit is judged.
type Class int

const (
	ClassOK Class = iota
	ClassWarning
	ClassError
)

func (c Class) String() string {
	switch c {
	case ClassOK:
		return "ok"
	case ClassWarning:
		return "warning"
	default:
		return "error"
	}
}

// ExitCodes classifies a tool's exit codes. Codes not listed are errors,
// except 0, which is ok unless listed as something else.
type ExitCodes struct {
	OK      []int
	Warning []int
	Error   []int
}

// Classify judges one exit code.
func (e ExitCodes) Classify(code int) Class {
	switch {
	case slices.Contains(e.Error, code):
		return ClassError
	case slices.Contains(e.Warning, code):
		return ClassWarning
	case slices.Contains(e.OK, code), code == 0:
		return ClassOK
	}
	return ClassError
}

// Override returns e with the plan's per-target classification laid over it:
// a code named in the override moves to that class.
func (e ExitCodes) Override(o ExitCodes) ExitCodes {
	if o.IsZero() {
		return e
	}
	named := append(append(append([]int{}, o.OK...), o.Warning...), o.Error...)
	drop := func(list []int) []int {
		var out []int
		for _, c := range list {
			if !slices.Contains(named, c) {
				out = append(out, c)
			}
		}
		return out
	}
	return ExitCodes{
		OK:      sortedUnion(drop(e.OK), o.OK),
		Warning: sortedUnion(drop(e.Warning), o.Warning),
		Error:   sortedUnion(drop(e.Error), o.Error),
	}
}

// IsZero reports whether no code is listed.
func (e ExitCodes) IsZero() bool { return len(e.OK)+len(e.Warning)+len(e.Error) == 0 }

func (e ExitCodes) String() string {
	return fmt.Sprintf("ok=%v warning=%v error=%v", e.OK, e.Warning, e.Error)
}

func sortedUnion(a, b []int) []int {
	var out []int
	for _, v := range append(append([]int{}, a...), b...) {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	sort.Ints(out)
	return out
}
