package drivers_test

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/drivers/all"
	"github.com/alexandria-backup/alexandria-backup/internal/testenv/drivertest"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestGolden pins the exact commands of every driver and phase: the
// dry-run steps of `run`, and what init, prune --dry-run and snapshots run.
func TestGolden(t *testing.T) {
	drivertest.PinClock(t)
	cases, _ := filepath.Glob("testdata/golden/*.toml")
	if len(cases) == 0 {
		t.Fatal("no golden cases")
	}
	for _, c := range cases {
		name := strings.TrimSuffix(filepath.Base(c), ".toml")
		t.Run(name, func(t *testing.T) {
			var b strings.Builder
			for _, tg := range drivertest.LoadTargets(t, c) {
				d, _ := all.Lookup(tg.Driver)
				b.WriteString("## run steps\n")
				for _, s := range d.Steps(tg) {
					b.WriteString(string(s.Phase) + ": " + s.String() + "\n")
				}
				if tg.Driver == "restic" {
					ctx := context.Background()
					rec := &drivertest.Recorder{Stdout: map[string]string{"forget": "[]", "snapshots": "[]"}}
					_ = d.Init(ctx, rec, tg)
					_, _ = d.Prune(ctx, rec, tg, true)
					_, _ = d.Snapshots(ctx, rec, tg)
					_ = d.Verify(ctx, rec, tg, drivers.Artifact{})
					b.WriteString("## init, prune --dry-run, snapshots, verify\n")
					b.WriteString(strings.Join(rec.Lines, "\n") + "\n")
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
