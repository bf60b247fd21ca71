package drivers_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/drivers/rclone"
	"github.com/alexandria-backup/alexandria-backup/drivers/restic"
	"github.com/alexandria-backup/alexandria-backup/internal/testenv/drivertest"
	"github.com/alexandria-backup/alexandria-backup/internal/testenv/rclonetest"
)

// offsiteFixture is a restic target backing a library up into a local
// repository, and an rclone target syncing that repository offsite: to
// a local directory, or to an sftp server on loopback defined in an
// rclone.conf or only by RCLONE_CONFIG_* variables in the target's env.
type offsiteFixture struct {
	*drivertest.ResticFixture
	lib, off *drivers.Target
	copyDir  string // where the copy's files are on this machine
	x        *drivertest.RcloneCmdLog
	secret   string // a value that must never be in a command line
}

const offsitePlaces = "local config env"

func newOffsiteFixture(t *testing.T, place string) *offsiteFixture {
	drivertest.RequireTool(t, "restic", "rclone")
	f := &offsiteFixture{ResticFixture: drivertest.NewResticFixture(t), x: &drivertest.RcloneCmdLog{}}
	t.Setenv("RCLONE_CONFIG", filepath.Join(f.Dir, "no-rclone.conf"))
	f.lib = f.RestoreTarget(t, "library", drivers.Values{"keep_last": 1})
	f.lib.Impl = restic.Driver{}
	settings := drivers.Values{"source": f.Repo}
	var env map[string]string
	switch place {
	case "local":
		f.copyDir = filepath.Join(f.Dir, "offsite")
		settings["destination"] = f.copyDir
	case "config", "env":
		served := filepath.Join(f.Dir, "served")
		srv := rclonetest.ServeSFTP(t, served)
		f.copyDir, f.secret = filepath.Join(served, "offsite", "repo"), srv.Pass
		settings["destination"] = "loop:offsite/repo"
		if place == "config" {
			settings["config"] = rclonetest.WriteConfig(t, f.Dir, srv.SFTPRemote(t, "loop"))
		} else {
			env = map[string]string{"RCLONE_CONFIG_LOOP_TYPE": "sftp", "RCLONE_CONFIG_LOOP_HOST": "127.0.0.1",
				"RCLONE_CONFIG_LOOP_PORT": strings.Split(srv.Addr, ":")[1], "RCLONE_CONFIG_LOOP_USER": srv.User,
				"RCLONE_CONFIG_LOOP_PASS": rclonetest.Obscure(t, srv.Pass)}
			f.secret = env["RCLONE_CONFIG_LOOP_PASS"]
		}
	}
	f.off = &drivers.Target{Name: "offsite", Driver: "rclone", Impl: rclone.Driver{}, Verify: true, Settings: settings, Env: env,
		TempDir: filepath.Join(f.Dir, "tmp-offsite"), KeepDir: filepath.Join(f.Dir, "keep"), VerifyCycle: 4, DrillSample: 100,
		Holds: []*drivers.Target{f.lib}}
	for _, d := range []string{f.off.TempDir, f.off.KeepDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// backup makes a snapshot of the library with one book changed, and
// applies retention (keep_last 1: the older snapshot is forgotten and
// pruned, so the repository moves on from what was synced).
func (f *offsiteFixture) backup(t *testing.T, change string) string {
	t.Helper()
	drivertest.WriteFile(t, f.Src, "books/changed.epub", change, 0o644)
	a := f.Backup(t, f.lib)
	if _, err := (restic.Driver{}).Prune(context.Background(), f.X, f.lib, false); err != nil {
		t.Fatal(err)
	}
	return a.ID[:8]
}

func (f *offsiteFixture) sync(t *testing.T) drivers.Artifact {
	t.Helper()
	a, err := rclone.Driver{}.Backup(context.Background(), f.x, f.off)
	if err != nil {
		t.Fatalf("rclone sync: %v", err)
	}
	return a
}

func (f *offsiteFixture) verify(a drivers.Artifact, s drivers.Scope) error {
	_, err := rclone.Driver{}.VerifyScoped(context.Background(), f.x, f.off, a, s)
	return err
}

func (f *offsiteFixture) drill(t *testing.T) (drivers.DrillResult, error) {
	t.Helper()
	before := allEntries(t, f.copyDir)
	res, err := rclone.Driver{}.Drill(context.Background(), f.x, f.off)
	if after := allEntries(t, f.copyDir); strings.Join(after, " ") != strings.Join(before, " ") {
		t.Errorf("the drill changed the copy: %v, then %v", before, after)
	}
	drivertest.RbNoDrillLeftovers(t, f.off.TempDir)
	return res, err
}

// An rclone copy of a restic repository restores: its drill opens the
// copy as a restic repository (at its path, or through restic's rclone
// backend with the rclone target's config or env) and restores the
// newest snapshot the copy holds. Its verify checks what was sent, so it
// passes after the repository moved on (a backup and a prune) without a
// new sync, and after one.
func TestOffsiteCopyOfAResticRepositoryVerifiesAndDrills(t *testing.T) {
	for _, place := range strings.Fields(offsitePlaces) {
		t.Run(place, func(t *testing.T) {
			f := newOffsiteFixture(t, place)
			first := f.backup(t, "first")
			if err := f.verify(f.sync(t), drivers.Scope{Slice: 1, Cycle: 4}); err != nil {
				t.Fatalf("verify after the sync: %v", err)
			}
			res, err := f.drill(t)
			if err != nil {
				t.Fatalf("drill: %v", err)
			}
			if res.Artifact != first || res.Checked < 20 || !strings.Contains(res.Detail, "as a restic repository") ||
				!strings.Contains(res.Detail, "restic check found no errors") || !strings.Contains(res.Detail, "library's snapshot "+first) {
				t.Fatalf("drill result %+v: want snapshot %s of the copy, checked and sampled", res, first)
			}
			t.Logf("drill: %s", res.Detail)
			opened := false
			for _, l := range f.x.Lines {
				opened = opened || strings.Contains(l, "RESTIC_REPOSITORY="+map[bool]string{true: f.copyDir, false: "rclone:loop:offsite/repo"}[place == "local"]) &&
					strings.Contains(l, "restic check --no-lock --no-cache")
			}
			if !opened {
				t.Fatalf("no restic check of the copy where it is: %s", strings.Join(f.x.Lines, "\n"))
			}

			// The repository moves on: the copy is now a run behind.
			second := f.backup(t, "second, longer than the first")
			if onlyRepo, onlyCopy := differ(drivertest.RcloneFiles(t, f.Repo), drivertest.RcloneFiles(t, f.copyDir)); onlyRepo == 0 || onlyCopy == 0 {
				t.Fatalf("the repository did not move on: %d files only in it, %d only in the copy", onlyRepo, onlyCopy)
			}
			for _, s := range []drivers.Scope{drivers.FullScope, {Slice: 2, Cycle: 4}} {
				if err := f.verify(drivers.Artifact{}, s); err != nil {
					t.Fatalf("verify (%s) without a new sync, after the repository moved on: %v", s, err)
				}
			}
			if res, err := f.drill(t); err != nil || res.Artifact != first {
				t.Fatalf("drill of the copy a run behind: %+v %v; want its own newest snapshot %s", res, err, first)
			}

			a := f.sync(t)
			if err := f.verify(a, drivers.Scope{Slice: 3, Cycle: 4}); err != nil {
				t.Fatalf("verify after a new sync: %v", err)
			}
			if err := f.verify(drivers.Artifact{}, drivers.FullScope); err != nil {
				t.Fatalf("verify --full after a new sync: %v", err)
			}
			if res, err := f.drill(t); err != nil || res.Artifact != second {
				t.Fatalf("drill after the new sync: %+v %v; want snapshot %s", res, err, second)
			}
			for _, l := range f.x.Lines {
				if f.secret != "" && strings.Contains(l, f.secret) {
					t.Fatalf("a secret in a command line: %s", l)
				}
			}
		})
	}
}

// offsiteDamage is damage done to a copy of a restic repository, each of
// which its drill must find: it is what a restore from it would meet.
var offsiteDamage = []struct {
	name   string
	damage func(t *testing.T, copyDir string) string // returns the damaged file, relative
	want   string                                    // in the drill's error
}{
	{"a byte of the data pack", func(t *testing.T, dir string) string {
		return rel(t, dir, drivertest.RbFlipInLargest(t, filepath.Join(dir, "data")))
	}, "restoring"},
	{"a byte of the tree pack", func(t *testing.T, dir string) string {
		p := smallestUnder(t, filepath.Join(dir, "data"))
		os.Chmod(p, 0o600)
		fi, _ := os.Stat(p)
		drivertest.RbChangeKeepingStat(t, p, fi.Size()/2)
		return rel(t, dir, p)
	}, "restic check"},
	{"the data pack gone", func(t *testing.T, dir string) string {
		p := largestUnder(t, filepath.Join(dir, "data"))
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
		return rel(t, dir, p)
	}, "restic check"},
	{"the index gone", func(t *testing.T, dir string) string {
		if err := os.RemoveAll(filepath.Join(dir, "index")); err != nil {
			t.Fatal(err)
		}
		return ""
	}, "restic check"},
	{"the snapshots gone", func(t *testing.T, dir string) string {
		if err := os.RemoveAll(filepath.Join(dir, "snapshots")); err != nil {
			t.Fatal(err)
		}
		return ""
	}, "no snapshot"},
	{"the config gone", func(t *testing.T, dir string) string {
		if err := os.Remove(filepath.Join(dir, "config")); err != nil {
			t.Fatal(err)
		}
		return ""
	}, "restic check"},
}

// Damage in the copy fails its drill (through rclone too), while the
// repository itself is sound; damage that keeps a file's size and time
// fails the verify (on its own, as `verify` runs it) whose slice holds
// that file (the repository still holds the file as it was sent), and
// passes the one whose slice does not.
func TestOffsiteCopyDamageFailsItsDrill(t *testing.T) {
	for _, place := range []string{"local", "env"} {
		for _, d := range offsiteDamage {
			if place != "local" && d.name != "a byte of the data pack" {
				continue
			}
			t.Run(place+"/"+d.name, func(t *testing.T) {
				f := newOffsiteFixture(t, place)
				f.backup(t, "first")
				f.sync(t)
				damaged := d.damage(t, f.copyDir)
				_, err := f.drill(t)
				if err == nil || !strings.Contains(err.Error(), d.want) || !strings.Contains(err.Error(), "as a restic repository") {
					t.Fatalf("drill of a copy with %s: %v; want an error mentioning %q", d.name, err, d.want)
				}
				if _, err := (restic.Driver{}).Drill(context.Background(), f.X, f.lib); err != nil {
					t.Fatalf("the repository itself should still drill: %v", err)
				}
				if !strings.HasPrefix(d.name, "a byte") {
					return
				}
				in, out := sliceOf(damaged, 4)
				if err := f.verify(drivers.Artifact{}, in); err == nil || !strings.Contains(err.Error(), damaged) {
					t.Fatalf("verify (%s, holding %s): %v; want it named as damage", in, damaged, err)
				}
				if err := f.verify(drivers.Artifact{}, out); err != nil {
					t.Fatalf("verify (%s, without %s): %v", out, damaged, err)
				}
			})
		}
	}
}

// allEntries lists every entry below dir, directories too (a lock
// restic took and removed leaves its directory), with its size and time.
func allEntries(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		out = append(out, fmt.Sprintf("%s:%d:%d", p, fi.Size(), fi.ModTime().UnixNano()))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// differ counts the names only in a and only in b.
func differ(a, b []string) (onlyA, onlyB int) {
	in := map[string]int{}
	for _, n := range a {
		in[n] |= 1
	}
	for _, n := range b {
		in[n] |= 2
	}
	for _, v := range in {
		switch v {
		case 1:
			onlyA++
		case 2:
			onlyB++
		}
	}
	return onlyA, onlyB
}

// sliceOf is a scope of cycle whose slice holds key, and one whose does not.
func sliceOf(key string, cycle int) (in, out drivers.Scope) {
	for s := 1; s <= cycle; s++ {
		sc := drivers.Scope{Slice: s, Cycle: cycle}
		if sc.InSlice(key) {
			in = sc
		} else {
			out = sc
		}
	}
	return in, out
}

func rel(t *testing.T, dir, p string) string {
	t.Helper()
	r, err := filepath.Rel(dir, p)
	if err != nil {
		t.Fatal(err)
	}
	return filepath.ToSlash(r)
}

// largestUnder and smallestUnder find the largest and smallest file
// below dir: in a small repository, its one data pack and one tree pack.
func largestUnder(t *testing.T, dir string) string {
	return pickUnder(t, dir, func(a, b int64) bool { return a > b })
}
func smallestUnder(t *testing.T, dir string) string {
	return pickUnder(t, dir, func(a, b int64) bool { return a < b })
}

func pickUnder(t *testing.T, dir string, better func(a, b int64) bool) string {
	t.Helper()
	var best string
	var size int64
	for _, r := range drivertest.RcloneFiles(t, dir) {
		fi, err := os.Stat(filepath.Join(dir, r))
		if err == nil && (best == "" || better(fi.Size(), size)) {
			best, size = filepath.Join(dir, r), fi.Size()
		}
	}
	if best == "" {
		t.Fatalf("no file under %s", dir)
	}
	return best
}

// The repository copied offsite can be a restic copy's (copy_from): its
// snapshots are its source's, selected by the source's host and tag, and
// opened with the copy's own password.
func TestOffsiteCopyOfAResticCopysRepository(t *testing.T) {
	f := newOffsiteFixture(t, "local")
	f.backup(t, "first")
	copyRepo := filepath.Join(f.Dir, "copy-repo")
	cp := &drivers.Target{Name: "library-copy", Driver: "restic", Impl: restic.Driver{}, Verify: true, CopyFrom: f.lib,
		Settings: drivers.Values{"repository": copyRepo, "copy_from": "library",
			"password_file": drivertest.WriteFile(t, f.Dir, "copy.pass", "another password entirely\n", 0o600)},
		Env: f.lib.Env, TempDir: filepath.Join(f.Dir, "tmp-copy")}
	if err := (restic.Driver{}).Init(context.Background(), f.X, cp); err != nil {
		t.Fatal(err)
	}
	a, err := restic.Driver{}.Backup(context.Background(), f.X, cp)
	if err != nil {
		t.Fatalf("restic copy: %v", err)
	}
	f.off.Settings["source"], f.off.Holds = copyRepo, []*drivers.Target{cp}
	f.sync(t)
	res, err := f.drill(t)
	if err != nil || res.Artifact != a.ID[:8] || !strings.Contains(res.Detail, "library-copy's snapshot "+res.Artifact) {
		t.Fatalf("drill of the copy of library-copy's repository: %+v %v; want its snapshot %s", res, err, a.ID[:8])
	}
}
