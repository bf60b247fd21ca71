package drivertest

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alexandria-backup/alexandria-backup/drivers"
)

// Golden pins the exact commands of a driver: for every plan in
// testdata/golden/*.toml of the calling package, the dry-run steps of
// `run` of each target (and for a restic target what init, prune
// --dry-run, snapshots and verify run) are compared with the .golden file
// beside it; update rewrites it instead.
func Golden(t *testing.T, update bool) {
	PinClock(t)
	cases, _ := filepath.Glob("testdata/golden/*.toml")
	if len(cases) == 0 {
		t.Fatal("no golden cases")
	}
	for _, c := range cases {
		name := strings.TrimSuffix(filepath.Base(c), ".toml")
		t.Run(name, func(t *testing.T) {
			var b strings.Builder
			for _, tg := range LoadTargets(t, c) {
				b.WriteString("## run steps\n")
				for _, s := range tg.Impl.Steps(tg) {
					b.WriteString(string(s.Phase) + ": " + s.String() + "\n")
				}
				if tg.Driver == "restic" {
					resticOps(tg, &b)
				}
			}
			CompareGolden(t, filepath.Join("testdata", "golden", name+".golden"), b.String(), update)
		})
	}
}

// CompareGolden compares got with the golden file, or rewrites it when
// update is set.
func CompareGolden(t *testing.T, golden, got string, update bool) {
	t.Helper()
	if update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run make golden)", err)
	}
	if got != string(want) {
		t.Errorf("commands changed (run make golden if intended):\n--- got\n%s--- want\n%s", got, want)
	}
}

// resticOps records what restic's init, prune --dry-run, snapshots and
// verify of the latest snapshot run.
func resticOps(tg *drivers.Target, b *strings.Builder) {
	ctx, d := context.Background(), tg.Impl
	rec := &Recorder{Stdout: map[string]string{"forget": "[]", "snapshots": "[]"}}
	_ = d.Init(ctx, rec, tg)
	_, _ = d.Prune(ctx, rec, tg, true)
	_, _ = d.Snapshots(ctx, rec, tg)
	_ = d.Verify(ctx, rec, tg, drivers.Artifact{})
	b.WriteString("## init, prune --dry-run, snapshots, verify\n")
	b.WriteString(strings.Join(rec.Lines, "\n") + "\n")
}
