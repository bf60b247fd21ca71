package restic_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/drivers/restic"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
	"github.com/alexandria-backup/alexandria-backup/internal/testenv/drivertest"
	"github.com/alexandria-backup/alexandria-backup/internal/testenv/rclonetest"
)

// The restic driver against a real remote: a REST repository served by
// `rclone serve restic` on loopback, with HTTP basic authentication whose
// password is part of the repository URL, kept in repository_file (a plan's
// repository refuses it). Everything works through it, and that password
// appears in no command line the driver shows or runs.
func TestResticRemoteREST(t *testing.T) {
	f := drivertest.NewResticFixture(t)
	drivertest.RequireTool(t, "rclone")
	ctx := context.Background()
	r := restic.Driver{}
	srv := rclonetest.ServeRestic(t, filepath.Join(f.Dir, "served"))
	x := &drivertest.RcloneCmdLog{}
	repoFile := drivertest.WriteFile(t, f.Dir, "restic.repository", srv.ResticURL()+"\n", 0o600)
	tg := f.Target("library", drivers.Values{"repository_file": repoFile})
	delete(tg.Settings, "repository")
	if err := r.Validate(tg); err != nil {
		t.Fatal(err)
	}

	for i := 0; i < 2; i++ { // init is idempotent over REST too
		if err := r.Init(ctx, x, tg); err != nil {
			t.Fatalf("init %d: %v", i, err)
		}
	}
	if _, err := os.Stat(filepath.Join(srv.Dir, "config")); err != nil {
		t.Fatalf("no repository on the server: %v", err)
	}
	a, err := r.Backup(ctx, x, tg)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Verify(ctx, x, tg, a); err != nil {
		t.Fatalf("verify: %v", err)
	}
	snaps, err := r.Snapshots(ctx, x, tg)
	if err != nil || len(snaps) != 1 || !strings.HasPrefix(a.ID, snaps[0].ID) {
		t.Fatalf("snapshots %+v %v", snaps, err)
	}

	// The password is in the URL, and the URL goes to restic as
	// RESTIC_REPOSITORY: never in argv, masked wherever shown.
	var shown []string
	for _, s := range r.Steps(tg) {
		shown = append(shown, s.String())
	}
	shown = append(shown, x.Lines...)
	for _, l := range append(shown, x.Argv...) {
		if strings.Contains(l, srv.Pass) {
			t.Errorf("the repository password shows in %s", l)
		}
	}
	if len(x.Lines) != 9 { // cat config, init, cat config, list locks, list packs, backup, list packs, check --read-data, snapshots
		t.Errorf("ran %d commands: %v", len(x.Lines), x.Lines)
	}
	for _, l := range x.Lines {
		if !strings.Contains(l, "RESTIC_REPOSITORY_FILE="+repoFile) || strings.Contains(l, "RESTIC_REPOSITORY=") {
			t.Errorf("the repository does not come from its file: %s", l)
		}
	}

	// The server holds the data: damage a pack there, and verify, which
	// reads all of it, fails over the network too.
	packs, _ := filepath.Glob(filepath.Join(srv.Dir, "data", "*", "*"))
	if len(packs) == 0 {
		t.Fatal("no pack files on the server")
	}
	drivertest.RcloneFlipByte(t, packs[0])
	err = r.Verify(ctx, x, tg, a)
	if err == nil {
		t.Fatal("restic check --read-data over REST passed a damaged pack")
	}
	if strings.Contains(err.Error(), srv.Pass) {
		t.Errorf("the password shows in the error: %v", err)
	}
	t.Logf("verify failed as it must: %v", err)
}

// Wrong credentials are an error, not a missing repository to create.
func TestResticRemoteRESTWrongPassword(t *testing.T) {
	f := drivertest.NewResticFixture(t)
	drivertest.RequireTool(t, "rclone")
	ctx := context.Background()
	srv := rclonetest.ServeRestic(t, filepath.Join(f.Dir, "served"))
	good := f.Target("library", drivers.Values{"repository": srv.ResticURL()})
	if err := (restic.Driver{}).Init(ctx, proc.ProcessExecutor{}, good); err != nil {
		t.Fatal(err)
	}
	bad := f.Target("library", drivers.Values{"repository": strings.Replace(srv.ResticURL(), ":"+srv.Pass+"@", ":wrong@", 1)})
	_, err := restic.Driver{}.Backup(ctx, proc.ProcessExecutor{}, bad)
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("a backup with a wrong HTTP password must fail with 401: %v", err)
	}
	if strings.Contains(err.Error(), "wrong@") {
		t.Errorf("the URL's password shows in the error: %v", err)
	}
	// init must report the refused login, not take it for a missing
	// repository and try to create one.
	var ran []string
	x := proc.ProcessExecutor{Log: func(c string) { ran = append(ran, c) }}
	if err := (restic.Driver{}).Init(ctx, x, bad); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("init with a wrong HTTP password: %v", err)
	}
	for _, c := range ran {
		if strings.HasSuffix(c, "restic init") {
			t.Fatalf("init tried to create a repository after a refused login: %s", c)
		}
	}
}
