package pgdump

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/drivers/borg"
	"github.com/alexandria-backup/alexandria-backup/drivers/restic"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
)

// fakeRun answers each command by its first argument; it cannot run
// pipelines.
type fakeRun map[string]string

func (f fakeRun) Run(_ context.Context, c proc.Command) (proc.Result, error) {
	out, ok := f[c.Args[0]]
	if !ok {
		return proc.Result{Command: c.String()}, errors.New("unexpected command: " + c.String())
	}
	return proc.Result{Command: c.String(), Stdout: []byte(out)}, nil
}

func streamTargets(driver string) *drivers.Target {
	impl := map[string]drivers.Driver{"restic": restic.Driver{}, "borg": borg.Driver{}}[driver]
	into := &drivers.Target{Name: "library", Driver: driver, Impl: impl, Settings: drivers.Values{"repository": "/srv/repo", "host": "h"}}
	return &drivers.Target{Name: "db", Driver: "pg_dump", Impl: Driver{}, Settings: drivers.Values{"database": "alexandria", "into": "library"}, Into: into}
}

func TestStreamValidate(t *testing.T) {
	for _, tc := range []struct {
		name     string
		settings drivers.Values
		key      string // "" = valid
	}{
		{"custom by default", drivers.Values{}, ""},
		{"custom", drivers.Values{"format": "custom", "compress": 4}, ""},
		{"sql", drivers.Values{"format": "sql"}, "format"},
		{"directory", drivers.Values{"format": "directory"}, "format"},
		{"tar", drivers.Values{"format": "tar"}, "format"},
		{"and dir", drivers.Values{"dir": "/var/backups"}, "dir"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tg := streamTargets("restic")
			for k, v := range tc.settings {
				tg.Settings[k] = v
			}
			err := Driver{}.Validate(tg)
			var se *drivers.SettingsError
			switch {
			case tc.key == "" && err != nil:
				t.Fatalf("want valid, got %v", err)
			case tc.key != "" && (!errors.As(err, &se) || se.Key != tc.key):
				t.Fatalf("want an error about %s, got %v", tc.key, err)
			}
		})
	}
}

// Dumps and their manifest snapshots are told apart by path and paired by
// tag; other snapshots with the tag are ignored; newest first.
func TestStreamResticList(t *testing.T) {
	tg := streamTargets("restic")
	x := fakeRun{"snapshots": `[
		{"time":"2026-11-25T02:00:00Z","id":"aaaaaaaa11","short_id":"aaaaaaaa","paths":["/db.dump"],"tags":["alexandria:db"]},
		{"time":"2026-11-25T02:00:00Z","id":"bbbbbbbb11","short_id":"bbbbbbbb","paths":["/db.manifest.json"],"tags":["alexandria:db","alexandria-manifest:aaaaaaaa"]},
		{"time":"2026-11-26T02:00:00Z","id":"cccccccc11","short_id":"cccccccc","paths":["/db.dump"],"tags":["alexandria:db"]},
		{"time":"2026-11-26T03:00:00Z","id":"dddddddd11","short_id":"dddddddd","paths":["/other"],"tags":["alexandria:db"]}]`}
	dumps, err := restic.Driver{}.DumpStore().List(context.Background(), x, tg)
	if err != nil {
		t.Fatal(err)
	}
	if len(dumps) != 2 || dumps[0].ID != "cccccccc" || dumps[0].Manifest != "" || dumps[1].ID != "aaaaaaaa" || dumps[1].Manifest != "bbbbbbbb" {
		t.Fatalf("dumps %+v", dumps)
	}
	for from, want := range map[string]string{"": "cccccccc", "aaaa": "aaaaaaaa", "cccccccc": "cccccccc", "cccccccc11": "cccccccc"} {
		d, err := streamFind(context.Background(), x, tg, from)
		if err != nil || d.ID != want {
			t.Errorf("find %q: %+v %v", from, d, err)
		}
	}
	if _, err := streamFind(context.Background(), x, tg, "bbbbbbbb"); err == nil {
		t.Error("a manifest snapshot was found as a dump")
	}
	// Without its manifest a dump cannot be verified.
	if _, err := (restic.Driver{}).DumpStore().ReadManifest(context.Background(), x, tg, dumps[0]); err == nil || !strings.Contains(err.Error(), "no manifest") {
		t.Errorf("manifest of a dump without one: %v", err)
	}
}

// Retention reports only the dumps: their manifests go with them.
func TestStreamResticPruneCountsDumps(t *testing.T) {
	tg := streamTargets("restic")
	tg.Settings["keep_last"] = 1
	x := fakeRun{"forget": `[{"paths":["/db.dump"],"keep":[{"short_id":"cccccccc"}],"remove":[{"short_id":"aaaaaaaa"}]},` +
		`{"paths":["/db.manifest.json"],"keep":[{"short_id":"dddddddd"}],"remove":[{"short_id":"bbbbbbbb"}]}]`}
	res, err := Driver{}.Prune(context.Background(), x, tg, true)
	if err != nil || !res.Policy || res.Kept != 1 || strings.Join(res.Removed, ",") != "aaaaaaaa" {
		t.Fatalf("%+v %v", res, err)
	}
	// No retention keys: nothing runs.
	delete(tg.Settings, "keep_last")
	if res, err := (Driver{}).Prune(context.Background(), fakeRun{}, tg, false); err != nil || res.Policy {
		t.Fatalf("%+v %v", res, err)
	}
}

// An executor that cannot run pipelines gets a clear error, before
// anything connects or runs.
func TestStreamNeedsPiper(t *testing.T) {
	_, err := Driver{}.Backup(context.Background(), fakeRun{}, streamTargets("borg"))
	if err == nil || !strings.Contains(err.Error(), "pipelines") {
		t.Fatalf("got %v", err)
	}
}
