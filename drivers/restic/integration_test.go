package restic_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/drivers/restic"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
	"github.com/alexandria-backup/alexandria-backup/internal/testenv/drivertest"
)

func TestResticBackupVerifySnapshots(t *testing.T) {
	f := drivertest.NewResticFixture(t)
	ctx := context.Background()
	r := restic.Driver{}
	tg := f.Target("library", drivers.Values{"exclude": []string{"authorb"}})
	for i := 0; i < 2; i++ { // init is idempotent
		if err := r.Init(ctx, f.X, tg); err != nil {
			t.Fatalf("init %d: %v", i, err)
		}
	}
	a, err := r.Backup(ctx, f.X, tg)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[0-9a-f]{8,64}$`).MatchString(a.ID) || a.Bytes <= 0 || len(a.Warnings) != 0 {
		t.Fatalf("artifact %+v", a)
	}
	if err := r.Verify(ctx, f.X, tg, a); err != nil {
		t.Fatalf("verify: %v", err)
	}
	snaps, err := r.Snapshots(ctx, f.X, tg)
	if err != nil || len(snaps) != 1 || !strings.HasPrefix(a.ID, snaps[0].ID) {
		t.Fatalf("snapshots %+v %v", snaps, err)
	}
	// The exclude worked: restic's own listing of the snapshot has no authorb.
	res, err := f.X.Run(ctx, proc.Command{Program: "restic", Args: []string{"ls", a.ID},
		Env: []proc.EnvVar{{Name: "RESTIC_REPOSITORY", Value: f.Repo}, {Name: "RESTIC_PASSWORD_FILE", Value: f.Pass}}, StdoutTail: 1 << 20})
	if err != nil || strings.Contains(string(res.Stdout), "authorb") || !strings.Contains(string(res.Stdout), "authora") {
		t.Fatalf("ls: %v\n%s", err, res.Stdout)
	}
}

// restic 0.14 backs up the paths that exist and exits 0 when one is
// missing; the driver must refuse before restic runs.
func TestResticMissingPathFailsBeforeRestic(t *testing.T) {
	f := drivertest.NewResticFixture(t)
	ctx := context.Background()
	r := restic.Driver{}
	tg := f.Target("library", drivers.Values{"paths": []string{f.Src, filepath.Join(f.Dir, "unmounted")}})
	if err := r.Init(ctx, f.X, tg); err != nil {
		t.Fatal(err)
	}
	_, err := r.Backup(ctx, f.X, tg)
	if err == nil || !strings.Contains(err.Error(), "unmounted") {
		t.Fatalf("want an error naming the missing path, got %v", err)
	}
	if snaps, _ := r.Snapshots(ctx, f.X, tg); len(snaps) != 0 {
		t.Fatalf("a snapshot was made: %+v", snaps)
	}
}

func TestResticRefusesOpenPasswordFile(t *testing.T) {
	f := drivertest.NewResticFixture(t)
	tg := f.Target("library", nil)
	os.Chmod(f.Pass, 0o644)
	_, err := restic.Driver{}.Backup(context.Background(), f.X, tg)
	if err == nil || !strings.Contains(err.Error(), "password_file") || !strings.Contains(err.Error(), "0644") {
		t.Fatalf("got %v", err)
	}
}

func TestResticInitRefusesWrongPassword(t *testing.T) {
	f := drivertest.NewResticFixture(t)
	ctx := context.Background()
	tg := f.Target("library", nil)
	if err := (restic.Driver{}).Init(ctx, f.X, tg); err != nil {
		t.Fatal(err)
	}
	wrong := drivertest.WriteFile(t, f.Dir, "wrong.pass", "not it", 0o600)
	tg.Settings["password_file"] = wrong
	err := restic.Driver{}.Init(ctx, f.X, tg)
	if err == nil || !strings.Contains(err.Error(), "wrong password") {
		t.Fatalf("init with a wrong password must fail, not re-init: %v", err)
	}
}

// Retention thins only this target's snapshots, by its own policy.
func TestResticRetentionPerTarget(t *testing.T) {
	f := drivertest.NewResticFixture(t)
	ctx := context.Background()
	r := restic.Driver{}
	lib := f.Target("library", drivers.Values{"keep_last": 2})
	other := f.Target("covers", drivers.Values{"keep_last": 1})
	if err := r.Init(ctx, f.X, lib); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Backup(ctx, f.X, other); err != nil {
		t.Fatal(err)
	}
	var last drivers.Artifact
	for i := 0; i < 3; i++ {
		drivertest.WriteFile(t, f.Src, "new"+string(rune('0'+i))+".txt", "change", 0o644)
		a, err := r.Backup(ctx, f.X, lib)
		if err != nil {
			t.Fatal(err)
		}
		last = a
	}
	dry, err := r.Prune(ctx, f.X, lib, true)
	if err != nil || len(dry.Removed) != 1 || dry.Kept != 2 {
		t.Fatalf("dry run: %+v %v", dry, err)
	}
	if snaps, _ := r.Snapshots(ctx, f.X, lib); len(snaps) != 3 {
		t.Fatalf("a dry run removed snapshots: %d left", len(snaps))
	}
	res, err := r.Prune(ctx, f.X, lib, false)
	if err != nil || len(res.Removed) != 1 || !res.Policy {
		t.Fatalf("prune: %+v %v", res, err)
	}
	snaps, _ := r.Snapshots(ctx, f.X, lib)
	if len(snaps) != 2 || !strings.HasPrefix(last.ID, snaps[0].ID) {
		t.Fatalf("after prune: %+v (newest %s must stay)", snaps, last.ID)
	}
	if o, _ := r.Snapshots(ctx, f.X, other); len(o) != 1 {
		t.Fatalf("pruning library touched covers: %+v", o)
	}
}

// Retention keeps the snapshots of the recovery points it is told to keep
// whole (the newest one recover could use), whatever its policy says, and
// only those: keep_last = 1 over three runs keeps the newest and the kept
// point's, and forgets the other.
func TestResticRetentionKeepsTheRecoverablePoint(t *testing.T) {
	f := drivertest.NewResticFixture(t)
	ctx := context.Background()
	r := restic.Driver{}
	lib := f.Target("library", drivers.Values{"keep_last": 1})
	if err := r.Init(ctx, f.X, lib); err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(-time.Hour)
	var ids []string
	for i := range 3 {
		lib.Point = drivers.NewPoint(at.Add(time.Duration(i) * time.Minute))
		ids = append(ids, lib.Point)
		drivertest.WriteFile(t, f.Src, fmt.Sprintf("new%d.txt", i), "change", 0o644)
		if _, err := r.Backup(ctx, f.X, lib); err != nil {
			t.Fatal(err)
		}
	}
	lib.KeepPoints = []string{ids[0]}
	res, err := r.Prune(ctx, f.X, lib, false)
	if err != nil || len(res.Removed) != 1 {
		t.Fatalf("prune: %+v %v; want one snapshot removed", res, err)
	}
	snaps, err := r.Snapshots(ctx, f.X, lib)
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	for _, s := range snaps {
		kept = append(kept, s.Point)
	}
	slices.Sort(kept)
	if want := []string{ids[0], ids[2]}; !slices.Equal(kept, want) {
		t.Errorf("kept the snapshots of points %v, want %v (the kept point's and the newest)", kept, want)
	}
}
