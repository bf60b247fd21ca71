package drivers_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/drivers/borg"
	"github.com/alexandria-backup/alexandria-backup/drivers/restic"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
	"github.com/alexandria-backup/alexandria-backup/internal/testenv/drivertest"
)

// A source shape for the empty-source guard of restic and borg, made from
// a library at src whose excluded content is src/.returns and src/cache.
type emptyShape struct {
	name  string
	shape func(t *testing.T, src string)
	// refuse is what the refusal says; "" means the backup goes ahead.
	refuse string
	// removed: the tool ran and made a snapshot or archive, which the
	// guard must have removed again (not so for a missing path).
	removed bool
	// settings are laid over the target's.
	settings drivers.Values
}

// emptySourceShapes is the class the guard is tested against: every shape
// of a source that holds no file after excludes, as the tool itself counts
// files, and the shapes that must still be backed up. A source of only
// symlinks counts as empty: both tools store symlinks, but neither counts
// one as a file, and a library of dangling links restores no book.
func emptySourceShapes() []emptyShape {
	const empty = "0 files after excludes"
	bare := func(t *testing.T, src string) { emptyTo(t, src, 0) }
	return []emptyShape{
		{name: "bare mount point", shape: bare, refuse: empty, removed: true},
		{name: "only empty directories", refuse: empty, removed: true, shape: func(t *testing.T, src string) {
			bare(t, src)
			os.MkdirAll(filepath.Join(src, "books", "author00"), 0o755)
			os.MkdirAll(filepath.Join(src, "emptydir"), 0o755)
		}},
		{name: "only lost+found", refuse: empty, removed: true, shape: func(t *testing.T, src string) {
			bare(t, src)
			os.MkdirAll(filepath.Join(src, "lost+found"), 0o700)
		}},
		{name: "only excluded content", refuse: empty, removed: true, shape: func(t *testing.T, src string) {
			os.RemoveAll(filepath.Join(src, "books"))
		}},
		{name: "only symlinks", refuse: empty, removed: true, shape: func(t *testing.T, src string) {
			bare(t, src)
			os.MkdirAll(filepath.Join(src, "books"), 0o755)
			os.Symlink("/etc/hostname", filepath.Join(src, "books", "a.epub"))
			os.Symlink("../books", filepath.Join(src, "loop"))
		}},
		{name: "vanished mount point", refuse: "no such file", shape: func(t *testing.T, src string) {
			os.RemoveAll(src)
		}},
		{name: "unchanged library", shape: func(t *testing.T, src string) {}},
		{name: "one empty book left", shape: func(t *testing.T, src string) {
			// The tools count an empty regular file as a file.
			bare(t, src)
			drivertest.WriteFile(t, src, "books/empty.epub", "", 0o644)
		}},
		{name: "emptied on purpose", settings: drivers.Values{"allow_empty_source": true}, shape: bare},
		{name: "only excluded content, allowed", settings: drivers.Values{"allow_empty_source": true}, shape: func(t *testing.T, src string) {
			os.RemoveAll(filepath.Join(src, "books"))
		}},
	}
}

// historyCase is one restic or borg target over a library, for the guard's
// table: target makes the target, ids lists its snapshots or archives.
type historyCase struct {
	driver drivers.Driver
	x      proc.Executor
	src    string
	target func(settings drivers.Values) *drivers.Target
}

func (h historyCase) ids(t *testing.T, tg *drivers.Target) []string {
	t.Helper()
	snaps, err := h.driver.Snapshots(context.Background(), h.x, tg)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, s := range snaps {
		ids = append(ids, s.ID)
	}
	slices.Sort(ids)
	return ids
}

// checkEmptySourceGuard backs a library up twice, shapes its source, backs
// up again, and holds the result to the shape: a refused backup fails with
// an error naming paths and saying what was found, and leaves exactly the
// snapshots that were there before; an allowed one adds one.
func checkEmptySourceGuard(t *testing.T, h historyCase, sh emptyShape) {
	ctx := context.Background()
	guardLibrary(t, h.src, 10)
	tg := h.target(sh.settings)
	if err := h.driver.Validate(tg); err != nil {
		t.Fatal(err)
	}
	if err := h.driver.Init(ctx, h.x, tg); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if _, err := h.driver.Backup(ctx, h.x, tg); err != nil {
			t.Fatalf("backup %d of the full library: %v", i, err)
		}
	}
	before := h.ids(t, tg)
	if len(before) != 2 {
		t.Fatalf("two backups made %v", before)
	}
	sh.shape(t, h.src)
	a, err := h.driver.Backup(ctx, h.x, tg)
	after := h.ids(t, tg)
	if sh.refuse == "" {
		if err != nil {
			t.Fatalf("want the backup to go ahead, got %v", err)
		}
		if len(after) != 3 || !slices.Contains(after, a.ID) {
			t.Fatalf("want the two old snapshots and the new %s, have %v", a.ID, after)
		}
		return
	}
	var se *drivers.SettingsError
	if !errors.As(err, &se) || se.Key != "paths" || !strings.Contains(strings.ToLower(err.Error()), sh.refuse) {
		t.Fatalf("want a refusal naming paths and saying %q, got %v", sh.refuse, err)
	}
	if a.ID != "" {
		t.Errorf("a refused backup returned the artifact %q", a.ID)
	}
	if !slices.Equal(before, after) {
		t.Fatalf("refused, yet the snapshots changed: before %v, after %v", before, after)
	}
	if sh.removed && (!strings.Contains(err.Error(), h.src) || !strings.Contains(err.Error(), "was removed") || !strings.Contains(err.Error(), "allow_empty_source = true")) {
		t.Errorf("the refusal should name the path, say the snapshot was removed and how to keep it: %v", err)
	}
	t.Logf("refused as it must: %v", err)
}

// restic commits an empty snapshot of a source holding no file and exits
// 0; retention would count it as the newest. The guard refuses the backup
// and forgets that snapshot, for every shape of an empty source.
func TestResticEmptySourceGuard(t *testing.T) {
	for _, sh := range emptySourceShapes() {
		t.Run(sh.name, func(t *testing.T) {
			f := drivertest.NewResticFixture(t)
			h := historyCase{driver: restic.Driver{}, x: f.X, src: f.Src, target: func(v drivers.Values) *drivers.Target {
				tg := f.Target("library", v)
				tg.Settings["exclude"] = []string{filepath.Join(f.Src, ".returns"), "cache"}
				return tg
			}}
			x := &drivertest.RcloneCmdLog{} // runs the real restic, logging each argv
			h.x = x
			checkEmptySourceGuard(t, h, sh)
			want := 0
			if sh.removed {
				want = 1
			}
			forgets := 0
			for _, l := range x.Argv {
				if strings.Contains(l, "restic forget") {
					forgets++
					if !regexp.MustCompile(`^restic forget -- [0-9a-f]{8,64}$`).MatchString(l) {
						t.Errorf("the guard must forget one snapshot by its id: %s", l)
					}
				}
			}
			if forgets != want {
				t.Errorf("want %d restic forget, got %d:\n%s", want, forgets, strings.Join(x.Argv, "\n"))
			}
		})
	}
}

// borg creates an empty archive of a source holding no file and exits 0;
// prune would count it as the newest. The guard refuses the backup and
// deletes that archive, for every shape of an empty source.
func TestBorgEmptySourceGuard(t *testing.T) {
	for _, sh := range emptySourceShapes() {
		t.Run(sh.name, func(t *testing.T) {
			f := drivertest.NewBorgFixture(t)
			h := historyCase{driver: borg.Driver{}, x: f.X, src: f.Src, target: func(v drivers.Values) *drivers.Target {
				tg := f.Target("library", v)
				tg.Settings["exclude"] = []string{filepath.Join(f.Src, ".returns"), filepath.Join(f.Src, "cache")}
				return tg
			}}
			checkEmptySourceGuard(t, h, sh)
			cmds := f.Commands()
			if strings.Contains(cmds, "borg compact") || strings.Contains(cmds, "borg prune") {
				t.Errorf("the guard must delete the one archive and nothing else:\n%s", cmds)
			}
			want := 0
			if sh.removed {
				want = 1
			}
			if n := strings.Count(cmds, "borg delete --lock-wait=30 -- ::library@"); n != want || strings.Count(cmds, "borg delete") != want {
				t.Errorf("want %d borg delete of one named archive, got:\n%s", want, cmds)
			}
		})
	}
}
