package drivers_test

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/drivers/all"
	"github.com/alexandria-backup/alexandria-backup/plan"
)

var update = flag.Bool("update", false, "rewrite golden files")

// recorder is an Executor that runs nothing: it records each command line
// and answers with canned output.
type recorder struct {
	lines  []string
	stdout map[string]string // first argument → stdout
}

func (r *recorder) Run(_ context.Context, c drivers.Command) (drivers.Result, error) {
	r.lines = append(r.lines, c.String())
	out := ""
	if len(c.Args) > 0 {
		out = r.stdout[c.Args[0]]
	}
	return drivers.Result{Command: c.String(), Stdout: []byte(out)}, nil
}

func loadTargets(t *testing.T, path string) []*drivers.Target {
	t.Helper()
	p, err := plan.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []*drivers.Target
	for _, n := range p.Order {
		out = append(out, p.Targets[n])
	}
	return out
}

func pinClock(t *testing.T) {
	old := drivers.Now
	drivers.Now = func() time.Time { return time.Date(2026, 11, 26, 2, 0, 0, 0, time.UTC) }
	t.Cleanup(func() { drivers.Now = old })
}

// TestGolden pins the exact commands of every driver and phase: the
// dry-run steps of `run`, and what init, prune --dry-run and snapshots run.
func TestGolden(t *testing.T) {
	pinClock(t)
	cases, _ := filepath.Glob("testdata/golden/*.toml")
	if len(cases) == 0 {
		t.Fatal("no golden cases")
	}
	for _, c := range cases {
		name := strings.TrimSuffix(filepath.Base(c), ".toml")
		t.Run(name, func(t *testing.T) {
			var b strings.Builder
			for _, tg := range loadTargets(t, c) {
				d, _ := all.Lookup(tg.Driver)
				b.WriteString("## run steps\n")
				for _, s := range d.Steps(tg) {
					b.WriteString(string(s.Phase) + ": " + s.String() + "\n")
				}
				if tg.Driver == "restic" {
					ctx := context.Background()
					rec := &recorder{stdout: map[string]string{"forget": "[]", "snapshots": "[]"}}
					_ = d.Init(ctx, rec, tg)
					_, _ = d.Prune(ctx, rec, tg, true)
					_, _ = d.Snapshots(ctx, rec, tg)
					_ = d.Verify(ctx, rec, tg, drivers.Artifact{})
					b.WriteString("## init, prune --dry-run, snapshots, verify\n")
					b.WriteString(strings.Join(rec.lines, "\n") + "\n")
				}
			}
			golden := filepath.Join("testdata", "golden", name+".golden")
			if *update {
				if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./drivers -run TestGolden -update)", err)
			}
			if b.String() != string(want) {
				t.Errorf("commands changed (run with -update if intended):\n--- got\n%s--- want\n%s", b.String(), want)
			}
		})
	}
}
