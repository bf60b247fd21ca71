package rsync_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/drivers/rsync"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
	"github.com/alexandria-backup/alexandria-backup/internal/testenv/drivertest"
)

func rsyncTarget(settings drivers.Values) *drivers.Target {
	v := drivers.Values{"source": "/srv/alexandria/library/", "destination": "/mnt/mirror/library"}
	for k, x := range settings {
		v[k] = x
	}
	return &drivers.Target{Name: "mirror", Driver: "rsync", Impl: rsync.Driver{}, Verify: true, Settings: v}
}

func TestRsyncValidate(t *testing.T) {
	for _, c := range []struct {
		name     string
		settings drivers.Values
		key      string // "" = valid
		msg      string
	}{
		{"local", nil, "", ""},
		{"remote with ssh_command", drivers.Values{"destination": "backup@backup-server:/backups/library/", "ssh_command": "ssh -p 2222"}, "", ""},
		{"remote relative path", drivers.Values{"destination": "backup-server:backups/library"}, "", ""},
		{"remote ipv6", drivers.Values{"destination": "[::1]:/backups/library"}, "", ""},
		{"delete and max_delete", drivers.Values{"delete": true, "max_delete": 10}, "", ""},
		{"relative source", drivers.Values{"source": "library/"}, "source", "absolute"},
		{"source without slash", drivers.Values{"source": "/srv/alexandria/library"}, "source", `end with "/"`},
		{"relative destination", drivers.Values{"destination": "mirror/library"}, "destination", "absolute local path or [user@]host:path"},
		{"daemon destination", drivers.Values{"destination": "backup-server::library"}, "destination", "daemon"},
		{"rsync url", drivers.Values{"destination": "rsync://backup-server/library"}, "destination", "daemon"},
		{"host looks like an option", drivers.Values{"destination": "-oProxyCommand=touch /tmp/pwned:/x"}, "destination", "absolute local path or"},
		{"user looks like an option", drivers.Values{"destination": "-l@host:/x"}, "destination", "absolute local path or"},
		{"remote login directory", drivers.Values{"destination": "backup@host:"}, "destination", "name a directory"},
		{"remote root", drivers.Values{"destination": "backup@host:/"}, "destination", "name a directory"},
		{"remote path for the shell", drivers.Values{"destination": "host:/backups/$(reboot)"}, "destination", "remote shell"},
		{"remote path looks like an option", drivers.Values{"destination": "host:--delete-excluded"}, "destination", "option"},
		{"remote path with space", drivers.Values{"destination": "host:/backups/my library"}, "destination", "remote shell"},
		{"destination is source", drivers.Values{"destination": "/srv/alexandria/library"}, "destination", "outside"},
		{"destination inside source", drivers.Values{"destination": "/srv/alexandria/library/mirror"}, "destination", "outside"},
		{"destination above source", drivers.Values{"destination": "/srv/"}, "destination", "outside"},
		{"root destination", drivers.Values{"destination": "/"}, "destination", "outside"},
		{"ssh_command for a local destination", drivers.Values{"ssh_command": "ssh"}, "ssh_command", "remote"},
		{"empty ssh_command", drivers.Values{"destination": "h:/x", "ssh_command": " "}, "ssh_command", "empty"},
		{"max_delete without delete", drivers.Values{"max_delete": 10}, "max_delete", "delete = true"},
		{"empty exclude", drivers.Values{"exclude": []string{""}}, "exclude", "empty"},
		{"restic-style absolute exclude", drivers.Values{"exclude": []string{"/srv/alexandria/library/.returns"}}, "exclude", `"/.returns"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := rsync.Driver{}.Validate(rsyncTarget(c.settings))
			if c.key == "" {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			var se *drivers.SettingsError
			if !errors.As(err, &se) || se.Key != c.key || !strings.Contains(se.Msg, c.msg) {
				t.Fatalf("want an error on %s containing %q, got %v", c.key, c.msg, err)
			}
		})
	}
}

func TestRsyncBwlimit(t *testing.T) {
	var opt drivers.Option
	for _, o := range (rsync.Driver{}).Options() {
		if o.Name == "bwlimit" {
			opt = o
		}
	}
	for v, ok := range map[string]bool{"10M": true, "500K": true, "1.5m": true, "10MiB": true, "0": true, "2048": true,
		"10x": false, "-1": false, "10 M": false, "": false, "10M --delete": false} {
		if _, err := opt.Convert(v); (err == nil) != ok {
			t.Errorf("bwlimit %q: err %v, want ok=%v", v, err, ok)
		}
	}
}

// rsyncSource makes a local source directory with one book in it.
func rsyncSource(t *testing.T) string {
	dir := t.TempDir()
	drivertest.WriteFile(t, dir, "src/book.epub", "a book", 0o644)
	return filepath.Join(dir, "src") + "/"
}

// The classification of rsync's exit codes for the mirror, with the
// target's exit_codes override laid over it.
func TestRsyncBackupExitCodes(t *testing.T) {
	stats := "\nNumber of files: 3 (reg: 2, dir: 1)\nTotal file size: 1,234,567 bytes\nTotal transferred file size: 12 bytes\n"
	for _, c := range []struct {
		name     string
		code     int
		override proc.ExitCodes
		wantErr  string // "" = success
		warning  string
	}{
		{"ok", 0, proc.ExitCodes{}, "", ""},
		{"vanished files are a warning", 24, proc.ExitCodes{}, "", "vanished"},
		{"vanished made an error by the plan", 24, proc.ExitCodes{Error: []int{24}}, "exited 24", ""},
		{"partial transfer", 23, proc.ExitCodes{}, "exited 23", ""},
		{"max_delete reached", 25, proc.ExitCodes{}, "exited 25", ""},
		{"interrupted", 20, proc.ExitCodes{}, "exited 20", ""},
		{"usage", 1, proc.ExitCodes{}, "exited 1", ""},
		{"timeout", 30, proc.ExitCodes{}, "exited 30", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			tg := rsyncTarget(drivers.Values{"source": rsyncSource(t)})
			tg.ExitCodes = c.override
			x := drivertest.MarkerOK{X: drivertest.Scripted{Res: proc.Result{ExitCode: c.code, Stdout: []byte(stats),
				Stderr: []byte("file has vanished: \"/srv/alexandria/library/returned.epub\"\n")}}}
			a, err := rsync.Driver{}.Backup(context.Background(), x, tg)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("want an error with %q, got %v (artifact %+v)", c.wantErr, err, a)
				}
				return
			}
			if err != nil || a.ID != "/mnt/mirror/library" || a.Bytes != 1234567 {
				t.Fatalf("artifact %+v err %v", a, err)
			}
			if c.warning == "" && len(a.Warnings) != 0 || c.warning != "" && (len(a.Warnings) != 1 || !strings.Contains(a.Warnings[0], c.warning) || !strings.Contains(a.Warnings[0], "returned.epub")) {
				t.Fatalf("warnings %q, want one about %q", a.Warnings, c.warning)
			}
		})
	}
}

func TestRsyncBytesUnknownWithoutStats(t *testing.T) {
	tg := rsyncTarget(drivers.Values{"source": rsyncSource(t)})
	a, err := rsync.Driver{}.Backup(context.Background(), drivertest.Scripted{Res: proc.Result{}}, tg)
	if err != nil || a.Bytes != -1 {
		t.Fatalf("artifact %+v err %v", a, err)
	}
}

// A missing source, or one that is not a directory, never reaches rsync.
// (Sources that would empty the mirror are refused by the mirror guard,
// tested on the real rsync in TestMirrorGuardRsync.)
func TestRsyncSourceGuard(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty") + "/"
	fresh := filepath.Join(dir, "fresh") + "/"
	for _, d := range []string{empty, filepath.Join(fresh, "lost+found")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	file := drivertest.WriteFile(t, dir, "file", "x", 0o644)
	for _, c := range []struct {
		name   string
		source string
		delete bool
		refuse string // "" = rsync runs
	}{
		{"missing", filepath.Join(dir, "unmounted") + "/", false, "no such file"},
		{"missing with delete", filepath.Join(dir, "unmounted") + "/", true, "no such file"},
		{"a file", file + "/", true, "not a directory"},
		{"empty without delete", empty, false, ""},
		{"lost+found only without delete", fresh, false, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			rec := &drivertest.Recorder{}
			_, err := rsync.Driver{}.Backup(context.Background(), rec, rsyncTarget(drivers.Values{"source": c.source, "delete": c.delete}))
			if c.refuse == "" {
				// The marker's removal, then the mirror.
				if err != nil || len(rec.Lines) != 2 {
					t.Fatalf("want rsync to run, got err %v, commands %q", err, rec.Lines)
				}
				return
			}
			var se *drivers.SettingsError
			if !errors.As(err, &se) || se.Key != "source" || !strings.Contains(strings.ToLower(se.Msg), c.refuse) {
				t.Fatalf("want a refusal naming source with %q, got %v", c.refuse, err)
			}
			if len(rec.Lines) != 0 {
				t.Fatalf("rsync ran despite the refusal: %q", rec.Lines)
			}
		})
	}
}

// itemizer answers the verification's three commands as rsync would:
// each writes its canned output where the command sends it, and the
// names each --files-from list held are kept by kind.
type itemizer struct {
	listing, sent, slice string
	codes                map[string]int      // "listing", "sent", "slice" → exit code
	lists                map[string][]string // "sent", "slice" → names
	ran                  []string            // the kinds run, in order
}

func (it *itemizer) Run(_ context.Context, c proc.Command) (proc.Result, error) {
	kind, out := "sent", it.sent
	switch {
	case slices.Contains(c.Args, "--info=name2"):
		kind, out = "listing", it.listing
	case slices.Contains(c.Args, "--no-implied-dirs"):
		kind, out = "slice", it.slice
	}
	it.ran = append(it.ran, kind)
	for _, a := range c.Args {
		if list, ok := strings.CutPrefix(a, "--files-from="); ok {
			b, err := os.ReadFile(list)
			if err != nil {
				return proc.Result{}, err
			}
			if it.lists == nil {
				it.lists = map[string][]string{}
			}
			it.lists[kind] = strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
		}
	}
	if c.Stdout != nil {
		io.WriteString(c.Stdout, out)
	}
	r := proc.Result{Command: c.String(), ExitCode: it.codes[kind]}
	if r.Class = c.Codes.Classify(r.ExitCode); r.Class == proc.ClassError {
		return r, &proc.ToolError{Result: r}
	}
	return r, nil
}

// rsync's dry runs exit 0 whatever they find: the itemized lines of the
// listing and of the slice are the verdict.
func TestRsyncVerifyReadsItemizedOutput(t *testing.T) {
	tg := rsyncTarget(drivers.Values{"delete": true})
	many := strings.Repeat(">fc........ books/x.epub\n", 7)
	for _, c := range []struct {
		name, listing, slice string
		want                 []string // substrings of the error; nil = ok
		vanished             []string // what the backup saw vanish
	}{
		{"identical", ".d          ./\n.f          books/a.epub\n.L          books/latest.epub\n", "", nil, nil},
		{"blank lines only", "\n\n", "\n", nil, nil},
		// A live library: a file added or removed under a directory during
		// the run changes the directory's time, which is no damage.
		{"a directory's time alone", ".d..t...... ./\n.d..T...... books/author a/\n", "", nil, nil},
		{"a directory's time and a changed file", ".d..t...... books/\n.f          books/a.epub\n", ">fc........ books/a.epub\n", []string{"(1 difference)", "books/a.epub"}, nil},
		{"a directory's permissions", ".d...p..... books/\n", "", []string{".d...p..... books/"}, nil},
		{"a directory's owner", ".d....o.... books/\n", "", []string{".d....o.... books/"}, nil},
		{"a missing directory", "cd+++++++++ books/new/\n", "", []string{"cd+++++++++ books/new/"}, nil},
		{"a missing file", ">f+++++++++ books/a.epub\n", "", []string{">f+++++++++ books/a.epub"}, nil},
		{"a file's size", ">f.s....... books/a.epub\n", "", []string{">f.s....... books/a.epub"}, nil},
		{"a file's time alone", ".f..t...... books/a.epub\n", "", []string{".f..t...... books/a.epub"}, nil},
		{"a symlink's time", ".L..t...... books/latest.epub\n", "", []string{"books/latest.epub"}, nil},
		{"extra file that vanished during the backup", "*deleting   books/gone.epub\n.d..t...... books/\n", "", nil, []string{"books/gone.epub"}},
		{"extra file, another one vanished", "*deleting   books/stray.epub\n", "", []string{"books/stray.epub"}, []string{"books/gone.epub"}},
		{"a vanished path's name inside another", ".f          books/gone.epub.bak\n", ">fc........ books/gone.epub.bak\n", []string{"books/gone.epub.bak"}, []string{"books/gone.epub"}},
		{"changed content", ".f          books/a.epub\n", ">fc........ books/a.epub\n", []string{"(1 difference)", ">fc........ books/a.epub"}, nil},
		{"extra file in the mirror", "*deleting   stray.epub\n", "", []string{"*deleting   stray.epub"}, nil},
		{"mirror missing", "created directory /mnt/mirror/library\ncd+++++++++ ./\n", "", []string{"(2 differences)", "created directory"}, nil},
		{"first five shown", ".f          books/x.epub\n", many, []string{"7 differences", strings.TrimSuffix(strings.Repeat(">fc........ books/x.epub | ", 5), " | ")}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			x := &itemizer{listing: c.listing, slice: c.slice}
			err := rsync.Driver{}.Verify(context.Background(), x, tg, drivers.Artifact{Vanished: c.vanished})
			if c.want == nil {
				if err != nil {
					t.Fatalf("want ok, got %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("verify passed a mirror with differences")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Count(err.Error(), "books/x.epub") > 5 {
				t.Errorf("more than five differences shown: %v", err)
			}
		})
	}
	if err := (rsync.Driver{}).Verify(context.Background(), &itemizer{codes: map[string]int{"listing": 23}}, tg, drivers.Artifact{}); err == nil {
		t.Error("a failed listing passed")
	}
	if err := (rsync.Driver{}).Verify(context.Background(), &itemizer{listing: ".f          a\n", codes: map[string]int{"slice": 23}}, tg, drivers.Artifact{}); err == nil {
		t.Error("a failed slice run passed")
	}
}

// What each verification after a backup hands rsync to read: the files
// this run sent (to the sent check when Backup recorded their checksums,
// else to the slice run, whatever the slice), the unchanged files of the
// scope's slice, and nothing else: no directory, symlink or hard link,
// and no listing of the trees (the backup's own itemized lines, with
// --info=name2, named every file).
func TestRsyncVerifyReadsWhatTheScopeAsks(t *testing.T) {
	var unchanged []string
	// The backup: three files sent, one without a checksum (an old rsync
	// on the far side); a hard link, a symlink and a directory made, a
	// mode changed and a file deleted, which send no data; 40 files
	// unchanged, one of them with its mode changed; its stats.
	backupOut := ".d..t......                                 |./\n" +
		"<f.st...... 0123456789abcdef0123456789abcdef|books/sent.epub\n" +
		"hf+++++++++                                 |books/linked.epub\n" +
		"cL+++++++++                                 |books/latest.epub\n" +
		"cd+++++++++                                 |books/new/\n" +
		"*deleting                                   |books/gone.epub\n" +
		"<f+++++++++                                 |books/sent-unrecorded.epub\n" +
		"<f+++++++++ 00000000000000000000000000000000|new\\#012line.epub\n"
	for i := 0; i < 40; i++ {
		name := fmt.Sprintf("books/book%02d.epub", i)
		unchanged = append(unchanged, name)
		flags := ".f         "
		if i == 1 {
			flags = ".f...p....."
		}
		backupOut += flags + "                                 |" + name + "\n"
	}
	unchanged = append(unchanged, "books/linked.epub") // a hard link is a file of the mirror too
	backupOut += "Number of files: 46 (reg: 43, dir: 2, link: 1)\nTotal file size: 1,000 bytes\n"
	sent := ">f+++++++++ 0123456789abcdef0123456789abcdef|books/sent.epub\n" +
		">f+++++++++ 00000000000000000000000000000000|new\\#012line.epub\n"
	for _, s := range []drivers.Scope{{Slice: 0, Cycle: 4}, {Slice: 1, Cycle: 4}, {Slice: 3, Cycle: 4}, drivers.FullScope} {
		t.Run(s.String(), func(t *testing.T) {
			tg := rsyncTarget(drivers.Values{"source": rsyncSource(t)})
			tg.TempDir = t.TempDir()
			tg.Verify = true
			a, err := rsync.Driver{}.Backup(context.Background(), drivertest.Scripted{Res: proc.Result{Stdout: []byte(backupOut)}}, tg)
			if err != nil {
				t.Fatal(err)
			}
			if want := []string{"books/sent.epub", "books/sent-unrecorded.epub", "new\nline.epub"}; !slices.Equal(rsync.SentPaths(t, a), want) {
				t.Fatalf("written %q, want %q", rsync.SentPaths(t, a), want)
			}
			// A listing would find a difference: it must not run.
			x := &itemizer{listing: ">f+++++++++ books/unlisted.epub\n", sent: sent}
			cov, err := rsync.Driver{}.VerifyScoped(context.Background(), x, tg, a, s)
			if err != nil {
				t.Fatal(err)
			}
			if slices.Contains(x.ran, "listing") {
				t.Errorf("the verification after a backup listed the trees: ran %q", x.ran)
			}
			if got := x.lists["sent"]; !slices.Equal(got, []string{"books/sent.epub", "new\nline.epub"}) {
				t.Errorf("the sent check read %q", got)
			}
			want := []string{"books/sent-unrecorded.epub"}
			for _, u := range unchanged {
				if s.InSlice(u) {
					want = append(want, u)
				}
			}
			got := slices.Clone(x.lists["slice"])
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("the slice run read %q, want %q", got, want)
			}
			if !strings.Contains(cov.Detail, "the 3 files this run sent") || !strings.Contains(cov.Detail, "all 44 files") {
				t.Errorf("detail %q", cov.Detail)
			}
			if _, err := os.Stat(a.Written[0]); err != nil {
				t.Errorf("the verification did not keep the record, for the next run's guard: %v", err)
			}
			t.Log(cov.Detail)
		})
	}
}

// A verify on its own (no backup before it in this run) lists the trees
// and draws the slice from the listing; a verify after a backup whose
// record is gone reads every file: the files that backup sent are among
// them.
func TestRsyncVerifyWithoutARecordListsTheTrees(t *testing.T) {
	var listing string
	var names []string
	for i := 0; i < 12; i++ {
		name := fmt.Sprintf("books/book%02d.epub", i)
		names = append(names, name)
		listing += ".f          " + name + "\n"
	}
	listing += ".d          books/\n.L          books/latest.epub\n"
	for _, c := range []struct {
		name  string
		a     drivers.Artifact
		scope drivers.Scope
		want  func(string) bool
	}{
		{"verify alone", drivers.Artifact{}, drivers.Scope{Slice: 2, Cycle: 3}, drivers.Scope{Slice: 2, Cycle: 3}.InSlice},
		{"record gone", drivers.Artifact{ID: "/m", Written: []string{"/nonexistent/rsync-sent-mirror"}}, drivers.Scope{Slice: 2, Cycle: 3}, func(string) bool { return true }},
		{"no record kept", drivers.Artifact{ID: "/m"}, drivers.Scope{Slice: 2, Cycle: 3}, func(string) bool { return true }},
	} {
		t.Run(c.name, func(t *testing.T) {
			tg := rsyncTarget(drivers.Values{"source": rsyncSource(t)})
			tg.TempDir = t.TempDir()
			x := &itemizer{listing: listing}
			cov, err := rsync.Driver{}.VerifyScoped(context.Background(), x, tg, c.a, c.scope)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(x.ran, "listing") {
				t.Errorf("no listing ran: %q", x.ran)
			}
			var want []string
			for _, n := range names {
				if c.want(n) {
					want = append(want, n)
				}
			}
			if got := x.lists["slice"]; !slices.Equal(got, want) {
				t.Errorf("the slice run read %q, want %q", got, want)
			}
			if c.a.ID != "" && !cov.Full {
				t.Errorf("reading every file must say so: %+v", cov)
			}
		})
	}
}

// The files this run sent are compared with the checksums they were sent
// with: a copy with another checksum, or with none (missing from the
// mirror, unreadable), is a difference, named as rsync names it.
func TestRsyncVerifyComparesWhatWasSent(t *testing.T) {
	tg := rsyncTarget(drivers.Values{"source": rsyncSource(t)})
	tg.TempDir = t.TempDir()
	backupOut := ">f+++++++++ 11111111111111111111111111111111|same.epub\n" +
		">f+++++++++ 22222222222222222222222222222222|flipped.epub\n" +
		">f+++++++++ 33333333333333333333333333333333|gone\\#012.epub\n"
	a, err := rsync.Driver{}.Backup(context.Background(), drivertest.Scripted{Res: proc.Result{Stdout: []byte(backupOut)}}, tg)
	if err != nil {
		t.Fatal(err)
	}
	x := &itemizer{
		listing: ".f          same.epub\n.f          flipped.epub\n>f+++++++++ gone\\#012.epub\n",
		sent: ">f+++++++++ 11111111111111111111111111111111|same.epub\n" +
			">f+++++++++ 2222222222222222222222222222222f|flipped.epub\n",
		codes: map[string]int{"sent": 23}, // rsync's verdict on the missing one
	}
	cov, err := rsync.Driver{}.VerifyScoped(context.Background(), x, tg, a, drivers.Scope{Slice: 0, Cycle: 30})
	if err == nil {
		t.Fatal("passed")
	}
	for _, w := range []string{"(2 differences)", "flipped.epub: the mirror's copy is not what this run sent", `gone\#012.epub: sent by this run, but missing`} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%q lacks %q", err, w)
		}
	}
	if strings.Contains(err.Error(), "same.epub") || len(x.lists["slice"]) != 0 {
		t.Errorf("same.epub is no difference, and nothing else is read: %v, slice %q", err, x.lists["slice"])
	}
	if !strings.Contains(cov.Detail, "the 3 files this run sent by checksum, and the names, sizes and times of all 3 files") {
		t.Errorf("detail %q", cov.Detail)
	}
}

// The commands of the other phases, pinned like the golden files pin the
// run steps.
func TestRsyncPhaseCommands(t *testing.T) {
	ctx := context.Background()
	tg := rsyncTarget(drivers.Values{"destination": "backup@backup-server:/backups/library/", "ssh_command": "ssh -p 2222 -i /etc/k"})
	rec := &drivertest.Recorder{Stdout: map[string]string{"--list-only": "drwxr-xr-x          4,096 2026/11/26 02:00:00 library\n"}}
	d := rsync.Driver{}
	if err := d.Init(ctx, rec, tg); err != nil {
		t.Fatal(err)
	}
	res, err := d.Prune(ctx, rec, tg, true)
	if err != nil || res.Policy || len(res.Removed) != 0 {
		t.Fatalf("prune: %+v %v", res, err)
	}
	snaps, err := d.Snapshots(ctx, rec, tg)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"rsync --list-only '--rsh=ssh -p 2222 -i /etc/k' -- backup@backup-server:/backups/library",
		"rsync --ignore-missing-args '--rsh=ssh -p 2222 -i /etc/k' -- backup@backup-server:/backups/library/.alexandria-backup-point <temp>/"}
	if len(rec.Lines) == 2 {
		// The marker is read into a fresh temporary directory.
		rec.Lines[1] = regexp.MustCompile(`\S*/point-marker-[0-9]+/$`).ReplaceAllString(rec.Lines[1], "<temp>/")
	}
	if strings.Join(rec.Lines, "\n") != strings.Join(want, "\n") {
		t.Fatalf("commands:\n%s\nwant:\n%s", strings.Join(rec.Lines, "\n"), strings.Join(want, "\n"))
	}
	// No marker: the listed directory's 2026 mtime is the source's, copied
	// by rsync, so the mirror's time is unknown (zero), never that.
	if len(snaps) != 1 || snaps[0].ID != "backup@backup-server:/backups/library/" || !snaps[0].Time.IsZero() || !strings.Contains(snaps[0].Info, "unknown time") || snaps[0].Bytes != -1 || !strings.Contains(snaps[0].Info, "mirror") || snaps[0].Point != "" {
		t.Fatalf("snapshots %+v", snaps)
	}
}

func TestRsyncSnapshotsBeforeFirstRun(t *testing.T) {
	x := drivertest.Scripted{Res: proc.Result{ExitCode: 23, Stderr: []byte("rsync: [sender] change_dir \"/mnt/mirror\" failed: No such file or directory (2)\n")}}
	snaps, err := rsync.Driver{}.Snapshots(context.Background(), x, rsyncTarget(nil))
	if err != nil || len(snaps) != 0 {
		t.Fatalf("want no snapshots and no error, got %+v %v", snaps, err)
	}
	x = drivertest.Scripted{Res: proc.Result{ExitCode: 255, Stderr: []byte("ssh: connect to host backup-server port 22: Connection refused\n")}}
	if _, err := (rsync.Driver{}).Snapshots(context.Background(), x, rsyncTarget(nil)); err == nil || !strings.Contains(err.Error(), "Connection refused") {
		t.Fatalf("an unreachable mirror must be an error, got %v", err)
	}
}

func TestRsyncInitLocal(t *testing.T) {
	dst := filepath.Join(t.TempDir(), "a", "mirror")
	rec := &drivertest.Recorder{}
	if err := (rsync.Driver{}).Init(context.Background(), rec, rsyncTarget(drivers.Values{"destination": dst})); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dst)
	if err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 || len(rec.Lines) != 0 {
		t.Fatalf("stat %v %v, commands %q", fi, err, rec.Lines)
	}
}

func TestRsyncCheckTools(t *testing.T) {
	for out, ok := range map[string]bool{
		"rsync  version 3.5.0  protocol version 32\nCopyright (C) 1996-2026\n": true,
		"rsync  version v3.2.7  protocol version 31\n":                         true,
		"rsync  version 3.1.3  protocol version 31\n":                          true,
		"rsync  version 3.0.9  protocol version 30\n":                          false,
		"openrsync: protocol version 29\n":                                     false,
	} {
		err := rsync.Driver{}.CheckTools(context.Background(), drivertest.Scripted{Res: proc.Result{Stdout: []byte(out)}}, rsyncTarget(nil))
		if (err == nil) != ok {
			t.Errorf("%q: err %v, want ok=%v", out, err, ok)
		}
	}
}
