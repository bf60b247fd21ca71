package borg_test

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/drivers/borg"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
	"github.com/alexandria-backup/alexandria-backup/internal/testenv/drivertest"
)

// borgFake answers borg commands by subcommand (or other programs by
// name), judges the exit code with the command's own Codes, and records
// every command line.
type borgFake struct {
	answers map[string]proc.Result
	lines   []string
}

func (f *borgFake) Run(_ context.Context, c proc.Command) (proc.Result, error) {
	f.lines = append(f.lines, c.String())
	key := c.Program
	if c.Program == "borg" && len(c.Args) > 0 {
		key = c.Args[0]
	}
	r := f.answers[key]
	r.Command = c.String()
	r.Class = c.Codes.Classify(r.ExitCode)
	if r.Class == proc.ClassError {
		return r, &proc.ToolError{Result: r}
	}
	return r, nil
}

// borgList is what `borg list --json` prints for two archives of target.
func borgList(target string) []byte {
	return []byte(strings.ReplaceAll(`{"archives": [
	{"name": "T@2026-11-24T02:00:00", "id": "aa", "time": "2026-11-24T02:00:00.000000"},
	{"name": "T@2026-11-25T02:00:00", "id": "bb", "time": "2026-11-25T02:00:00.123456"}
], "encryption": {"mode": "repokey-blake2"}}`, "T@", target+"@"))
}

// What `borg prune --list` 1.2.4 prints on stderr (copied from a real run).
const borgPruneStderr = `Keeping archive (rule: secondly #1):     library@2026-11-25T02:00:00          Wed, 2026-11-25 02:00:00 [669595d48915184ea6f682cbdccd5d64b2d0458adf84cdc2deb90ad2bda03cd8]
Would prune:                             library@m1                           Thu, 2026-11-24 03:42:23 [95c53cab04e10f274d4e0bd29c7c5679bd4028f22b86aae5455333dc736c01c8]
Pruning archive (2/2):                   library@2026-11-23T02:00:00          Mon, 2026-11-23 02:00:00 [36bbb39f070bca5d1951863f8c8364c40450b61725eb631a9719fede519779b0]
`

// borgPruneKeptOnly: a prune that kept everything.
const borgPruneKeptOnly = `Keeping archive (rule: secondly #1):     library@2026-11-25T02:00:00          Wed, 2026-11-25 02:00:00 [669595d48915184ea6f682cbdccd5d64b2d0458adf84cdc2deb90ad2bda03cd8]
`

// TestBorgGoldenOps pins what init, prune --dry-run, snapshots and verify
// (of the latest archive) run for every borg golden plan; TestGolden pins
// the run steps.
func TestBorgGoldenOps(t *testing.T) {
	cases, _ := filepath.Glob("testdata/golden/borg-*.toml")
	if len(cases) == 0 {
		t.Fatal("no borg golden cases")
	}
	for _, c := range cases {
		name := strings.TrimSuffix(filepath.Base(c), ".toml")
		t.Run(name, func(t *testing.T) {
			var b strings.Builder
			ctx := context.Background()
			for _, tg := range drivertest.LoadTargets(t, c) {
				// ready() reads the passphrase file; point it at a real one.
				if tg.Settings.Has("passphrase_file") {
					tg.Settings["passphrase_file"] = drivertest.WriteFile(t, t.TempDir(), "borg.pass", "x\n", 0o600)
				}
				missing := &borgFake{answers: map[string]proc.Result{
					"list": {ExitCode: 2, Stderr: []byte("Repository /srv/backup/borg does not exist.\n")},
					"pass": {Stdout: []byte("s3cret\n")},
				}}
				if err := (borg.Driver{}).Init(ctx, missing, tg); err != nil {
					t.Fatalf("init: %v", err)
				}
				fake := &borgFake{lines: missing.lines, answers: map[string]proc.Result{
					"list":  {Stdout: borgList(tg.Name)},
					"prune": {Stderr: []byte(borgPruneStderr)},
				}}
				if _, err := (borg.Driver{}).Prune(ctx, fake, tg, true); err != nil {
					t.Fatalf("prune: %v", err)
				}
				if _, err := (borg.Driver{}).Snapshots(ctx, fake, tg); err != nil {
					t.Fatalf("snapshots: %v", err)
				}
				if err := (borg.Driver{}).Verify(ctx, fake, tg, drivers.Artifact{}); err != nil {
					t.Fatalf("verify: %v", err)
				}
				b.WriteString("## " + tg.Name + ": init (repository missing), prune --dry-run, snapshots, verify latest\n")
				for _, l := range fake.lines {
					b.WriteString(l + "\n")
				}
			}
			golden := filepath.Join("testdata", "golden", name+".ops.golden")
			if *update {
				if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run make golden)", err)
			}
			if b.String() != string(want) {
				t.Errorf("commands changed (run with -update if intended):\n--- got\n%s--- want\n%s", b.String(), want)
			}
		})
	}
}

func TestBorgValidate(t *testing.T) {
	cases := []struct {
		name     string
		settings drivers.Values
		env      map[string]string
		key      string // "" = valid
	}{
		{"minimal", nil, nil, ""},
		{"passcommand instead", drivers.Values{"passphrase_file": nil, "passcommand": "pass show borg"}, nil, ""},
		{"no passphrase", drivers.Values{"passphrase_file": nil}, nil, "passphrase_file"},
		{"both", drivers.Values{"passcommand": "pass show borg"}, nil, "passphrase_file"},
		{"none needs none", drivers.Values{"passphrase_file": nil, "encryption": "none"}, nil, ""},
		{"none with a passphrase", drivers.Values{"encryption": "none"}, nil, "passphrase_file"},
		{"relative path", drivers.Values{"paths": []string{"library"}}, nil, "paths"},
		{"BORG_PASSPHRASE in env", nil, map[string]string{"BORG_PASSPHRASE": "x"}, "env"},
		{"BORG_REPO in env", nil, map[string]string{"BORG_REPO": "/x"}, "env"},
		{"other env is fine", nil, map[string]string{"BORG_BASE_DIR": "/x"}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tg := drivertest.BorgTarget(t, c.settings)
			tg.Env = c.env
			err := borg.Driver{}.Validate(tg)
			var se *drivers.SettingsError
			switch {
			case c.key == "" && err != nil:
				t.Fatalf("want valid, got %v", err)
			case c.key != "" && (err == nil || !asSettingsError(err, &se) || se.Key != c.key):
				t.Fatalf("want an error about %s, got %v", c.key, err)
			}
		})
	}
}

func asSettingsError(err error, se **drivers.SettingsError) bool {
	e, ok := err.(*drivers.SettingsError)
	*se = e
	return ok
}

// The option checks run when the plan is loaded; each must refuse what
// borg would refuse at 2 AM.
func TestBorgOptionChecks(t *testing.T) {
	opts := map[string]drivers.Option{}
	for _, o := range (borg.Driver{}).Options() {
		opts[o.Name] = o
	}
	cases := []struct {
		key string
		val any
		ok  bool
	}{
		{"repository", "/srv/backup/borg", true},
		{"repository", "ssh://backup@host:22/./borg", true},
		{"repository", "backup@host:borg", true},
		{"repository", "relative/borg", false},
		{"repository", "/srv/backup/borg::archive", false},
		{"compression", "zstd,3", true},
		{"compression", "auto,lzma,6", true},
		{"compression", "lz4", true},
		{"compression", "zstd,23", false},
		{"compression", "gzip", false},
		{"keep_within", "14d", true},
		{"keep_within", "12H", true},
		{"keep_within", "0d", false},
		{"keep_within", "2 weeks", false},
		{"archive_name", "{hostname}-{now}", true},
		{"archive_name", "a/b", false},
		{"archive_name", "a::b", false},
		{"passcommand", "pass show 'borg key'", true},
		{"passcommand", "pass show 'borg", false},
		{"passcommand", "   ", false},
		{"encryption", "repokey-blake2", true},
		{"encryption", "blowfish", false},
		{"lock_wait", "10m", true},
		{"lock_wait", "forever", false},
	}
	for _, c := range cases {
		_, err := opts[c.key].Convert(c.val)
		if (err == nil) != c.ok {
			t.Errorf("%s = %q: ok=%v, got error %v", c.key, c.val, c.ok, err)
		}
	}
}

// borg runs BORG_PASSCOMMAND through Python's shlex.split; init runs the
// command once itself to refuse an empty passphrase, so the split must agree.
func TestBorgPasscommandSplitLikeShlex(t *testing.T) {
	cases := []struct {
		in   string
		want []string
	}{
		// Expected values are what python3 -c 'import shlex; print(shlex.split(...))' prints.
		{`pass show borg`, []string{"pass", "show", "borg"}},
		{`  cat   '/etc/my pass'  `, []string{"cat", "/etc/my pass"}},
		{`sh -c "echo \"hi\" \$x \\ \n"`, []string{"sh", "-c", `echo "hi" \$x \ \n`}},
		{`a\ b c\'d`, []string{"a b", "c'd"}},
		{`x '' "" y`, []string{"x", "", "", "y"}},
		{`x'y'"z"`, []string{"xyz"}},
	}
	for _, c := range cases {
		tg := drivertest.BorgTarget(t, drivers.Values{"passphrase_file": nil, "passcommand": c.in})
		var got []string
		x := execFunc(func(cmd proc.Command) proc.Result {
			if cmd.Program == "borg" && cmd.Args[0] == "list" {
				return proc.Result{ExitCode: 2, Stderr: []byte("Repository /x does not exist.\n")}
			}
			if cmd.Program != "borg" {
				got = append([]string{cmd.Program}, cmd.Args...)
			}
			return proc.Result{Stdout: []byte("pw\n")}
		})
		if err := (borg.Driver{}).Init(context.Background(), x, tg); err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("passcommand %s ran %q (%v); want %q", c.in, got, err, c.want)
		}
	}
}

// execFunc is an Executor answering with a function; exit codes are judged
// by the command's own Codes.
type execFunc func(proc.Command) proc.Result

func (f execFunc) Run(_ context.Context, c proc.Command) (proc.Result, error) {
	r := f(c)
	r.Command = c.String()
	r.Class = c.Codes.Classify(r.ExitCode)
	if r.Class == proc.ClassError {
		return r, &proc.ToolError{Result: r}
	}
	return r, nil
}

// borg 1.2 exits 1 when the archive was made but something was off (a
// file vanished or changed while read): a warning with borg's reason,
// unless the plan reclassifies 1 as an error.
func TestBorgCreateExit1IsWarning(t *testing.T) {
	tg := drivertest.BorgTarget(t, nil)
	fake := &borgFake{answers: map[string]proc.Result{"create": {ExitCode: 1,
		Stdout: []byte(`{"archive": {"name": "library@2026-11-26T02:00:00", "stats": {"original_size": 4096, "nfiles": 3}}}`),
		Stderr: []byte("/srv/alexandria/library/a.epub: file changed while we backed it up\n")}}}
	a, err := borg.Driver{}.Backup(context.Background(), fake, tg)
	if err != nil || a.ID != "library@2026-11-26T02:00:00" || a.Bytes != 4096 || len(a.Warnings) != 1 ||
		!strings.Contains(a.Warnings[0], "file changed while we backed it up") {
		t.Fatalf("artifact %+v err %v", a, err)
	}
	tg.ExitCodes = proc.ExitCodes{Error: []int{1}}
	if _, err := (borg.Driver{}).Backup(context.Background(), fake, tg); err == nil {
		t.Fatal("exit_codes = { error = [1] } must make exit 1 a failure")
	}
	fake.answers["create"] = proc.Result{ExitCode: 2, Stderr: []byte("Failed to create/acquire the lock\n")}
	tg.ExitCodes = proc.ExitCodes{}
	if _, err := (borg.Driver{}).Backup(context.Background(), fake, tg); err == nil || !strings.Contains(err.Error(), "acquire the lock") {
		t.Fatalf("exit 2 must fail with borg's reason, got %v", err)
	}
}

func TestBorgCreateWithoutJSONFails(t *testing.T) {
	tg := drivertest.BorgTarget(t, nil)
	fake := &borgFake{answers: map[string]proc.Result{"create": {Stdout: []byte("garbage")}}}
	_, err := borg.Driver{}.Backup(context.Background(), fake, tg)
	if err == nil || !strings.Contains(err.Error(), "no archive name") {
		t.Fatalf("got %v", err)
	}
}

// borg check reports damage with exit 1, which borg create uses for a
// warning: for check it must be a failure.
func TestBorgCheckExit1IsFailure(t *testing.T) {
	tg := drivertest.BorgTarget(t, nil)
	tg.ExitCodes = proc.ExitCodes{Warning: []int{1}} // applies to create only
	fake := &borgFake{answers: map[string]proc.Result{"check": {ExitCode: 1,
		Stderr: []byte("Data integrity error: Segment entry checksum mismatch [segment 2, offset 8]\nFinished full repository check, errors found.\n")}}}
	err := borg.Driver{}.Verify(context.Background(), fake, tg, drivers.Artifact{ID: "library@x"})
	if err == nil || !strings.Contains(err.Error(), "errors found") {
		t.Fatalf("check exit 1 must fail verification, got %v", err)
	}
}

func TestBorgVerifyWithoutArchiveFails(t *testing.T) {
	tg := drivertest.BorgTarget(t, nil)
	fake := &borgFake{answers: map[string]proc.Result{"list": {Stdout: []byte(`{"archives": []}`)}}}
	err := borg.Driver{}.Verify(context.Background(), fake, tg, drivers.Artifact{})
	if err == nil || !strings.Contains(err.Error(), "no archive") {
		t.Fatalf("got %v", err)
	}
	if len(fake.lines) != 1 {
		t.Fatalf("nothing but the listing may run: %q", fake.lines)
	}
}

// reclaimLog is a state that last reclaimed every repository at at.
type reclaimLog struct{ at time.Time }

func (l reclaimLog) LastReclaim(string) time.Time { return l.at }

// With prune_every, compact runs once that long has passed since the last
// one, whether or not this prune removed an archive; before, never.
func TestBorgCompactWaitsForPruneEvery(t *testing.T) {
	drivertest.PinClock(t)
	now := drivers.Now()
	for _, c := range []struct {
		name       string
		last       time.Time
		stderr     string
		wantCompct bool
	}{
		{"never compacted", time.Time{}, borgPruneStderr, true},
		{"compacted an hour ago, archives removed", now.Add(-time.Hour), borgPruneStderr, false},
		{"compacted 8 days ago", now.Add(-8 * 24 * time.Hour), borgPruneStderr, true},
		{"compacted 8 days ago, nothing removed now", now.Add(-8 * 24 * time.Hour), borgPruneKeptOnly, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			tg := drivertest.BorgTarget(t, drivers.Values{"keep_last": 1, "prune_every": 168 * time.Hour})
			tg.Reclaims = reclaimLog{c.last}
			fake := &borgFake{answers: map[string]proc.Result{"prune": {Stderr: []byte(c.stderr)}}}
			res, err := borg.Driver{}.Prune(context.Background(), fake, tg, false)
			compacted := len(fake.lines) == 2 && strings.Contains(fake.lines[1], "borg compact")
			if err != nil || compacted != c.wantCompct || (res.Reclaimed == tg.Name) != c.wantCompct {
				t.Fatalf("compact %v (want %v), reclaimed %q: %q %v", compacted, c.wantCompct, res.Reclaimed, fake.lines, err)
			}
		})
	}
}

func TestBorgSnapshotsNewestFirst(t *testing.T) {
	tg := drivertest.BorgTarget(t, nil)
	fake := &borgFake{answers: map[string]proc.Result{"list": {Stdout: borgList("library")}}}
	snaps, err := borg.Driver{}.Snapshots(context.Background(), fake, tg)
	want := time.Date(2026, 11, 25, 2, 0, 0, 123456000, time.Local)
	if err != nil || len(snaps) != 2 || snaps[0].ID != "library@2026-11-25T02:00:00" || !snaps[0].Time.Equal(want) || snaps[0].Bytes != -1 {
		t.Fatalf("snapshots %+v %v", snaps, err)
	}
}

func TestBorgPruneParsesList(t *testing.T) {
	tg := drivertest.BorgTarget(t, drivers.Values{"keep_last": 1})
	fake := &borgFake{answers: map[string]proc.Result{"prune": {Stderr: []byte(borgPruneStderr)}}}
	res, err := borg.Driver{}.Prune(context.Background(), fake, tg, false)
	if err != nil || !res.Policy || res.Kept != 1 || !reflect.DeepEqual(res.Removed, []string{"library@m1", "library@2026-11-23T02:00:00"}) {
		t.Fatalf("prune %+v %v", res, err)
	}
	if len(fake.lines) != 2 || !strings.Contains(fake.lines[1], "borg compact") {
		t.Fatalf("a real prune must compact after: %q", fake.lines)
	}
	// Nothing removed: no compact.
	fake.lines = nil
	fake.answers["prune"] = proc.Result{Stderr: []byte(borgPruneKeptOnly)}
	res, err = borg.Driver{}.Prune(context.Background(), fake, tg, false)
	if err != nil || res.Kept != 1 || len(res.Removed) != 0 || len(fake.lines) != 1 {
		t.Fatalf("nothing removed must not compact: %+v %v %q", res, err, fake.lines)
	}
	// Without retention keys nothing runs.
	fake.lines = nil
	res, err = borg.Driver{}.Prune(context.Background(), fake, drivertest.BorgTarget(t, nil), false)
	if err != nil || res.Policy || len(fake.lines) != 0 {
		t.Fatalf("no policy: %+v %v %q", res, err, fake.lines)
	}
}

// Retention never removes the newest archive: keep_within alone would
// remove them all once backups stopped for longer than the window.
func TestBorgKeepWithinAloneKeepsNewest(t *testing.T) {
	for _, c := range []struct {
		settings drivers.Values
		keepLast bool
	}{
		{drivers.Values{"keep_within": "7d"}, true},
		{drivers.Values{"keep_within": "7d", "keep_daily": 7}, false},
		{drivers.Values{"keep_daily": 7}, false},
	} {
		steps := borg.Driver{}.Steps(drivertest.BorgTarget(t, c.settings))
		var prune string
		for _, s := range steps {
			if s.Phase == drivers.PhasePrune && s.Command != nil && s.Command.Args[0] == "prune" {
				prune = strings.Join(s.Command.Args, " ")
			}
		}
		if got := strings.Contains(prune, "--keep-last=1"); got != c.keepLast {
			t.Errorf("%v: prune %q, want --keep-last=1: %v", c.settings, prune, c.keepLast)
		}
	}
}

func TestBorgCheckTools(t *testing.T) {
	for out, ok := range map[string]bool{"borg 1.2.4\n": true, "borg 1.4.0\n": true, "borg 1.1.16\n": false, "borg 2.0.0b14\n": false, "nonsense": false} {
		fake := &borgFake{answers: map[string]proc.Result{"--version": {Stdout: []byte(out)}}}
		if err := (borg.Driver{}).CheckTools(context.Background(), fake, drivertest.BorgTarget(t, nil)); (err == nil) != ok {
			t.Errorf("%q: ok=%v, got %v", out, ok, err)
		}
	}
}

// A passphrase variable inherited by alexandria-backup would silently win
// over the plan's passphrase_file (borg reads BORG_PASSPHRASE first): it
// is named for a warning and never reaches borg (see
// TestBorgIgnoresInheritedSecrets for the real borg).
func TestBorgDropsInheritedPassphrase(t *testing.T) {
	t.Setenv("BORG_PASSPHRASE", "from the shell")
	tg := drivertest.BorgTarget(t, nil)
	if got := drivers.InheritedEnv(tg); len(got) != 1 || got[0] != "BORG_PASSPHRASE" {
		t.Fatalf("InheritedEnv = %v", got)
	}
	var cmds []proc.Command
	for _, s := range (borg.Driver{}).Steps(tg) {
		if s.Command != nil {
			cmds = append(cmds, *s.Command)
		}
	}
	for _, c := range cmds {
		if !drivertest.Contains(c.DropEnv, "BORG_PASSPHRASE") || !drivertest.Contains(c.DropEnv, "BORG_REPO") {
			t.Errorf("%s: DropEnv %v", c, c.DropEnv)
		}
	}
}

// An empty passphrase file would give borg an empty passphrase (init takes
// it); an empty passcommand output likewise.
func TestBorgInitRefusesEmptyPassphrase(t *testing.T) {
	ctx := context.Background()
	missing := map[string]proc.Result{"list": {ExitCode: 2, Stderr: []byte("Repository /x does not exist.\n")}}
	tg := drivertest.BorgTarget(t, nil)
	drivertest.WriteFile(t, tg.TempDir, "borg.pass", "\n", 0o600)
	fake := &borgFake{answers: missing}
	if err := (borg.Driver{}).Init(ctx, fake, tg); err == nil || !strings.Contains(err.Error(), "empty") || len(fake.lines) != 0 {
		t.Fatalf("empty passphrase_file: %v, ran %q", err, fake.lines)
	}
	tg = drivertest.BorgTarget(t, drivers.Values{"passphrase_file": nil, "passcommand": "print-nothing"})
	missing["print-nothing"] = proc.Result{Stdout: []byte("\n")}
	fake = &borgFake{answers: missing}
	err := borg.Driver{}.Init(ctx, fake, tg)
	if err == nil || !strings.Contains(err.Error(), "empty passphrase") {
		t.Fatalf("empty passcommand output: %v", err)
	}
	for _, l := range fake.lines {
		if strings.Contains(l, "borg init") {
			t.Fatalf("borg init ran: %q", fake.lines)
		}
	}
}

// Only borg's "does not exist" leads to init; a wrong passphrase is an
// error, not a missing repository.
func TestBorgInitOnlyWhenMissing(t *testing.T) {
	ctx := context.Background()
	tg := drivertest.BorgTarget(t, nil)
	fake := &borgFake{answers: map[string]proc.Result{"list": {ExitCode: 2,
		Stderr: []byte("passphrase supplied in BORG_PASSPHRASE, by BORG_PASSCOMMAND or via BORG_PASSPHRASE_FD is incorrect.\n")}}}
	err := borg.Driver{}.Init(ctx, fake, tg)
	if err == nil || !strings.Contains(err.Error(), "incorrect") || len(fake.lines) != 1 {
		t.Fatalf("got %v, ran %q", err, fake.lines)
	}
}

// No secret reaches a command line or its shown form, and the passphrase
// file's content is never read into a command.
func TestBorgNoSecretInCommands(t *testing.T) {
	const secret = "super-secret-value"
	tg := drivertest.BorgTarget(t, drivers.Values{"keep_daily": 7})
	drivertest.WriteFile(t, tg.TempDir, "borg.pass", secret+"\n", 0o600)
	tg.Env = map[string]string{"BORG_RSH": "ssh -o X=" + secret}
	fake := &borgFake{answers: map[string]proc.Result{"list": {Stdout: borgList("library")}}}
	ctx := context.Background()
	_ = borg.Driver{}.Init(ctx, fake, tg)
	_, _ = borg.Driver{}.Prune(ctx, fake, tg, true)
	_ = borg.Driver{}.Verify(ctx, fake, tg, drivers.Artifact{})
	lines := fake.lines
	for _, s := range (borg.Driver{}).Steps(tg) {
		lines = append(lines, s.String())
		if s.Command != nil {
			lines = append(lines, strings.Join(s.Command.Args, " "))
		}
	}
	if len(lines) < 5 {
		t.Fatalf("too few commands: %q", lines)
	}
	for _, l := range lines {
		if strings.Contains(l, secret) {
			t.Errorf("secret shown in %q", l)
		}
	}
}
