package drivers_test

import (
	"context"
	"math/rand"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/alexandria-backup/alexandria-backup/drivers"
)

type resticFixture struct {
	dir, src, repo, pass string
	x                    drivers.Executor
}

func newResticFixture(t *testing.T) *resticFixture {
	requireTool(t, "restic")
	dir := t.TempDir()
	f := &resticFixture{dir: dir, src: filepath.Join(dir, "library"), repo: filepath.Join(dir, "repo"), x: drivers.ProcessExecutor{}}
	f.pass = writeFile(t, dir, "restic.pass", "correct horse battery staple\n", 0o600)
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 20; i++ {
		b := make([]byte, 20000+rng.Intn(40000))
		rng.Read(b)
		writeFile(t, f.src, filepath.Join("books", "author"+string(rune('a'+i%5)), "book"+string(rune('a'+i))+".epub"), string(b), 0o644)
	}
	// restic keeps its cache under $HOME; keep it in the test's dir.
	t.Setenv("RESTIC_CACHE_DIR", filepath.Join(dir, "cache"))
	return f
}

func (f *resticFixture) target(name string, settings drivers.Values) *drivers.Target {
	v := drivers.Values{"repository": f.repo, "password_file": f.pass, "paths": []string{f.src}, "host": "test-host"}
	for k, x := range settings {
		v[k] = x
	}
	return &drivers.Target{Name: name, Driver: "restic", Impl: drivers.Restic{}, Verify: true, Settings: v, TempDir: f.dir}
}

func TestResticBackupVerifySnapshots(t *testing.T) {
	f := newResticFixture(t)
	ctx := context.Background()
	r := drivers.Restic{}
	tg := f.target("library", drivers.Values{"exclude": []string{"authorb"}})
	for i := 0; i < 2; i++ { // init is idempotent
		if err := r.Init(ctx, f.x, tg); err != nil {
			t.Fatalf("init %d: %v", i, err)
		}
	}
	a, err := r.Backup(ctx, f.x, tg)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[0-9a-f]{8,64}$`).MatchString(a.ID) || a.Bytes <= 0 || len(a.Warnings) != 0 {
		t.Fatalf("artifact %+v", a)
	}
	if err := r.Verify(ctx, f.x, tg, a); err != nil {
		t.Fatalf("verify: %v", err)
	}
	snaps, err := r.Snapshots(ctx, f.x, tg)
	if err != nil || len(snaps) != 1 || !strings.HasPrefix(a.ID, snaps[0].ID) {
		t.Fatalf("snapshots %+v %v", snaps, err)
	}
	// The exclude worked: restic's own listing of the snapshot has no authorb.
	res, err := f.x.Run(ctx, drivers.Command{Program: "restic", Args: []string{"ls", a.ID},
		Env: []drivers.EnvVar{{Name: "RESTIC_REPOSITORY", Value: f.repo}, {Name: "RESTIC_PASSWORD_FILE", Value: f.pass}}, StdoutTail: 1 << 20})
	if err != nil || strings.Contains(string(res.Stdout), "authorb") || !strings.Contains(string(res.Stdout), "authora") {
		t.Fatalf("ls: %v\n%s", err, res.Stdout)
	}
}

// restic 0.14 backs up the paths that exist and exits 0 when one is
// missing; the driver must refuse before restic runs.
func TestResticMissingPathFailsBeforeRestic(t *testing.T) {
	f := newResticFixture(t)
	ctx := context.Background()
	r := drivers.Restic{}
	tg := f.target("library", drivers.Values{"paths": []string{f.src, filepath.Join(f.dir, "unmounted")}})
	if err := r.Init(ctx, f.x, tg); err != nil {
		t.Fatal(err)
	}
	_, err := r.Backup(ctx, f.x, tg)
	if err == nil || !strings.Contains(err.Error(), "unmounted") {
		t.Fatalf("want an error naming the missing path, got %v", err)
	}
	if snaps, _ := r.Snapshots(ctx, f.x, tg); len(snaps) != 0 {
		t.Fatalf("a snapshot was made: %+v", snaps)
	}
}

func TestResticRefusesOpenPasswordFile(t *testing.T) {
	f := newResticFixture(t)
	tg := f.target("library", nil)
	os.Chmod(f.pass, 0o644)
	_, err := drivers.Restic{}.Backup(context.Background(), f.x, tg)
	if err == nil || !strings.Contains(err.Error(), "password_file") || !strings.Contains(err.Error(), "0644") {
		t.Fatalf("got %v", err)
	}
}

func TestResticInitRefusesWrongPassword(t *testing.T) {
	f := newResticFixture(t)
	ctx := context.Background()
	tg := f.target("library", nil)
	if err := (drivers.Restic{}).Init(ctx, f.x, tg); err != nil {
		t.Fatal(err)
	}
	wrong := writeFile(t, f.dir, "wrong.pass", "not it", 0o600)
	tg.Settings["password_file"] = wrong
	err := drivers.Restic{}.Init(ctx, f.x, tg)
	if err == nil || !strings.Contains(err.Error(), "wrong password") {
		t.Fatalf("init with a wrong password must fail, not re-init: %v", err)
	}
}

// A damaged pack passes a structure-only check but fails once the check
// reads the data: check_read_data_subset is what catches it.
func TestResticVerifyCatchesDamagedPack(t *testing.T) {
	f := newResticFixture(t)
	ctx := context.Background()
	r := drivers.Restic{}
	tg := f.target("library", nil)
	if err := r.Init(ctx, f.x, tg); err != nil {
		t.Fatal(err)
	}
	a, err := r.Backup(ctx, f.x, tg)
	if err != nil {
		t.Fatal(err)
	}
	packs, _ := filepath.Glob(filepath.Join(f.repo, "data", "*", "*"))
	var biggest string
	var size int64
	for _, p := range packs {
		if fi, _ := os.Stat(p); fi.Size() > size {
			biggest, size = p, fi.Size()
		}
	}
	if biggest == "" {
		t.Fatal("no pack files")
	}
	os.Chmod(biggest, 0o600)
	fh, err := os.OpenFile(biggest, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	fh.WriteAt([]byte("CORRUPTION!"), size/2)
	fh.Close()

	if err := r.Verify(ctx, f.x, tg, a); err != nil {
		t.Logf("note: even the structure check noticed: %v", err)
	}
	tg.Settings["check_read_data_subset"] = "100%"
	err = r.Verify(ctx, f.x, tg, a)
	if err == nil {
		t.Fatal("verify with check_read_data_subset = 100% passed a damaged pack")
	}
	t.Logf("verify failed as it must: %v", err)
}

// Retention thins only this target's snapshots, by its own policy.
func TestResticRetentionPerTarget(t *testing.T) {
	f := newResticFixture(t)
	ctx := context.Background()
	r := drivers.Restic{}
	lib := f.target("library", drivers.Values{"keep_last": 2})
	other := f.target("covers", drivers.Values{"keep_last": 1})
	if err := r.Init(ctx, f.x, lib); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Backup(ctx, f.x, other); err != nil {
		t.Fatal(err)
	}
	var last drivers.Artifact
	for i := 0; i < 3; i++ {
		writeFile(t, f.src, "new"+string(rune('0'+i))+".txt", "change", 0o644)
		a, err := r.Backup(ctx, f.x, lib)
		if err != nil {
			t.Fatal(err)
		}
		last = a
	}
	dry, err := r.Prune(ctx, f.x, lib, true)
	if err != nil || len(dry.Removed) != 1 || dry.Kept != 2 {
		t.Fatalf("dry run: %+v %v", dry, err)
	}
	if snaps, _ := r.Snapshots(ctx, f.x, lib); len(snaps) != 3 {
		t.Fatalf("a dry run removed snapshots: %d left", len(snaps))
	}
	res, err := r.Prune(ctx, f.x, lib, false)
	if err != nil || len(res.Removed) != 1 || !res.Policy {
		t.Fatalf("prune: %+v %v", res, err)
	}
	snaps, _ := r.Snapshots(ctx, f.x, lib)
	if len(snaps) != 2 || !strings.HasPrefix(last.ID, snaps[0].ID) {
		t.Fatalf("after prune: %+v (newest %s must stay)", snaps, last.ID)
	}
	if o, _ := r.Snapshots(ctx, f.x, other); len(o) != 1 {
		t.Fatalf("pruning library touched covers: %+v", o)
	}
}
