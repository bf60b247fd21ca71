package command_test

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
	"github.com/alexandria-backup/alexandria-backup/drivers/command"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
	"github.com/alexandria-backup/alexandria-backup/internal/testenv/drivertest"
	"github.com/alexandria-backup/alexandria-backup/plan"
)

// A backup with {output} and one through standard output both keep one
// private file that restores, named after the target, and nothing else.
func TestCommandBackup(t *testing.T) {
	drivertest.PinClock(t)
	ctx := context.Background()
	for name, cmd := range map[string][]string{
		"output": {"tar", "-czf", "{output}", "-C", "SRC", "."},
		"stdout": {"tar", "-cz", "-C", "SRC", "."},
		// {output} inside a word, as --file=... takes it.
		"inside a word": {"tar", "-cz", "--file={output}", "-C", "SRC", "."},
	} {
		t.Run(name, func(t *testing.T) {
			f := drivertest.NewCmdFixture(t)
			argv := slices.Clone(cmd)
			argv[len(argv)-2] = f.Src
			tg := f.Target(t, drivers.Values{"command": argv, "verify_command": []string{"gzip", "-t", "{output}"}})
			d := command.Driver{}
			a, err := d.Backup(ctx, f.X, tg)
			if err != nil {
				t.Fatal(err)
			}
			want := filepath.Join(f.Out, "app-20261126T020000Z.tar.gz")
			fi, err := os.Stat(want)
			if a.ID != want || err != nil || a.Bytes != fi.Size() || !a.Verified || len(a.Warnings) > 0 {
				t.Fatalf("artifact %+v, stat %v", a, err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("mode %v, want 0600", fi.Mode().Perm())
			}
			if names := drivertest.DirNames(t, f.Out); len(names) != 1 {
				t.Fatalf("dir holds %v", names)
			}
			f.CheckArchive(t, want)
			if err := d.Verify(ctx, f.X, tg, drivers.Artifact{}); err != nil {
				t.Fatalf("verify: %v", err)
			}
			// A second backup in the same second gets its own name.
			if a, err := d.Backup(ctx, f.X, tg); err != nil || a.ID != filepath.Join(f.Out, "app-20261126T020000Z-1.tar.gz") {
				t.Fatalf("second backup: %+v %v", a, err)
			}
			snaps, err := d.Snapshots(ctx, f.X, tg)
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
			f := drivertest.NewCmdFixture(t)
			for k, v := range tc.settings {
				if l, ok := v.([]string); ok {
					l = slices.Clone(l)
					for i := range l {
						l[i] = strings.ReplaceAll(l[i], "SRC", f.Src)
					}
					tc.settings[k] = l
				}
			}
			tg := f.Target(t, tc.settings)
			if strings.HasPrefix(tc.name, "exit_codes") {
				tg.ExitCodes = proc.ExitCodes{Error: []int{0}}
			}
			// What was there before stays, and only that.
			drivertest.WriteFile(t, f.Out, "app-20200101T000000Z.tar.gz", "an older backup", 0o600)
			before := drivertest.DirNames(t, f.Out)
			rctx := ctx
			if tc.timeout > 0 {
				var cancel context.CancelFunc
				rctx, cancel = context.WithTimeout(ctx, tc.timeout)
				defer cancel()
			}
			_, err := command.Driver{}.Backup(rctx, f.X, tg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want an error with %q, got %v", tc.want, err)
			}
			if after := drivertest.DirNames(t, f.Out); !slices.Equal(before, after) {
				t.Fatalf("dir changed:\nbefore %v\nafter  %v", before, after)
			}
		})
	}
}

// exit_codes may call a non-zero exit of the operator's command a warning
// (GNU tar exits 1 when a file changed while it read it): the file is kept
// and the target is a warning.
func TestCommandExitCodesWarningKeepsTheFile(t *testing.T) {
	f := drivertest.NewCmdFixture(t)
	tg := f.Target(t, drivers.Values{"command": []string{"sh", "-c", `tar -czf "$1" -C "$2" . && exit 1`, "sh", "{output}", f.Src}})
	if _, err := (command.Driver{}).Backup(context.Background(), f.X, tg); err == nil {
		t.Fatal("exit 1 kept without exit_codes")
	}
	tg.ExitCodes = proc.ExitCodes{Warning: []int{1}}
	a, err := command.Driver{}.Backup(context.Background(), f.X, tg)
	if err != nil || len(a.Warnings) != 1 || !strings.Contains(a.Warnings[0], "sh exited 1") {
		t.Fatalf("%+v %v", a, err)
	}
	f.CheckArchive(t, a.ID)
}

// A file left by a backup killed outright is removed by the next backup
// of the same target, and only that target's.
func TestCommandSweepsItsOwnPartials(t *testing.T) {
	f := drivertest.NewCmdFixture(t)
	tg := f.Target(t, nil)
	mine := drivertest.WriteFile(t, f.Out, ".app-20200101T000000Z.tar.gz.partial", "killed", 0o600)
	others := []string{".app-x-20200101T000000Z.tar.gz.partial", ".app-20200101T000000Z.zip.partial", "notes.txt"}
	for _, n := range others {
		drivertest.WriteFile(t, f.Out, n, "not mine", 0o600)
	}
	if _, err := (command.Driver{}).Backup(context.Background(), f.X, tg); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(mine); err == nil {
		t.Error("the partial file of a killed backup is still there")
	}
	for _, n := range others {
		if _, err := os.Stat(filepath.Join(f.Out, n)); err != nil {
			t.Errorf("%s was removed: %v", n, err)
		}
	}
}

// Retention counts only this target's files with its extension: another
// target's, another extension, a symlink or a directory under one of its
// names, and partial files are never touched. The newest is always kept.
func TestCommandRetention(t *testing.T) {
	f := drivertest.NewCmdFixture(t)
	ctx := context.Background()
	old := drivers.Now
	t.Cleanup(func() { drivers.Now = old })
	day := func(n int) time.Time { return time.Date(2026, 11, n, 2, 0, 0, 0, time.UTC) }
	tg := f.Target(t, drivers.Values{"keep_last": 2})
	d := command.Driver{}
	var made []string
	for i := 1; i <= 4; i++ {
		drivers.Now = func() time.Time { return day(i) }
		a, err := d.Backup(ctx, f.X, tg)
		if err != nil {
			t.Fatal(err)
		}
		made = append(made, a.ID)
	}
	foreign := []string{"app-x-20261101T020000Z.tar.gz", "app-20261101T020000Z.zip", "app-20261101T020000Z.tar.gz.manifest.json", ".app-20261102T020000Z.tar.gz.partial", "other-20261101T020000Z.tar.gz"}
	for _, n := range foreign {
		drivertest.WriteFile(t, f.Out, n, "not this target's", 0o600)
	}
	if err := os.Mkdir(filepath.Join(f.Out, "app-20261030T020000Z.tar.gz"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(f.Out, "app-20261029T020000Z.tar.gz")); err != nil {
		t.Fatal(err)
	}
	foreign = append(foreign, "app-20261030T020000Z.tar.gz", "app-20261029T020000Z.tar.gz")

	drivers.Now = func() time.Time { return day(20) }
	dry, err := d.Prune(ctx, f.X, tg, true)
	if err != nil || !slices.Equal(dry.Removed, []string{made[1], made[0]}) || dry.Kept != 2 {
		t.Fatalf("dry run: %+v %v", dry, err)
	}
	if _, err := os.Stat(made[0]); err != nil {
		t.Fatal("a dry run removed a file")
	}
	res, err := d.Prune(ctx, f.X, tg, false)
	if err != nil || !slices.Equal(res.Removed, []string{made[1], made[0]}) || !res.Policy {
		t.Fatalf("prune: %+v %v", res, err)
	}
	for _, n := range foreign {
		if _, err := os.Lstat(filepath.Join(f.Out, n)); err != nil {
			t.Errorf("retention touched %s: %v", n, err)
		}
	}
	// keep_days alone, everything older: the newest stays.
	tg = f.Target(t, drivers.Values{"keep_days": 1})
	drivers.Now = func() time.Time { return day(28) }
	res, err = d.Prune(ctx, f.X, tg, false)
	if err != nil || !slices.Equal(res.Removed, []string{made[2]}) || res.Kept != 1 {
		t.Fatalf("keep_days: %+v %v", res, err)
	}
	snaps, _ := d.Snapshots(ctx, f.X, tg)
	if len(snaps) != 1 || snaps[0].ID != made[3] {
		t.Fatalf("left: %+v", snaps)
	}
}

// restore_command gets the latest file, or the one --from names, and only
// after it verifies; with no {input}, the file is its standard input.
// --from takes only the target's own files.
func TestCommandRestore(t *testing.T) {
	drivertest.PinClock(t)
	ctx := context.Background()
	f := drivertest.NewCmdFixture(t)
	d := command.Driver{}
	dest := filepath.Join(f.Dir, "restored")
	os.Mkdir(dest, 0o700)
	tg := f.Target(t, drivers.Values{"verify_command": []string{"gzip", "-t", "{output}"}, "restore_command": []string{"tar", "-xzf", "{input}", "-C", dest}})
	if _, err := d.Restore(ctx, f.X, tg, drivers.RestoreRequest{}); err == nil || !strings.Contains(err.Error(), "no backups") {
		t.Fatalf("restore with no backups: %v", err)
	}
	a, err := d.Backup(ctx, f.X, tg)
	if err != nil {
		t.Fatal(err)
	}
	res, err := d.Restore(ctx, f.X, tg, drivers.RestoreRequest{})
	if err != nil || res.From != a.ID || !strings.Contains(res.Where, "tar -xzf") {
		t.Fatalf("%+v %v", res, err)
	}
	drivertest.CmdSameFiles(t, f.Src, dest)

	// Standard input, and --from by base name.
	dest2 := filepath.Join(f.Dir, "restored2")
	os.Mkdir(dest2, 0o700)
	tg2 := f.Target(t, drivers.Values{"restore_command": []string{"tar", "-xz", "-C", dest2}})
	if _, err := d.Restore(ctx, f.X, tg2, drivers.RestoreRequest{From: filepath.Base(a.ID)}); err != nil {
		t.Fatal(err)
	}
	drivertest.CmdSameFiles(t, f.Src, dest2)

	// Never anything but the target's own files.
	outside := drivertest.WriteFile(t, f.Dir, "elsewhere/app-20261126T020000Z.tar.gz", "x", 0o600)
	os.Symlink(a.ID, filepath.Join(f.Out, "app-20261126T010000Z.tar.gz"))
	for _, from := range []string{outside, "../elsewhere/app-20261126T020000Z.tar.gz", "app-20261126T010000Z.tar.gz", filepath.Join(f.Out, ".app-20261126T020000Z.tar.gz.partial"), "/etc/passwd"} {
		if _, err := d.Restore(ctx, f.X, tg, drivers.RestoreRequest{From: from}); err == nil || !strings.Contains(err.Error(), "is not one of target app's backup files") {
			t.Errorf("--from %s: %v", from, err)
		}
	}
	for _, req := range []drivers.RestoreRequest{{File: a.ID}, {Unverified: true}, {To: dest}, {Database: "x"}, {Clean: true}, {Force: true}} {
		if _, err := d.Restore(ctx, f.X, tg, req); err == nil {
			t.Errorf("%+v: accepted", req)
		}
	}
	// A damaged file is not handed to restore_command.
	os.WriteFile(a.ID, []byte("damaged"), 0o600)
	marker := filepath.Join(f.Dir, "ran")
	tg3 := f.Target(t, drivers.Values{"verify_command": []string{"gzip", "-t", "{output}"}, "restore_command": []string{"touch", marker}})
	if _, err := d.Restore(ctx, f.X, tg3, drivers.RestoreRequest{}); err == nil || !strings.Contains(err.Error(), "does not verify") {
		t.Fatalf("damaged file: %v", err)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("restore_command ran on a damaged file")
	}
	// No restore_command: refused, naming the key.
	var se *drivers.SettingsError
	if _, err := d.Restore(ctx, f.X, f.Target(t, nil), drivers.RestoreRequest{}); !errors.As(err, &se) || se.Key != "restore_command" {
		t.Fatalf("no restore_command: %v", err)
	}
}

// Verification without verify_command reads the file back whole; an empty
// or unreadable file fails it.
func TestCommandVerifyWithoutVerifyCommand(t *testing.T) {
	f := drivertest.NewCmdFixture(t)
	ctx := context.Background()
	tg := f.Target(t, nil)
	a, err := command.Driver{}.Backup(ctx, f.X, tg)
	if err != nil || a.Verified {
		t.Fatalf("%+v %v: without verify_command the run must still verify", a, err)
	}
	if err := (command.Driver{}).Verify(ctx, f.X, tg, a); err != nil {
		t.Fatal(err)
	}
	os.Truncate(a.ID, 0)
	if err := (command.Driver{}).Verify(ctx, f.X, tg, a); err == nil || !strings.Contains(err.Error(), "is empty") {
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
