package rclone_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/drivers/rclone"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
	"github.com/alexandria-backup/alexandria-backup/internal/testenv/drivertest"
)

// rcloneFake answers each rclone subcommand (sync, check, ...) with a
// canned result, classified by the command's own Codes as the real
// executor does, and records every command it was given. A command that
// reads its progress is handed its stderr a line at a time, as the real
// executor does.
type rcloneFake struct {
	// results by subcommand; "SUB PLACE" (its last argument) first. A
	// sync or copy without a result finds one file unchanged.
	results map[string]proc.Result
	// reports are what a check writes to its --combined file, by the
	// file's name ("sizes", "hashed"); none: an empty report.
	reports map[string]string
	// lists are the files named in each --files-from-raw file, as rclone
	// found it (by the file's name), and its mode.
	lists     map[string][]string
	listModes map[string]os.FileMode
	ran       []proc.Command
}

func (f *rcloneFake) Run(_ context.Context, c proc.Command) (proc.Result, error) {
	f.ran = append(f.ran, c)
	r, ok := f.results[c.Args[0]+" "+c.Args[len(c.Args)-1]]
	if !ok {
		r, ok = f.results[c.Args[0]]
	}
	if (c.Args[0] == "sync" || c.Args[0] == "copy") && !ok {
		r = proc.Result{Stderr: []byte(rcloneUnchangedLine)}
	}
	if c.Progress != nil {
		for _, l := range strings.Split(string(r.Stderr), "\n") {
			if l != "" {
				c.Progress.Parse([]byte(l))
			}
		}
	}
	for _, a := range c.Args {
		if path, ok := strings.CutPrefix(a, "--combined="); ok && path != "-" {
			if err := os.WriteFile(path, []byte(f.reports[filepath.Base(path)]), 0o600); err != nil {
				return proc.Result{}, err
			}
		}
		if path, ok := strings.CutPrefix(a, "--files-from-raw="); ok {
			b, err := os.ReadFile(path)
			fi, serr := os.Stat(path)
			if err != nil || serr != nil {
				return proc.Result{}, fmt.Errorf("the list %s: %v %v", path, err, serr)
			}
			if f.lists == nil {
				f.lists, f.listModes = map[string][]string{}, map[string]os.FileMode{}
			}
			f.lists[filepath.Base(path)] = strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
			f.listModes[filepath.Base(path)] = fi.Mode().Perm()
		}
	}
	if slices.Contains(c.Args, "--combined=-") {
		// The mirror guard's listing: by default one book, on both sides.
		r = proc.Result{Stdout: []byte("= books/a.epub\n")}
		if g, ok := f.results["guard"]; ok {
			r = g
		}
		if c.Stdout != nil { // as the real executor: the output goes there
			c.Stdout.Write(r.Stdout)
			r.Stdout = nil
		}
	}
	r.Command = c.String()
	r.Class = c.Codes.Classify(r.ExitCode)
	if r.Class == proc.ClassError {
		return r, &proc.ToolError{Result: r}
	}
	return r, nil
}

func (f *rcloneFake) subcommands() []string {
	var out []string
	for _, c := range f.ran {
		if rcloneMarkerCommand(c) {
			continue // the recovery-point marker's: marker_test.go
		}
		if slices.Contains(c.Args, "--combined=-") {
			out = append(out, "guard")
			continue
		}
		out = append(out, c.Args[0])
	}
	return out
}

// rcloneTarget is a local→local target whose source has one file.
func rcloneTarget(t *testing.T, settings drivers.Values) *drivers.Target {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(dir, "library")
	drivertest.WriteFile(t, src, "books/a.epub", "a book", 0o644)
	v := drivers.Values{"source": src, "destination": filepath.Join(dir, "mirror")}
	for k, x := range settings {
		v[k] = x
	}
	return &drivers.Target{Name: "offsite", Driver: "rclone", Impl: rclone.Driver{}, Verify: true, Settings: v, TempDir: dir}
}

func rcloneResults() map[string]proc.Result { return map[string]proc.Result{} }

// Lines of rclone 1.60's sync log (-vv): a file found unchanged, a file
// copied.
const (
	rcloneUnchangedLine = "DEBUG : books/a.epub: Unchanged skipping\n"
	rcloneCopiedLine    = "INFO  : books/a.epub: Copied (new)\n"
)

func TestRcloneValidate(t *testing.T) {
	cases := []struct {
		name     string
		settings drivers.Values
		key      string // the key the error names; "" = valid
	}{
		{"local to remote", drivers.Values{"source": "/srv/a", "destination": "b2:bucket"}, ""},
		{"remote to local", drivers.Values{"source": "nas:library", "destination": "/mnt/usb"}, ""},
		{"local path with a colon", drivers.Values{"source": "/srv/a:b", "destination": "b2:bucket"}, ""},
		{"on-the-fly remote", drivers.Values{"source": "/srv/a", "destination": ":local:/mnt/usb"}, ""},
		{"relative source", drivers.Values{"source": "library", "destination": "b2:bucket"}, "source"},
		{"relative destination", drivers.Values{"source": "/srv/a", "destination": "./mirror"}, "destination"},
		{"option-like source", drivers.Values{"source": "--config=/tmp/x", "destination": "b2:bucket"}, "source"},
		{"credentials in a connection string", drivers.Values{"source": "/srv/a", "destination": "b2,account=id,key=s3cret:bucket"}, "destination"},
		{"credentials in an on-the-fly remote", drivers.Values{"source": ":sftp,host=h,pass=s3cret:dir", "destination": "/mnt/usb"}, "source"},
		{"comma in the path is fine", drivers.Values{"source": "/srv/a", "destination": "b2:bucket,2026"}, ""},
		{"destination inside source", drivers.Values{"source": "/srv/a", "destination": "/srv/a/mirror"}, "destination"},
		{"source inside destination", drivers.Values{"source": "/srv/a/b", "destination": "/srv/a"}, "destination"},
		{"same local path", drivers.Values{"source": "/srv/a/", "destination": "/srv/a"}, "destination"},
		{"same remote", drivers.Values{"source": "b2:x", "destination": "b2:x"}, "destination"},
		{"siblings", drivers.Values{"source": "/srv/a", "destination": "/srv/ab"}, ""},
		{"max_delete with sync", drivers.Values{"source": "/srv/a", "destination": "b2:x", "max_delete": 10}, ""},
		{"max_delete with copy", drivers.Values{"source": "/srv/a", "destination": "b2:x", "mode": "copy", "max_delete": 10}, "max_delete"},
		{"both password sources", drivers.Values{"source": "/srv/a", "destination": "b2:x", "config_password_file": "/p", "config_password_command": "pass x"}, "config_password_file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := rclone.Driver{}.Validate(&drivers.Target{Name: "offsite", Settings: c.settings})
			switch {
			case c.key == "" && err != nil:
				t.Fatalf("want valid, got %v", err)
			case c.key != "":
				se, ok := err.(*drivers.SettingsError)
				if !ok || se.Key != c.key {
					t.Fatalf("want an error about %s, got %v", c.key, err)
				}
				if strings.Contains(err.Error(), "s3cret") {
					t.Fatalf("error shows a secret: %v", err)
				}
			}
		})
	}
}

func rcloneOption(name string) drivers.Option {
	for _, o := range (rclone.Driver{}).Options() {
		if o.Name == name {
			return o
		}
	}
	panic("no option " + name)
}

// The accepted forms are checked against the real rclone in
// TestRcloneBwlimitAgreesWithRclone.
var rcloneBwlimits = []struct {
	value string
	ok    bool
}{
	{"10M", true}, {"1.5M", true}, {"512", true}, {"10Mi", true}, {"10KiB", true}, {"off", true},
	{"10M:1M", true}, {"off:10M", true},
	{"08:00,512k 19:00,off", true}, {"Mon-08:00,512k Sun-20:00,10M:off", true},
	{"", false}, {"10MB", false}, {"10M|5M", false}, {"8:00,1M", false}, {"fast", false}, {"10M; rm -rf /", false},
}

func TestRcloneBwlimitOption(t *testing.T) {
	o := rcloneOption("bwlimit")
	for _, c := range rcloneBwlimits {
		_, err := o.Convert(c.value)
		if (err == nil) != c.ok {
			t.Errorf("bwlimit %q: ok=%v, got %v", c.value, c.ok, err)
		}
	}
}

// copy never deletes, so an empty source is not an emergency.
func TestRcloneCopyOfEmptySourceRuns(t *testing.T) {
	tg := rcloneTarget(t, drivers.Values{"mode": "copy"})
	os.Remove(filepath.Join(tg.Settings.Str("source"), "books", "a.epub"))
	f := &rcloneFake{results: rcloneResults()}
	if _, err := (rclone.Driver{}).Backup(context.Background(), f, tg); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(f.subcommands(), " "); got != "copy" {
		t.Fatalf("ran %q", got)
	}
}

// Before a sync the mirror guard (its class table runs on the real tool
// in mirrorguard_integration_test.go) lists both sides (here: a remote
// source, which no record clears); the one sync runs only when the
// listing says it may, and never when the listing cannot be had or read.
func TestRcloneGuardReadsTheListing(t *testing.T) {
	differ := "Failed to check with 2 errors: last error was: 2 differences found\n"
	for _, c := range []struct {
		name    string
		guard   proc.Result
		wantRun string
		wantErr string
	}{
		{"no files in the source", proc.Result{ExitCode: 1, Stdout: []byte("- a\n- b\n"), Stderr: []byte(differ)}, "guard", "has 0 files"},
		{"most would go", proc.Result{ExitCode: 1, Stdout: []byte("- a\n- b\n= c\n"), Stderr: []byte(differ)}, "guard", "would delete 2 of the 3 files"},
		{"nothing on either side", proc.Result{}, "guard", "has none either"},
		{"a new mirror", proc.Result{ExitCode: 1, Stdout: []byte("+ a\n+ b\n"), Stderr: []byte(differ)}, "guard sync", ""},
		{"replaced by other files of the same number", proc.Result{ExitCode: 1, Stdout: []byte("- a\n- b\n+ c\n+ d\n"), Stderr: []byte(differ)}, "guard", "would delete 2 of the 2 files"},
		{"a few changes", proc.Result{ExitCode: 1, Stdout: []byte("- a\n* b\n= c\n+ d\n"), Stderr: []byte(differ)}, "guard sync", ""},
		{"unreadable files", proc.Result{ExitCode: 1, Stdout: []byte("! a\n= c\n"), Stderr: []byte(differ)}, "guard", "1 file could not be read"},
		{"exit 1 for another reason", proc.Result{ExitCode: 1, Stderr: []byte("Failed to check: couldn't connect\n")}, "guard", "couldn't connect"},
		{"source not found", proc.Result{ExitCode: 3, Stderr: []byte("Failed to check: directory not found\n")}, "guard", "directory not found"},
		{"a line it cannot read", proc.Result{Stdout: []byte("= a\n?? b\n")}, "guard", "cannot read"},
	} {
		t.Run(c.name, func(t *testing.T) {
			tg := rcloneTarget(t, drivers.Values{"source": "nas:library", "max_delete": 50})
			tg.KeepDir = filepath.Join(tg.TempDir, "keep")
			f := &rcloneFake{results: rcloneResults()}
			f.results["guard"] = c.guard
			_, err := rclone.Driver{}.Backup(context.Background(), f, tg)
			if got := strings.Join(f.subcommands(), " "); got != c.wantRun {
				t.Errorf("ran %q, want %q", got, c.wantRun)
			}
			if (c.wantErr == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("err %v, want %q", err, c.wantErr)
			}
			// The one sync is the sync as the plan says: max_delete its
			// only limit, logging every file (-vv) for the record.
			for _, cmd := range f.ran {
				if cmd.Args[0] == "sync" && (!slices.Contains(cmd.Args, "--max-delete=50") || !slices.Contains(cmd.Args, "-vv") ||
					slices.ContainsFunc(cmd.Args, func(a string) bool { return a == "--immutable" || a == "--max-delete=0" || a == "--retries=1" })) {
					t.Errorf("the sync: %s", cmd)
				}
			}
		})
	}
}

func TestRcloneBackupArtifact(t *testing.T) {
	tg := rcloneTarget(t, nil)
	f := &rcloneFake{results: rcloneResults()}
	f.results["sync"] = proc.Result{Stderr: []byte(rcloneCopiedLine + "DEBUG : b: Unchanged skipping\n")}
	a, err := rclone.Driver{}.Backup(context.Background(), f, tg)
	// The mirror's size is not known without listing it again: unknown.
	if err != nil || a.ID != tg.Settings.Str("destination") || a.Bytes != -1 || a.Verified || !slices.Equal(rclone.SentPaths(t, tg, a), []string{"books/a.epub"}) {
		t.Fatalf("artifact %+v err %v", a, err)
	}
}

// rclone 1.60 exits 7 (fatal) when --max-delete is reached; every non-zero
// exit is a failure unless the plan's exit_codes say otherwise.
func TestRcloneExitCodes(t *testing.T) {
	stderr := []byte("ERROR : Got fatal error on delete: --max-delete threshold reached\nFailed to sync with 5 errors: last error was: failed to delete 4 files\n")
	for _, c := range []struct {
		code     int
		override proc.ExitCodes
		wantErr  bool
		warnings int
	}{
		{7, proc.ExitCodes{}, true, 0},
		{1, proc.ExitCodes{}, true, 0},
		{3, proc.ExitCodes{}, true, 0},
		{9, proc.ExitCodes{}, true, 0},
		{9, proc.ExitCodes{Warning: []int{9}}, false, 1},
		{0, proc.ExitCodes{Error: []int{0}}, true, 0},
	} {
		tg := rcloneTarget(t, drivers.Values{"max_delete": 3})
		tg.ExitCodes = c.override
		results := rcloneResults()
		results["sync"] = proc.Result{ExitCode: c.code, Stderr: stderr}
		a, err := rclone.Driver{}.Backup(context.Background(), &rcloneFake{results: results}, tg)
		if (err != nil) != c.wantErr || len(a.Warnings) != c.warnings {
			t.Errorf("exit %d with %v: artifact %+v err %v", c.code, c.override, a, err)
		}
		if c.code == 7 && (err == nil || !strings.Contains(err.Error(), "--max-delete threshold reached")) {
			t.Errorf("exit 7 must show rclone's reason: %v", err)
		}
	}
}

// The config password is read from its file and reaches rclone only as
// RCLONE_CONFIG_PASS, marked secret: never in argv, masked when shown.
func TestRcloneConfigPasswordOnlyInEnv(t *testing.T) {
	tg := rcloneTarget(t, nil)
	conf := drivertest.WriteFile(t, tg.TempDir, "rclone.conf", "[b2]\ntype = b2\n", 0o600)
	pass := drivertest.WriteFile(t, tg.TempDir, "rclone.pass", "correct horse battery\n", 0o600)
	tg.Settings["config"] = conf
	tg.Settings["config_password_file"] = pass
	f := &rcloneFake{results: rcloneResults()}
	f.results["lsjson"] = proc.Result{Stdout: []byte("[]")}
	r := rclone.Driver{}
	if _, err := r.Backup(context.Background(), f, tg); err != nil {
		t.Fatal(err)
	}
	if err := r.Verify(context.Background(), f, tg, drivers.Artifact{}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Snapshots(context.Background(), f, tg); err != nil {
		t.Fatal(err)
	}
	if len(f.ran) != 5 { // the guard's check, the marker's delete, sync, check, lsjson (no files: no marker read)
		t.Fatalf("ran %v", f.subcommands())
	}
	for _, c := range f.ran {
		found := false
		for _, e := range c.Env {
			if e.Name == "RCLONE_CONFIG_PASS" {
				found = e.Value == "correct horse battery" && e.Secret
			}
		}
		if !found {
			t.Errorf("%s: no secret RCLONE_CONFIG_PASS with the file's password: %+v", c.Args[0], c.Env)
		}
		if strings.Contains(strings.Join(c.Args, " "), "horse") || strings.Contains(c.String(), "horse") {
			t.Errorf("the password shows in %s", c.String())
		}
		if !strings.Contains(c.String(), "RCLONE_CONFIG_PASS=***") || !drivertest.Contains(c.Args, "--ask-password=false") || !drivertest.Contains(c.Args, "--config="+conf) {
			t.Errorf("command %s", c.String())
		}
	}
	// The dry run names the variable without reading the file.
	for _, s := range r.Steps(tg) {
		if strings.Contains(s.String(), "horse") {
			t.Errorf("dry run shows the password: %s", s)
		}
	}
}

func TestRcloneRefusesOpenSecretFiles(t *testing.T) {
	for _, key := range []string{"config", "config_password_file"} {
		tg := rcloneTarget(t, nil)
		tg.Settings[key] = drivertest.WriteFile(t, tg.TempDir, key, "x\n", 0o644)
		f := &rcloneFake{results: rcloneResults()}
		r := rclone.Driver{}
		_, berr := r.Backup(context.Background(), f, tg)
		verr := r.Verify(context.Background(), f, tg, drivers.Artifact{})
		_, serr := r.Snapshots(context.Background(), f, tg)
		for _, err := range []error{berr, verr, serr} {
			if se, ok := err.(*drivers.SettingsError); !ok || se.Key != key || !strings.Contains(err.Error(), "0644") {
				t.Errorf("%s mode 0644: want a refusal naming it, got %v", key, err)
			}
		}
		if len(f.ran) != 0 {
			t.Errorf("%s mode 0644: rclone ran %v", key, f.subcommands())
		}
	}
}

func TestRcloneSnapshots(t *testing.T) {
	list := `[
{"Path":"books/a.epub","Name":"a.epub","Size":100,"ModTime":"2026-11-20T10:00:00.5Z","IsDir":false},
{"Path":"books/b.epub","Name":"b.epub","Size":23,"ModTime":"2026-11-25T08:30:00Z","IsDir":false}
]`
	tg := rcloneTarget(t, nil)
	for _, c := range []struct {
		res  proc.Result
		want []drivers.Snapshot
	}{
		// No marker: the newest file's 2026-11-25 mtime is the source's,
		// copied by rclone, so the copy's time is unknown (zero).
		{proc.Result{Stdout: []byte(list)}, []drivers.Snapshot{{ID: tg.Settings.Str("destination"), Bytes: 123}}},
		{proc.Result{Stdout: []byte("[\n]\n")}, nil},
		{proc.Result{ExitCode: 3, Stderr: []byte("directory not found")}, nil},
	} {
		f := &rcloneFake{results: map[string]proc.Result{"lsjson": c.res}}
		got, err := rclone.Driver{}.Snapshots(context.Background(), f, tg)
		if err != nil || len(got) != len(c.want) {
			t.Fatalf("got %+v %v, want %+v", got, err, c.want)
		}
		if want := "rclone lsjson --ask-password=false --log-format= --recursive --files-only --no-mimetype --exclude=/.alexandria-backup-point -- " + tg.Settings.Str("destination"); f.ran[0].String() != want {
			t.Errorf("ran %s\nwant %s", f.ran[0].String(), want)
		}
		for i := range got {
			if got[i].ID != c.want[i].ID || !got[i].Time.Equal(c.want[i].Time) || got[i].Bytes != c.want[i].Bytes || !strings.Contains(got[i].Info, "2 files") {
				t.Errorf("got %+v, want %+v", got[i], c.want[i])
			}
		}
	}
	f := &rcloneFake{results: map[string]proc.Result{"lsjson": {ExitCode: 1, Stderr: []byte("Failed to create file system")}}}
	if _, err := (rclone.Driver{}).Snapshots(context.Background(), f, tg); err == nil {
		t.Fatal("a failed listing must be an error")
	}
}

func TestRcloneCheckTools(t *testing.T) {
	for _, c := range []struct {
		stdout string
		ok     bool
	}{
		{"rclone v1.60.1-DEV\n- os/version: debian 12.11 (64 bit)\n", true},
		{"rclone v1.68.2\n", true},
		{"rclone v1.59.0\n", false},
		{"something else\n", false},
	} {
		f := &rcloneFake{results: map[string]proc.Result{"version": {Stdout: []byte(c.stdout)}}}
		if err := (rclone.Driver{}).CheckTools(context.Background(), f, &drivers.Target{}); (err == nil) != c.ok {
			t.Errorf("%q: ok=%v, got %v", c.stdout, c.ok, err)
		}
	}
}

func TestRclonePruneAndInit(t *testing.T) {
	tg := rcloneTarget(t, nil)
	f := &rcloneFake{}
	r := rclone.Driver{}
	for _, dry := range []bool{true, false} {
		res, err := r.Prune(context.Background(), f, tg, dry)
		if err != nil || res.Policy || len(res.Removed) != 0 {
			t.Fatalf("prune: %+v %v", res, err)
		}
	}
	if err := r.Init(context.Background(), f, tg); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(tg.Settings.Str("destination")); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Fatalf("init made no private destination dir: %v %v", fi, err)
	}
	tg.Settings["destination"] = "b2:bucket"
	if err := r.Init(context.Background(), f, tg); err != nil {
		t.Fatal(err)
	}
	if len(f.ran) != 0 {
		t.Fatalf("prune/init ran %v", f.subcommands())
	}
}

// The record of the destination's files is the one of the last backup
// that succeeded: a failed sync leaves the last one as it was; a backup
// that succeeded but could not record removes it (it no longer describes
// the destination), says so, and its verify lists both sides instead;
// the verify never removes it (the next run's guard reads it).
func TestRcloneRecordIsTheLastGoodBackups(t *testing.T) {
	ctx := context.Background()
	tg := rcloneTarget(t, nil)
	tg.KeepDir = filepath.Join(tg.TempDir, "keep")
	f := &rcloneFake{results: rcloneResults()}
	f.results["sync"] = proc.Result{Stderr: []byte(rcloneCopiedLine + "DEBUG : b: Unchanged skipping\n")}
	a, err := rclone.Driver{}.Backup(ctx, f, tg)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"C|books/a.epub", "U|b"}
	if got := rclone.RecordFiles(t, tg); !slices.Equal(got, want) {
		t.Fatalf("recorded %q, want %q", got, want)
	}
	if _, err := (rclone.Driver{}).VerifyScoped(ctx, f, tg, a, drivers.Scope{Slice: 1, Cycle: 30}); err != nil {
		t.Fatal(err)
	}
	if got := rclone.RecordFiles(t, tg); !slices.Equal(got, want) {
		t.Fatalf("after the verify, recorded %q, want %q", got, want)
	}

	f.results["sync"] = proc.Result{ExitCode: 1, Stderr: []byte("DEBUG : c: Unchanged skipping\nERROR : d: Failed to copy: boom\n")}
	if _, err := (rclone.Driver{}).Backup(ctx, f, tg); err == nil {
		t.Fatal("a failed sync succeeded")
	}
	if got := rclone.RecordFiles(t, tg); !slices.Equal(got, want) {
		t.Fatalf("after a failed sync, recorded %q, want the last one %q", got, want)
	}
	if left, _ := os.ReadDir(tg.KeepDir); len(left) != 1 {
		t.Fatalf("left %v", left)
	}

	// The record cannot be written (its ".new" is taken by a directory).
	if err := os.Mkdir(rclone.RecordPath(tg)+".new", 0o700); err != nil {
		t.Fatal(err)
	}
	f.results["sync"] = proc.Result{Stderr: []byte("DEBUG : c: Unchanged skipping\n")}
	a, err = rclone.Driver{}.Backup(ctx, f, tg)
	if err != nil || len(a.Warnings) != 1 || !strings.Contains(a.Warnings[0], "could not record the destination's files") {
		t.Fatalf("want a warning, got %v %q", err, a.Warnings)
	}
	if got := rclone.RecordFiles(t, tg); got != nil {
		t.Fatalf("the last record outlived a backup that could not replace it: %q", got)
	}
	f.ran = nil
	if _, err := (rclone.Driver{}).VerifyScoped(ctx, f, tg, a, drivers.Scope{Slice: 1, Cycle: 30}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(f.subcommands(), " "); got != "check" || !slices.Contains(f.ran[0].Args, "--size-only") {
		t.Errorf("with no record the verify ran %q, want the size listing", got)
	}
}
