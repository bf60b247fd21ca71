package plan

import (
	"fmt"
	"os"
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
