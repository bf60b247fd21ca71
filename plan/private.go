package plan

import (
	"errors"
	"fmt"
	"os"

	"github.com/alexandria-backup/alexandria-backup/drivers"
)

// ExposedSecrets returns a problem for each secret the plan file holds
// (see Plan.Secrets) when its group or others may read it. It is the one
// check behind `validate` and `run` refusing such a file and `doctor`
// saying why.
func (p *Plan) ExposedSecrets() ([]Problem, error) {
	if len(p.Secrets) == 0 {
		return nil, nil
	}
	fi, err := os.Stat(p.Path)
	if err != nil {
		return nil, err
	}
	perm := fi.Mode().Perm()
	if perm&0o044 == 0 {
		return nil, nil
	}
	out := make([]Problem, len(p.Secrets))
	for i, s := range p.Secrets {
		out[i] = Problem{File: p.Path, Line: s.Line, Key: s.Key,
			Msg: fmt.Sprintf("a secret in a plan file that group or others may read (mode %04o): chmod 600 %s, or write the value as ${VAR}", perm, p.Path)}
	}
	return out, nil
}

// CheckPrivate is ExposedSecrets as an *Error (exit 2): nothing runs
// while a secret lies in a file others may read.
func (p *Plan) CheckPrivate() error {
	probs, err := p.ExposedSecrets()
	if err != nil {
		return &UsageError{Msg: fmt.Sprintf("checking the plan file's mode: %v", err)}
	}
	if len(probs) == 0 {
		return nil
	}
	l := &loader{file: p.Path}
	for _, pr := range probs {
		l.add(pr)
	}
	return l.err()
}

// CheckSecretFiles refuses, as an *Error naming each key and its line,
// the secret files of targets (and of the targets their dumps stream
// into) that their run would refuse: missing, not a regular file, open
// to group or others, an empty password file. validate checks every
// target, run the ones it is about to run.
func (p *Plan) CheckSecretFiles(targets []*drivers.Target) error {
	l := &loader{file: p.Path, lines: p.lines}
	if l.lines == nil {
		l.lines = newLineIndex(nil)
	}
	seen := map[string]bool{}
	var check func(t *drivers.Target)
	check = func(t *drivers.Target) {
		if t == nil || seen[t.Name] {
			return
		}
		seen[t.Name] = true
		if err := drivers.CheckSecrets(t); err != nil {
			var se *drivers.SettingsError
			if errors.As(err, &se) {
				l.problem([]string{"targets", t.Name, se.Key}, "%s", se.Msg)
			} else {
				l.problem([]string{"targets", t.Name}, "%v", err)
			}
		}
		check(t.Into)
	}
	for _, t := range targets {
		check(t)
	}
	return l.err()
}

// AllTargets lists every target, in plan order.
func (p *Plan) AllTargets() []*drivers.Target {
	out := make([]*drivers.Target, 0, len(p.Order))
	for _, name := range p.Order {
		if t := p.Targets[name]; t != nil {
			out = append(out, t)
		}
	}
	return out
}
