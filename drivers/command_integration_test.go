package drivers_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/plan"
)

// cmdFixture is a small library and a directory for a command target's
// backup files; the commands are real (tar, gzip, sh).
type cmdFixture struct {
	dir, src, out string
	x             drivers.Executor
}

func newCmdFixture(t *testing.T) *cmdFixture {
	requireTool(t, "tar", "gzip", "sh")
	dir := t.TempDir()
	f := &cmdFixture{dir: dir, src: filepath.Join(dir, "library"), out: filepath.Join(dir, "backups"), x: drivers.ProcessExecutor{}}
	writeFile(t, f.src, "books/dune.epub", strings.Repeat("spice ", 5000), 0o644)
	writeFile(t, f.src, "covers/dune.jpg", "not really a jpeg", 0o644)
	return f
}

// target is a valid command target: tar into {output}, unless settings
// say otherwise.
func (f *cmdFixture) target(t *testing.T, settings drivers.Values) *drivers.Target {
	t.Helper()
	v := drivers.Values{"dir": f.out, "extension": "tar.gz", "command": []string{"tar", "-czf", "{output}", "-C", f.src, "."}}
	for k, x := range settings {
		v[k] = x
	}
	tg := &drivers.Target{Name: "app", Driver: "command", Impl: drivers.CommandDriver{}, Verify: true, Settings: v, TempDir: filepath.Join(f.dir, "tmp")}
	if err := (drivers.CommandDriver{}).Validate(tg); err != nil {
		t.Fatal(err)
	}
	return tg
}

// restored extracts a backup file with tar and compares it with the source.
func (f *cmdFixture) checkArchive(t *testing.T, path string) {
	t.Helper()
	dest := t.TempDir()
	if _, err := f.x.Run(context.Background(), drivers.Command{Program: "tar", Args: []string{"-xzf", path, "-C", dest}}); err != nil {
		t.Fatalf("the backup does not extract: %v", err)
	}
	cmdSameFiles(t, f.src, dest)
}

// cmdSameFiles fails unless b holds a's regular files with the same bytes.
func cmdSameFiles(t *testing.T, a, b string) {
	t.Helper()
	n := 0
	filepath.WalkDir(a, func(p string, e os.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(a, p)
		want, _ := os.ReadFile(p)
		got, err := os.ReadFile(filepath.Join(b, rel))
		if err != nil || string(got) != string(want) {
			t.Errorf("%s differs after the round trip: %v", rel, err)
		}
		n++
		return nil
	})
	if n == 0 {
		t.Fatal("nothing compared")
	}
}

// A backup with {output} and one through standard output both keep one
// private file that restores, named after the target, and nothing else.
func TestCommandBackup(t *testing.T) {
	pinClock(t)
	ctx := context.Background()
	for name, cmd := range map[string][]string{
		"output": {"tar", "-czf", "{output}", "-C", "SRC", "."},
		"stdout": {"tar", "-cz", "-C", "SRC", "."},
		// {output} inside a word, as --file=... takes it.
		"inside a word": {"tar", "-cz", "--file={output}", "-C", "SRC", "."},
	} {
		t.Run(name, func(t *testing.T) {
			f := newCmdFixture(t)
			argv := slices.Clone(cmd)
			argv[len(argv)-2] = f.src
			tg := f.target(t, drivers.Values{"command": argv, "verify_command": []string{"gzip", "-t", "{output}"}})
			d := drivers.CommandDriver{}
			a, err := d.Backup(ctx, f.x, tg)
			if err != nil {
				t.Fatal(err)
			}
			want := filepath.Join(f.out, "app-20261126T020000Z.tar.gz")
			fi, err := os.Stat(want)
			if a.ID != want || err != nil || a.Bytes != fi.Size() || !a.Verified || len(a.Warnings) > 0 {
				t.Fatalf("artifact %+v, stat %v", a, err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("mode %v, want 0600", fi.Mode().Perm())
			}
			if names := dirNames(t, f.out); len(names) != 1 {
				t.Fatalf("dir holds %v", names)
			}
			f.checkArchive(t, want)
			if err := d.Verify(ctx, f.x, tg, drivers.Artifact{}); err != nil {
				t.Fatalf("verify: %v", err)
			}
			// A second backup in the same second gets its own name.
			if a, err := d.Backup(ctx, f.x, tg); err != nil || a.ID != filepath.Join(f.out, "app-20261126T020000Z-1.tar.gz") {
				t.Fatalf("second backup: %+v %v", a, err)
			}
			snaps, err := d.Snapshots(ctx, f.x, tg)
			if err != nil || len(snaps) != 2 || !strings.HasSuffix(snaps[0].ID, "-1.tar.gz") || snaps[0].Bytes <= 0 || !snaps[0].Time.Equal(drivers.Now()) {
				t.Fatalf("snapshots: %+v %v", snaps, err)
			}
		})
	}
}

// Whatever goes wrong, nothing is promoted and no temporary file is left:
// the dir holds exactly what it held before.
func TestCommandNeverKeepsAPartialBackup(t *testing.T) {
	ctx := context.Background()
	sh := func(script string, args ...string) []string {
		return append([]string{"sh", "-c", script, "sh"}, args...)
	}
	for _, tc := range []struct {
		name     string
		settings drivers.Values
		timeout  time.Duration
		want     string
	}{
		{"exit 1 after writing a partial file", drivers.Values{"command": sh(`printf partial > "$1"; exit 1`, "{output}")}, 0, "exited 1"},
		{"exit 1 after printing a partial backup", drivers.Values{"command": sh(`printf partial; exit 1`)}, 0, "exited 1"},
		{"killed by a signal", drivers.Values{"command": sh(`printf partial > "$1"; kill -9 $$`, "{output}")}, 0, "SIGKILL"},
		{"exit 0 having written nothing", drivers.Values{"command": []string{"true"}}, 0, "wrote nothing"},
		{"exit 0 having written nothing to {output}", drivers.Values{"command": []string{"true", "{output}"}}, 0, "wrote nothing"},
		{"the output replaced by a directory", drivers.Values{"command": sh(`rm "$1" && mkdir "$1" && echo x > "$1/f"`, "{output}")}, 0, "not a regular file"},
		{"the output removed", drivers.Values{"command": sh(`rm "$1"`, "{output}")}, 0, "left no backup file"},
		{"a missing program", drivers.Values{"command": []string{"/nonexistent/librarian", "backup", "{output}"}}, 0, "no such file"},
		{"verify_command fails: gzip -t on a corrupted file", drivers.Values{
			"command":        sh(`tar -czf "$1" -C "$2" . && printf 'damage' | dd of="$1" bs=1 seek=20 conv=notrunc 2>/dev/null`, "{output}", "SRC"),
			"verify_command": []string{"gzip", "-t", "{output}"}}, 0, "verify_command refused"},
		{"verify_command fails reading standard input", drivers.Values{
			"command":        sh(`printf 'not gzip at all'`),
			"verify_command": []string{"gzip", "-t"}}, 0, "verify_command refused"},
		{"timeout", drivers.Values{"command": sh(`printf partial > "$1"; sleep 30`, "{output}")}, 300 * time.Millisecond, "deadline exceeded"},
		{"exit_codes calls exit 0 an error", drivers.Values{"command": []string{"tar", "-czf", "{output}", "-C", "SRC", "."}}, 0, "exited 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newCmdFixture(t)
			for k, v := range tc.settings {
				if l, ok := v.([]string); ok {
					l = slices.Clone(l)
					for i := range l {
						l[i] = strings.ReplaceAll(l[i], "SRC", f.src)
					}
					tc.settings[k] = l
				}
			}
			tg := f.target(t, tc.settings)
			if strings.HasPrefix(tc.name, "exit_codes") {
				tg.ExitCodes = drivers.ExitCodes{Error: []int{0}}
			}
			// What was there before stays, and only that.
			writeFile(t, f.out, "app-20200101T000000Z.tar.gz", "an older backup", 0o600)
			before := dirNames(t, f.out)
			rctx := ctx
			if tc.timeout > 0 {
				var cancel context.CancelFunc
				rctx, cancel = context.WithTimeout(ctx, tc.timeout)
				defer cancel()
			}
			_, err := drivers.CommandDriver{}.Backup(rctx, f.x, tg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want an error with %q, got %v", tc.want, err)
			}
			if after := dirNames(t, f.out); !slices.Equal(before, after) {
				t.Fatalf("dir changed:\nbefore %v\nafter  %v", before, after)
			}
		})
	}
}

// exit_codes may call a non-zero exit of the operator's command a warning
// (GNU tar exits 1 when a file changed while it read it): the file is kept
// and the target is a warning.
func TestCommandExitCodesWarningKeepsTheFile(t *testing.T) {
	f := newCmdFixture(t)
	tg := f.target(t, drivers.Values{"command": []string{"sh", "-c", `tar -czf "$1" -C "$2" . && exit 1`, "sh", "{output}", f.src}})
	if _, err := (drivers.CommandDriver{}).Backup(context.Background(), f.x, tg); err == nil {
		t.Fatal("exit 1 kept without exit_codes")
	}
	tg.ExitCodes = drivers.ExitCodes{Warning: []int{1}}
	a, err := drivers.CommandDriver{}.Backup(context.Background(), f.x, tg)
	if err != nil || len(a.Warnings) != 1 || !strings.Contains(a.Warnings[0], "sh exited 1") {
		t.Fatalf("%+v %v", a, err)
	}
	f.checkArchive(t, a.ID)
}

// A file left by a backup killed outright is removed by the next backup
// of the same target, and only that target's.
func TestCommandSweepsItsOwnPartials(t *testing.T) {
	f := newCmdFixture(t)
	tg := f.target(t, nil)
	mine := writeFile(t, f.out, ".app-20200101T000000Z.tar.gz.partial", "killed", 0o600)
	others := []string{".app-x-20200101T000000Z.tar.gz.partial", ".app-20200101T000000Z.zip.partial", "notes.txt"}
	for _, n := range others {
		writeFile(t, f.out, n, "not mine", 0o600)
	}
	if _, err := (drivers.CommandDriver{}).Backup(context.Background(), f.x, tg); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(mine); err == nil {
		t.Error("the partial file of a killed backup is still there")
	}
	for _, n := range others {
		if _, err := os.Stat(filepath.Join(f.out, n)); err != nil {
			t.Errorf("%s was removed: %v", n, err)
		}
	}
}

// Retention counts only this target's files with its extension: another
// target's, another extension, a symlink or a directory under one of its
// names, and partial files are never touched. The newest is always kept.
func TestCommandRetention(t *testing.T) {
	f := newCmdFixture(t)
	ctx := context.Background()
	old := drivers.Now
	t.Cleanup(func() { drivers.Now = old })
	day := func(n int) time.Time { return time.Date(2026, 11, n, 2, 0, 0, 0, time.UTC) }
	tg := f.target(t, drivers.Values{"keep_last": 2})
	d := drivers.CommandDriver{}
	var made []string
	for i := 1; i <= 4; i++ {
		drivers.Now = func() time.Time { return day(i) }
		a, err := d.Backup(ctx, f.x, tg)
		if err != nil {
			t.Fatal(err)
		}
		made = append(made, a.ID)
	}
	foreign := []string{"app-x-20261101T020000Z.tar.gz", "app-20261101T020000Z.zip", "app-20261101T020000Z.tar.gz.manifest.json", ".app-20261102T020000Z.tar.gz.partial", "other-20261101T020000Z.tar.gz"}
	for _, n := range foreign {
		writeFile(t, f.out, n, "not this target's", 0o600)
	}
	if err := os.Mkdir(filepath.Join(f.out, "app-20261030T020000Z.tar.gz"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(f.out, "app-20261029T020000Z.tar.gz")); err != nil {
		t.Fatal(err)
	}
	foreign = append(foreign, "app-20261030T020000Z.tar.gz", "app-20261029T020000Z.tar.gz")

	drivers.Now = func() time.Time { return day(20) }
	dry, err := d.Prune(ctx, f.x, tg, true)
	if err != nil || !slices.Equal(dry.Removed, []string{made[1], made[0]}) || dry.Kept != 2 {
		t.Fatalf("dry run: %+v %v", dry, err)
	}
	if _, err := os.Stat(made[0]); err != nil {
		t.Fatal("a dry run removed a file")
	}
	res, err := d.Prune(ctx, f.x, tg, false)
	if err != nil || !slices.Equal(res.Removed, []string{made[1], made[0]}) || !res.Policy {
		t.Fatalf("prune: %+v %v", res, err)
	}
	for _, n := range foreign {
		if _, err := os.Lstat(filepath.Join(f.out, n)); err != nil {
			t.Errorf("retention touched %s: %v", n, err)
		}
	}
	// keep_days alone, everything older: the newest stays.
	tg = f.target(t, drivers.Values{"keep_days": 1})
	drivers.Now = func() time.Time { return day(28) }
	res, err = d.Prune(ctx, f.x, tg, false)
	if err != nil || !slices.Equal(res.Removed, []string{made[2]}) || res.Kept != 1 {
		t.Fatalf("keep_days: %+v %v", res, err)
	}
	snaps, _ := d.Snapshots(ctx, f.x, tg)
	if len(snaps) != 1 || snaps[0].ID != made[3] {
		t.Fatalf("left: %+v", snaps)
	}
}

// restore_command gets the latest file, or the one --from names, and only
// after it verifies; with no {input}, the file is its standard input.
// --from takes only the target's own files.
func TestCommandRestore(t *testing.T) {
	pinClock(t)
	ctx := context.Background()
	f := newCmdFixture(t)
	d := drivers.CommandDriver{}
	dest := filepath.Join(f.dir, "restored")
	os.Mkdir(dest, 0o700)
	tg := f.target(t, drivers.Values{"verify_command": []string{"gzip", "-t", "{output}"}, "restore_command": []string{"tar", "-xzf", "{input}", "-C", dest}})
	if _, err := d.Restore(ctx, f.x, tg, drivers.RestoreRequest{}); err == nil || !strings.Contains(err.Error(), "no backups") {
		t.Fatalf("restore with no backups: %v", err)
	}
	a, err := d.Backup(ctx, f.x, tg)
	if err != nil {
		t.Fatal(err)
	}
	res, err := d.Restore(ctx, f.x, tg, drivers.RestoreRequest{})
	if err != nil || res.From != a.ID || !strings.Contains(res.Where, "tar -xzf") {
		t.Fatalf("%+v %v", res, err)
	}
	cmdSameFiles(t, f.src, dest)

	// Standard input, and --from by base name.
	dest2 := filepath.Join(f.dir, "restored2")
	os.Mkdir(dest2, 0o700)
	tg2 := f.target(t, drivers.Values{"restore_command": []string{"tar", "-xz", "-C", dest2}})
	if _, err := d.Restore(ctx, f.x, tg2, drivers.RestoreRequest{From: filepath.Base(a.ID)}); err != nil {
		t.Fatal(err)
	}
	cmdSameFiles(t, f.src, dest2)

	// Never anything but the target's own files.
	outside := writeFile(t, f.dir, "elsewhere/app-20261126T020000Z.tar.gz", "x", 0o600)
	os.Symlink(a.ID, filepath.Join(f.out, "app-20261126T010000Z.tar.gz"))
	for _, from := range []string{outside, "../elsewhere/app-20261126T020000Z.tar.gz", "app-20261126T010000Z.tar.gz", filepath.Join(f.out, ".app-20261126T020000Z.tar.gz.partial"), "/etc/passwd"} {
		if _, err := d.Restore(ctx, f.x, tg, drivers.RestoreRequest{From: from}); err == nil || !strings.Contains(err.Error(), "is not one of target app's backup files") {
			t.Errorf("--from %s: %v", from, err)
		}
	}
	for _, req := range []drivers.RestoreRequest{{File: a.ID}, {Unverified: true}, {To: dest}, {Database: "x"}, {Clean: true}, {Force: true}} {
		if _, err := d.Restore(ctx, f.x, tg, req); err == nil {
			t.Errorf("%+v: accepted", req)
		}
	}
	// A damaged file is not handed to restore_command.
	os.WriteFile(a.ID, []byte("damaged"), 0o600)
	marker := filepath.Join(f.dir, "ran")
	tg3 := f.target(t, drivers.Values{"verify_command": []string{"gzip", "-t", "{output}"}, "restore_command": []string{"touch", marker}})
	if _, err := d.Restore(ctx, f.x, tg3, drivers.RestoreRequest{}); err == nil || !strings.Contains(err.Error(), "does not verify") {
		t.Fatalf("damaged file: %v", err)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("restore_command ran on a damaged file")
	}
	// No restore_command: refused, naming the key.
	var se *drivers.SettingsError
	if _, err := d.Restore(ctx, f.x, f.target(t, nil), drivers.RestoreRequest{}); !errors.As(err, &se) || se.Key != "restore_command" {
		t.Fatalf("no restore_command: %v", err)
	}
}

// Verification without verify_command reads the file back whole; an empty
// or unreadable file fails it.
func TestCommandVerifyWithoutVerifyCommand(t *testing.T) {
	f := newCmdFixture(t)
	ctx := context.Background()
	tg := f.target(t, nil)
	a, err := drivers.CommandDriver{}.Backup(ctx, f.x, tg)
	if err != nil || a.Verified {
		t.Fatalf("%+v %v: without verify_command the run must still verify", a, err)
	}
	if err := (drivers.CommandDriver{}).Verify(ctx, f.x, tg, a); err != nil {
		t.Fatal(err)
	}
	os.Truncate(a.ID, 0)
	if err := (drivers.CommandDriver{}).Verify(ctx, f.x, tg, a); err == nil || !strings.Contains(err.Error(), "is empty") {
		t.Fatalf("an empty file verified: %v", err)
	}
}

// Hostile or mistaken plan values are refused by the loader, naming the
// key and its line; none of them runs anything.
func TestCommandPlanValuesAreChecked(t *testing.T) {
	base := `[targets.app]
driver = "command"
`
	for _, tc := range []struct {
		body, key, want string
	}{
		{`command = ["-rf", "{output}"]` + "\ndir = \"/b\"", "command", `must not start with "-"`},
		{`command = ["tar", "-czf", "{output}", "{output}"]` + "\ndir = \"/b\"", "command", "{output} may appear only once"},
		{`command = ["cp", "{output}{output}"]` + "\ndir = \"/b\"", "command", "{output} may appear only once"},
		{`command = ["tar", "-czf", "{output}"]` + "\ndir = \"b\"", "dir", "must be an absolute path"},
		{`command = ["tar", "-czf", "{output}"]` + "\ndir = \"/b\"\nextension = \"../x\"", "extension", "must be letters"},
		{`command = ["tar", "-czf", "{output}"]` + "\ndir = \"/b\"\nextension = \"a/b\"", "extension", "must be letters"},
		{`command = ["tar", "-czf", "{output}"]` + "\ndir = \"/b\"\nextension = \"\"", "extension", "must be letters"},
		{`command = ["tar", "-czf", "{output}"]` + "\ndir = \"/b\"\nextension = \"tar..gz\"", "extension", "must be letters"},
		{`command = ["tar", "-czf", "{output}"]` + "\ndir = \"/b\"\nextension = \"*\"", "extension", "must be letters"},
		{`command = []` + "\ndir = \"/b\"", "command", "must name a program"},
		{`command = [""]` + "\ndir = \"/b\"", "command", "must not be empty"},
		{`command = ["{output}"]` + "\ndir = \"/b\"", "command", "must be a program"},
		{`command = ["./backup.sh", "{output}"]` + "\ndir = \"/b\"", "command", "relative path"},
		{`command = ["tar", 5]` + "\ndir = \"/b\"", "command", "must be an array of strings"},
		{`command = "tar -czf {output}"` + "\ndir = \"/b\"", "command", "must be an array of strings"},
		{`command = ["tar", "-czf", "{input}"]` + "\ndir = \"/b\"", "command", "{input} is not replaced here"},
		{`command = ["tar"]` + "\ndir = \"/b\"\nrestore_command = [\"tar\", \"-xzf\", \"{output}\"]", "restore_command", "{output} is not replaced here"},
		{`command = ["tar"]` + "\ndir = \"/b\"\nrestore_command = [\"cat\", \"{input}\", \"{input}\"]", "restore_command", "{input} may appear only once"},
		{`command = ["tar"]` + "\ndir = \"/b\"\nverify_command = [\"-t\"]", "verify_command", `must not start with "-"`},
		{`command = ["tar"]` + "\ndir = \"/b\"\ndrill = true", "drill", "cannot be drilled"},
		{`dir = "/b"`, "", "`command` is required"},
	} {
		path := filepath.Join(t.TempDir(), "plan.toml")
		os.WriteFile(path, []byte(base+tc.body+"\n"), 0o600)
		_, err := plan.Load(path)
		if err == nil || !strings.Contains(err.Error(), strings.TrimSuffix("targets.app."+tc.key, ".")) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s\nwant an error on %s with %q, got: %v", tc.body, tc.key, tc.want, err)
		}
	}
}
