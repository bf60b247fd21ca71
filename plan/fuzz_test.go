package plan

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzParse feeds the loader arbitrary plan files. Whatever the input, it
// must not panic, and it must either return a plan or an *Error whose
// every problem names a key or a line (an operator must be able to find
// what to fix). `go test` replays the seeds; run it for real with
//
//	go test ./plan -run '^$' -fuzz FuzzParse -fuzztime 60s
func FuzzParse(f *testing.F) {
	seeds := []string{goodPlan, "", "[targets.db]\ndriver = \"pg_dump\"\ndatabase = \"a\"\ndir = \"/b\"\n"}
	files, _ := filepath.Glob("../drivers/*/testdata/golden/*.toml")
	files = append(files, "../alexandria-backup.toml.example")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, string(b))
	}
	for _, s := range seeds {
		f.Add(s)
	}
	lookup := env(map[string]string{"REPO": "/srv/restic", "AWS_SECRET": "s", "HC_UUID": "u", "EMPTY": ""})
	f.Fuzz(func(t *testing.T, src string) {
		// A plan file is small: loading one must never hang.
		type result struct {
			p   *Plan
			err error
		}
		done := make(chan result, 1)
		go func() {
			p, err := Parse("plan.toml", []byte(src), lookup)
			done <- result{p, err}
		}()
		var p *Plan
		var err error
		select {
		case r := <-done:
			p, err = r.p, r.err
		case <-time.After(5 * time.Second):
			t.Fatalf("Parse took more than 5s on %d bytes", len(src))
		}
		if err == nil {
			if p == nil {
				t.Fatal("no plan and no error")
			}
			return
		}
		var pe *Error
		if !errors.As(err, &pe) {
			t.Fatalf("not a *plan.Error: %T %v", err, err)
		}
		for _, e := range pe.Problems() {
			var pr Problem
			if !errors.As(e, &pr) {
				t.Fatalf("not a Problem: %T %v", e, e)
			}
			if pr.Line <= 0 && pr.Key == "" {
				t.Errorf("a problem names neither a key nor a line: %v", pr)
			}
		}
	})
}
