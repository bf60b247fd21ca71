package drivertest

import (
	"context"
	"math/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/drivers/restic"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
	"github.com/alexandria-backup/alexandria-backup/internal/testenv/restictest"
)

func ResticUnitTarget(t *testing.T) *drivers.Target {
	dir := t.TempDir()
	return &drivers.Target{Name: "library", Driver: "restic", Impl: restic.Driver{}, Settings: drivers.Values{"repository": dir,
		"password_file": WriteFile(t, dir, "p", "x", 0o600), "paths": []string{dir}, "host": "h"}}
}

type ResticFixture struct {
	Dir, Src, Repo, Pass string
	X                    proc.Executor
}

func NewResticFixture(t *testing.T) *ResticFixture {
	RequireTool(t, "restic")
	dir := t.TempDir()
	f := &ResticFixture{Dir: dir, Src: filepath.Join(dir, "library"), Repo: filepath.Join(dir, "repo"), X: proc.ProcessExecutor{}}
	f.Pass = WriteFile(t, dir, "restic.pass", "correct horse battery staple\n", 0o600)
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 20; i++ {
		b := make([]byte, 20000+rng.Intn(40000))
		rng.Read(b)
		WriteFile(t, f.Src, filepath.Join("books", "author"+string(rune('a'+i%5)), "book"+string(rune('a'+i))+".epub"), string(b), 0o644)
	}
	// restic keeps its cache under $HOME; keep it in the test's dir.
	t.Setenv("RESTIC_CACHE_DIR", filepath.Join(dir, "cache"))
	return f
}

func (f *ResticFixture) Target(name string, settings drivers.Values) *drivers.Target {
	v := drivers.Values{"repository": f.Repo, "password_file": f.Pass, "paths": []string{f.Src}, "host": "test-host"}
	for k, x := range settings {
		v[k] = x
	}
	return &drivers.Target{Name: name, Driver: "restic", Impl: restic.Driver{}, Verify: true, Settings: v, TempDir: f.Dir}
}

// LockFiles lists the lock ids in the fixture's (local) repository.
func (f *ResticFixture) LockFiles(t *testing.T) []string { return restictest.LockFiles(t, f.Repo) }

// PlantLock leaves the lock of a restic killed while holding it (of
// another host, when host is set), and returns its id and pid.
func (f *ResticFixture) PlantLock(t *testing.T, host string) (string, int) {
	return restictest.PlantLock(t, f.Repo, f.Pass, host)
}

func (f *ResticFixture) RestoreTarget(t *testing.T, name string, settings drivers.Values) *drivers.Target {
	tg := f.Target(name, settings)
	tg.Env = map[string]string{"RESTIC_CACHE_DIR": filepath.Join(f.Dir, "cache")}
	tg.TempDir = filepath.Join(f.Dir, "tmp-"+name)
	if err := os.MkdirAll(tg.TempDir, 0o700); err != nil {
		t.Fatal(err)
	}
	return tg
}

func (f *ResticFixture) Backup(t *testing.T, tg *drivers.Target) drivers.Artifact {
	t.Helper()
	r := restic.Driver{}
	if err := r.Init(context.Background(), f.X, tg); err != nil {
		t.Fatal(err)
	}
	a, err := r.Backup(context.Background(), f.X, tg)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
