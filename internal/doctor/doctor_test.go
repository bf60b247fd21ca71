package doctor

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/internal/planpaths"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
	"github.com/alexandria-backup/alexandria-backup/internal/runlock"
	"github.com/alexandria-backup/alexandria-backup/internal/testenv/pgserver"
	"github.com/alexandria-backup/alexandria-backup/plan"
)

func requireTool(t *testing.T, name string) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: skipping a test of the real tools")
	}
	if _, err := exec.LookPath(name); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not installed", name)
		}
		t.Skipf("%s is not installed", name)
	}
}

func writeFile(t *testing.T, path, content string, mode os.FileMode) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // past the umask
		t.Fatal(err)
	}
	return path
}

// loadPlan writes src (with DIR standing for dir) as a plan file and loads it.
func loadPlan(t *testing.T, dir, src string) *plan.Plan {
	t.Helper()
	path := writeFile(t, filepath.Join(dir, "plan.toml"), strings.ReplaceAll(src, "DIR", dir), 0o600)
	p, err := plan.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func doctor(t *testing.T, p *plan.Plan, o Options) map[string]Check {
	t.Helper()
	o.Exec = proc.ProcessExecutor{}
	if o.Timeout == 0 {
		o.Timeout = time.Minute
	}
	targets, err := p.Pick(nil, "")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]Check{}
	for _, c := range Run(context.Background(), p, targets, o) {
		t.Log(c)
		out[c.Subject] = c
	}
	return out
}

func expect(t *testing.T, checks map[string]Check, subject string, status Status, detail, fix string) {
	t.Helper()
	c, ok := checks[subject]
	switch {
	case !ok:
		t.Errorf("no check %q", subject)
	case c.Status != status || !strings.Contains(c.Detail, detail) || !strings.Contains(c.Fix, fix):
		t.Errorf("%q: %s, want %s with %q (fix %q)", subject, c, status, detail, fix)
	}
}

// Repositories: a good one, the wrong password, one never initialised and
// a password file others can read, each said plainly; the passwords never.
func TestRepositories(t *testing.T) {
	requireTool(t, "restic")
	dir := t.TempDir()
	t.Setenv("RESTIC_CACHE_DIR", filepath.Join(dir, "cache"))
	writeFile(t, filepath.Join(dir, "lib", "book.epub"), "words", 0o644)
	writeFile(t, filepath.Join(dir, "good.pass"), "right-password-never-shown\n", 0o600)
	writeFile(t, filepath.Join(dir, "wrong.pass"), "wrong-password-never-shown\n", 0o600)
	writeFile(t, filepath.Join(dir, "leaky.pass"), "right-password-never-shown\n", 0o644)
	p := loadPlan(t, dir, `
state_dir = "DIR/state"
[targets.good]
driver = "restic"
repository = "DIR/repo"
password_file = "DIR/good.pass"
paths = ["DIR/lib"]
[targets.wrongpw]
driver = "restic"
repository = "DIR/repo"
password_file = "DIR/wrong.pass"
paths = ["DIR/lib"]
[targets.missing]
driver = "restic"
repository = "DIR/nothing-here"
password_file = "DIR/good.pass"
paths = ["DIR/lib"]
[targets.leaky]
driver = "restic"
repository = "DIR/repo"
password_file = "DIR/leaky.pass"
paths = ["DIR/lib"]
[plans.all]
targets = ["good"]
schedule = "*/30 * * * mon-fri"
`)
	rt := plan.Runtime{Exec: proc.ProcessExecutor{}}
	ctx := context.Background()
	good, _ := p.Pick([]string{"good"}, "")
	if o := p.Init(ctx, good, rt); o[0].Err != nil {
		t.Fatal(o[0].Err)
	}
	checks := doctor(t, p, Options{})
	expect(t, checks, "tools restic", OK, "restic 0.", "")
	expect(t, checks, "plans.all.schedule", OK, `cron "*/30 * * * mon-fri", systemd Mon..Fri *-*-* *:00,30:00`, "")
	// (A schedule cron, systemd and Kubernetes would read differently, such
	// as "0 0 * * 7", never gets this far: validation refuses it.)
	expect(t, checks, "state_dir "+filepath.Join(dir, "state"), OK, "does not exist yet; the first run creates it in "+dir, "")
	expect(t, checks, "good, missing: password_file "+filepath.Join(dir, "good.pass"), OK, "mode 0600, owner ", "")
	expect(t, checks, "good: backups", Warn, "none of this target yet", "run a plan")
	expect(t, checks, "good: free space in "+filepath.Join(dir, "repo"), OK, "free", "")
	expect(t, checks, "wrongpw: backups", Fail, "wrong password or no key found", "check password_file")
	expect(t, checks, "missing: backups", Fail, "Is there a repository at the following location?", "alexandria-backup init missing")
	expect(t, checks, "leaky: password_file "+filepath.Join(dir, "leaky.pass"), Fail, "mode 0644: group or others may read it; until it is fixed, doctor does not check the backups of leaky", "chmod 600 "+filepath.Join(dir, "leaky.pass"))
	for _, c := range checks {
		if strings.Contains(c.String(), "never-shown") {
			t.Errorf("a secret in %s", c)
		}
	}

	if rep, err := p.Run(ctx, "all", plan.RunOptions{}, rt); err != nil || rep.Status != plan.StatusOK {
		t.Fatalf("run: %v %+v", err, rep)
	}
	// Space below the minimum is a warning, not a failure.
	checks = doctor(t, p, Options{MinFree: 1 << 60})
	expect(t, checks, "good: backups", OK, "1, newest "+time.Now().UTC().Format("2006-01-02"), "")
	expect(t, checks, "good: free space in "+filepath.Join(dir, "repo"), Warn, "free, less than at least 1.0 EiB", "free some space")
	if _, err := os.Stat(filepath.Join(dir, "nothing-here")); err == nil {
		t.Error("doctor created the missing repository")
	}
}

// The database: reachable with a new enough pg_dump, or refused with the
// reason; dumps want room for twice the last one.
func TestDatabase(t *testing.T) {
	requireTool(t, "pg_dump")
	srv := pgserver.ForTest(t)
	ctx := context.Background()
	if err := srv.CreateDatabase(ctx, "library"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	p := loadPlan(t, dir, `
state_dir = "DIR/state"
[targets.db]
driver = "pg_dump"
database = "`+srv.URL("library")+`"
dir = "DIR/dumps"
[targets.down]
driver = "pg_dump"
database = "postgres://nobody@127.0.0.1:1/none"
dir = "DIR/dumps-down"
[plans.all]
targets = ["db"]
`)
	checks := doctor(t, p, Options{})
	expect(t, checks, "tools pg_dump", OK, "pg_dump (PostgreSQL) ", "")
	expect(t, checks, "db: database", OK, "reachable; pg_dump (PostgreSQL) ", "")
	expect(t, checks, "down: database", Fail, "connecting to the database: failed to connect to `user=nobody database=none`: 127.0.0.1:1", "is the server running and reachable from here?")
	expect(t, checks, "db: backups", Warn, "none of this target yet", "")

	if rep, err := p.Run(ctx, "all", plan.RunOptions{}, plan.Runtime{Exec: proc.ProcessExecutor{}}); err != nil || rep.Status != plan.StatusOK {
		t.Fatalf("run: %v %+v", err, rep)
	}
	snaps, err := p.Snapshots(ctx, p.Targets["db"], plan.Runtime{Exec: proc.ProcessExecutor{}})
	if err != nil || len(snaps) != 1 {
		t.Fatal(snaps, err)
	}
	checks = doctor(t, p, Options{MinFree: 1})
	expect(t, checks, "db: free space in "+filepath.Join(dir, "dumps"), OK, "free", "")
	// A minimum below the dump size: twice the last dump is what counts.
	var st = checks["db: free space in "+filepath.Join(dir, "dumps")]
	if strings.Contains(st.Detail, "less than") {
		t.Fatalf("a dump of %d bytes does not fit? %s", snaps[0].Bytes, st)
	}
}

// Tools: too old, or missing, each with what to install.
func TestTools(t *testing.T) {
	bin := t.TempDir()
	writeFile(t, filepath.Join(bin, "restic"), "#!/bin/sh\necho 'restic 0.9.6 compiled with go1.13 on linux/amd64'\n", 0o755)
	t.Setenv("PATH", bin)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "pass"), "x\n", 0o600)
	p := loadPlan(t, dir, `
state_dir = "DIR/state"
[targets.files]
driver = "restic"
repository = "DIR/repo"
password_file = "DIR/pass"
paths = ["DIR"]
[targets.files-borg]
driver = "borg"
repository = "backup@server:/srv/borg"
passphrase_file = "DIR/pass"
paths = ["DIR"]
`)
	targets, _ := p.Pick(nil, "")
	checks := map[string]Check{}
	r := &run{o: Options{Exec: proc.ProcessExecutor{}, Timeout: time.Minute}}
	r.tools(context.Background(), targets)
	for _, c := range r.checks {
		t.Log(c)
		checks[c.Subject] = c
	}
	expect(t, checks, "tools restic", Fail, "restic 0.9.6 is too old; 0.14 or newer is needed", "install a supported version of restic")
	expect(t, checks, "tools borg", Fail, `"borg": executable file not found`, "install borgbackup (apt-get install borgbackup)")
	// borg reaches its repository over ssh.
	expect(t, checks, "tools ssh", Fail, "needed by target files-borg", "install openssh-client")
}

// pg_dump's tools are checked where they run: on this host for a target
// without exec_prefix, and behind each different prefix.
func TestToolsBehindPrefix(t *testing.T) {
	bin := t.TempDir()
	writeFile(t, filepath.Join(bin, "pg_dump"), "#!/bin/sh\necho 'pg_dump (PostgreSQL) 15.8'\n", 0o755)
	writeFile(t, filepath.Join(bin, "pg_restore"), "#!/bin/sh\necho 'pg_restore (PostgreSQL) 15.8'\n", 0o755)
	container := writeFile(t, filepath.Join(bin, "in-container"), "#!/bin/sh\necho \"$2 (PostgreSQL) 17.2 (in the container)\"\n", 0o755)
	t.Setenv("PATH", bin)
	dir := t.TempDir()
	p := loadPlan(t, dir, `
state_dir = "DIR/state"
[targets.here]
driver = "pg_dump"
database = "postgres://app@localhost/app"
dir = "DIR/here"
[targets.there]
driver = "pg_dump"
database = "postgres://app@localhost/app"
dir = "DIR/there"
exec_prefix = ["`+container+`", "db"]
[targets.there-too]
driver = "pg_dump"
database = "postgres://app@localhost/other"
dir = "DIR/there-too"
exec_prefix = ["`+container+`", "db"]
[targets.nowhere]
driver = "pg_dump"
database = "postgres://app@localhost/app"
dir = "DIR/nowhere"
exec_prefix = ["docker", "exec", "db"]
`)
	targets, _ := p.Pick(nil, "")
	checks := map[string]Check{}
	r := &run{o: Options{Exec: proc.ProcessExecutor{}, Timeout: time.Minute}}
	r.tools(context.Background(), targets)
	for _, c := range r.checks {
		t.Log(c)
		checks[c.Subject] = c
	}
	expect(t, checks, "tools pg_dump", OK, "pg_dump (PostgreSQL) 15.8; pg_restore (PostgreSQL) 15.8", "")
	expect(t, checks, "tools pg_dump (through "+container+" db)", OK, "pg_dump (PostgreSQL) 17.2 (in the container); pg_restore (PostgreSQL) 17.2 (in the container)", "")
	expect(t, checks, "tools pg_dump (through docker exec db)", Fail, `"docker": executable file not found`, "check that `docker exec db` runs, and install postgresql-client")
	if len(r.checks) != 3 {
		t.Errorf("%d tool checks, want one per place the tools run (3)", len(r.checks))
	}
}

func TestSecretFiles(t *testing.T) {
	dir := t.TempDir()
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(nobody.Uid)
	me := userName(os.Geteuid())
	for _, tc := range []struct {
		name     string
		mode     os.FileMode
		content  string
		password bool
		setup    func(path string)
		status   Status
		detail   string
		fix      string
	}{
		{name: "ok", mode: 0o600, content: "pw\n", password: true, status: OK, detail: "mode 0600, owner " + me},
		{name: "readonly", mode: 0o400, content: "pw\n", password: true, status: OK, detail: "mode 0400"},
		{name: "group", mode: 0o640, content: "pw\n", password: true, status: Fail, detail: "mode 0640: group or others may read it", fix: "chmod 600"},
		{name: "others", mode: 0o604, content: "pw\n", password: true, status: Fail, detail: "mode 0604"},
		{name: "groupwrite", mode: 0o620, content: "pw\n", password: true, status: Fail, detail: "mode 0620"},
		{name: "empty", mode: 0o600, content: "\n", password: true, status: Fail, detail: "empty", fix: "write the secret into it"},
		{name: "emptykey", mode: 0o600, content: "", password: false, status: OK, detail: "mode 0600"},
		{name: "missing", status: Fail, detail: "missing", fix: "create it (mode 0600) or fix password_file"},
		{name: "adir", setup: func(p string) { os.Mkdir(p, 0o700) }, status: Fail, detail: "not a regular file"},
		{name: "foreign", mode: 0o600, content: "pw\n", password: true, setup: func(p string) { os.Chown(p, uid, -1) },
			status: Warn, detail: "owned by nobody, who may read or replace it; the tool runs as " + me, fix: "chown " + me},
	} {
		path := filepath.Join(dir, tc.name)
		if tc.mode != 0 {
			writeFile(t, path, tc.content, tc.mode)
		}
		if tc.setup != nil {
			tc.setup(path)
		}
		if tc.name == "foreign" && os.Geteuid() != 0 {
			continue // only root can give a file away
		}
		c := secretFile(planpaths.Secret{Target: "t", Key: "password_file", Path: path, Password: tc.password})
		if c.Status != tc.status || !strings.Contains(c.Detail, tc.detail) || !strings.Contains(c.Fix, tc.fix) {
			t.Errorf("%s: %s, want %s %q (fix %q)", tc.name, c, tc.status, tc.detail, tc.fix)
		}
	}
}

// Whoever may change the plan file may make this tool run commands.
func TestPlanFile(t *testing.T) {
	dir := t.TempDir()
	p := loadPlan(t, dir, `
[notify]
ping_url = "https://hc-ping.com/secret-token"
[targets.files]
driver = "rsync"
source = "DIR/src/"
destination = "DIR/dst/"
`)
	for _, tc := range []struct {
		mode   os.FileMode
		uid    int
		status Status
		detail string
	}{
		{0o600, -1, OK, "mode 0600"},
		{0o644, -1, Fail, "mode 0644: group or others may read it, and it holds secrets (notify.ping_url); validate and run refuse it"},
		{0o664, -1, Fail, "mode 0664: group or others may change it"},
		{0o600, 65534, Fail, "owned by nobody, who may change the commands this tool runs"},
	} {
		if tc.uid >= 0 && os.Geteuid() != 0 {
			continue
		}
		os.Chmod(p.Path, tc.mode)
		os.Chown(p.Path, tc.uid, -1)
		r := &run{}
		r.planFile(p)
		if c := r.checks[0]; c.Status != tc.status || !strings.Contains(c.Detail, tc.detail) {
			t.Errorf("mode %04o uid %d: %s, want %s %q", tc.mode, tc.uid, c, tc.status, tc.detail)
		}
		os.Chown(p.Path, os.Geteuid(), -1)
	}
}

// The run lock: no line before anything ran, free, held by a run (named by
// pid, command and start time), and a warning once it has been held longer
// than a day or the longest target timeout.
func TestRunLock(t *testing.T) {
	dir := t.TempDir()
	p := loadPlan(t, dir, `
state_dir = "DIR/state"
[targets.db]
driver = "pg_dump"
database = "postgres://nobody@127.0.0.1:1/none"
dir = "DIR/dumps"
timeout = "48h"
[plans.all]
targets = ["db"]
`)
	path := filepath.Join(dir, "state", "lock")
	subject := "run lock " + path
	// Only the checks of the plan and state_dir: no target is reached.
	checks := func() map[string]Check {
		out := map[string]Check{}
		for _, c := range Run(context.Background(), p, nil, Options{}) {
			t.Log(c)
			out[c.Subject] = c
		}
		return out
	}
	if c, ok := checks()[subject]; ok {
		t.Errorf("a run lock line before anything ran: %s", c)
	}
	if _, err := os.Stat(path); err == nil {
		t.Fatal("doctor created the lock file")
	}

	os.MkdirAll(filepath.Dir(path), 0o700)
	acquire := func(h runlock.Holder) *runlock.Lock {
		t.Helper()
		l, err := runlock.Acquire(context.Background(), path, h, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Release() })
		return l
	}
	l := acquire(runlock.Me("run nightly"))
	expect(t, checks(), subject, OK, fmt.Sprintf("held by pid %d (run nightly), started 20", os.Getpid()), "")
	expect(t, checks(), subject, OK, "ago): a run is in progress", "")
	l.Release()
	expect(t, checks(), subject, OK, "free", "")

	// Within the target's timeout of 48h: still just a long run.
	h := runlock.Me("run weekly")
	h.StartedAt = time.Now().Add(-30 * time.Hour).UTC().Truncate(time.Second)
	l = acquire(h)
	expect(t, checks(), subject, OK, fmt.Sprintf("held by pid %d (run weekly), started %s", os.Getpid(), h.StartedAt.Format(time.RFC3339)), "")
	l.Release()
	h.StartedAt = time.Now().Add(-50 * time.Hour).UTC().Truncate(time.Second)
	acquire(h)
	c := checks()[subject]
	expect(t, checks(), subject, Warn, "longer than 48h0m0s, and until it ends every run exits 75 or waits",
		fmt.Sprintf("see what pid %d does: ps -o pid,etime,args -p %d; if it hangs", os.Getpid(), os.Getpid()))
	if !strings.Contains(c.String(), fmt.Sprintf("warn  run lock %s: held by pid %d (run weekly), started ", path, os.Getpid())) {
		t.Errorf("line %q", c)
	}
}

// slowExec answers every command after a pause, counting how many run at
// once.
type slowExec struct {
	mu        sync.Mutex
	now, most int
}

func (x *slowExec) Run(ctx context.Context, c proc.Command) (proc.Result, error) {
	x.mu.Lock()
	x.now++
	x.most = max(x.most, x.now)
	x.mu.Unlock()
	time.Sleep(20 * time.Millisecond)
	x.mu.Lock()
	x.now--
	x.mu.Unlock()
	return proc.Result{Command: c.String(), Stdout: []byte("[]")}, nil
}

// Targets are checked side by side, yet the checks come out in the plan's
// order, as they are reported, and a secret file shared by several
// targets is reported once.
func TestTargetsCheckedSideBySide(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "restic.pass"), "pw\n", 0o600)
	var src strings.Builder
	src.WriteString("state_dir = \"DIR/state\"\n")
	var names []string
	for i := range 12 {
		name := fmt.Sprintf("lib%02d", i)
		names = append(names, `"`+name+`"`)
		fmt.Fprintf(&src, "[targets.%s]\ndriver = \"restic\"\nrepository = \"DIR/repo%d\"\npassword_file = \"DIR/restic.pass\"\npaths = [\"DIR\"]\n", name, i)
	}
	fmt.Fprintf(&src, "[plans.all]\ntargets = [%s]\n", strings.Join(names, ", "))
	p := loadPlan(t, dir, src.String())
	targets, err := p.Pick(nil, "")
	if err != nil {
		t.Fatal(err)
	}
	x := &slowExec{}
	var reported []Check
	checks := Run(context.Background(), p, targets, Options{Exec: x, Timeout: time.Minute, Report: func(c Check) { reported = append(reported, c) }})
	if x.most < 2 {
		t.Errorf("at most %d target checked at once, want them side by side", x.most)
	}
	if len(reported) != len(checks) {
		t.Fatalf("%d checks reported, %d returned", len(reported), len(checks))
	}
	var order []string
	secrets := 0
	for i, c := range checks {
		if reported[i].String() != c.String() {
			t.Fatalf("check %d reported as %v, returned as %v", i, reported[i], c)
		}
		if strings.HasSuffix(c.Subject, ": backups") {
			order = append(order, strings.TrimSuffix(c.Subject, ": backups"))
		}
		if strings.Contains(c.Subject, "restic.pass") {
			secrets++
		}
	}
	if !slices.IsSorted(order) || len(order) != 12 {
		t.Errorf("targets' checks in order %v, want the plan's 12 in order", order)
	}
	if secrets != 1 {
		t.Errorf("the shared password file was reported %d times, want once", secrets)
	}
}

// A copy of a restic repository (rclone) is drilled with restic: doctor
// of that target alone checks restic too.
func TestToolsOfARepositoryCopy(t *testing.T) {
	bin := t.TempDir()
	writeFile(t, filepath.Join(bin, "rclone"), "#!/bin/sh\necho 'rclone v1.60.1'\n", 0o755)
	t.Setenv("PATH", bin)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "pass"), "x\n", 0o600)
	p := loadPlan(t, dir, `
state_dir = "DIR/state"
[targets.files]
driver = "restic"
repository = "DIR/repo"
password_file = "DIR/pass"
paths = ["DIR"]
[targets.offsite]
driver = "rclone"
source = "DIR/repo/"
destination = "b2:bucket/repo"
`)
	targets, err := p.Pick([]string{"offsite"}, "")
	if err != nil || len(targets) != 1 {
		t.Fatalf("pick: %v %v", targets, err)
	}
	r := &run{o: Options{Exec: proc.ProcessExecutor{}, Timeout: time.Minute}}
	r.tools(context.Background(), targets)
	checks := map[string]Check{}
	for _, c := range r.checks {
		t.Log(c)
		checks[c.Subject] = c
	}
	expect(t, checks, "tools rclone", OK, "rclone v1.60.1", "")
	expect(t, checks, "tools restic", Fail, `"restic": executable file not found`, "install restic")
}

// What a target backs up, in every shape that fails a run or makes it
// back up nothing: each named by target, key and path; an empty
// directory a warning (unless allow_empty_source), never an "ok".
func TestSources(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "pass"), "pw\n", 0o600)
	full := filepath.Join(dir, "full")
	writeFile(t, filepath.Join(full, "book.txt"), "x", 0o644)
	afile := writeFile(t, filepath.Join(dir, "afile"), "x", 0o644)
	empty := filepath.Join(dir, "empty")
	os.Mkdir(empty, 0o755)
	os.Symlink(filepath.Join(dir, "gone"), filepath.Join(dir, "dangling"))
	for _, tc := range []struct {
		name, driver, key, path, extra string
		status                         Status
		detail, fix                    string
	}{
		{name: "missing path", driver: "restic", key: "paths", path: "DIR/nope", status: Fail, detail: "missing", fix: "fix targets.t.paths"},
		{name: "path under a file", driver: "restic", key: "paths", path: "DIR/afile/sub", status: Fail, detail: "not a directory"},
		{name: "dangling symlink", driver: "borg", key: "paths", path: "DIR/dangling", status: Fail, detail: "missing"},
		{name: "empty dir", driver: "restic", key: "paths", path: "DIR/empty", status: Warn, detail: "an unmounted disk looks like this", fix: "allow_empty_source"},
		{name: "empty dir, allowed", driver: "restic", key: "paths", path: "DIR/empty", extra: "allow_empty_source = true\n", status: OK, detail: "1 present and readable"},
		{name: "full dir", driver: "borg", key: "paths", path: "DIR/full", status: OK, detail: "1 present and readable: " + full},
		{name: "a file", driver: "restic", key: "paths", path: afile, status: OK, detail: "1 present and readable"},
		{name: "rsync missing source", driver: "rsync", key: "source", path: "DIR/nope/", status: Fail, detail: "missing", fix: "fix targets.t.source"},
		{name: "rsync empty source", driver: "rsync", key: "source", path: "DIR/empty/", status: Warn, detail: "unmounted disk"},
		{name: "rclone missing source", driver: "rclone", key: "source", path: "DIR/nope", status: Fail, detail: "missing"},
		{name: "rclone remote source", driver: "rclone", key: "source", path: "remote:bucket", status: "", detail: ""},
		{name: "restic exclude_file missing", driver: "restic", key: "exclude_file", path: "DIR/excl", status: Fail, detail: "missing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var src string
			switch tc.driver {
			case "restic", "borg":
				pw := map[string]string{"restic": "password_file", "borg": "passphrase_file"}[tc.driver]
				src = fmt.Sprintf("[targets.t]\ndriver = %q\nrepository = \"DIR/repo\"\n%s = \"DIR/pass\"\npaths = [%q]\n", tc.driver, pw, "DIR/full")
				if tc.key == "paths" {
					src = strings.Replace(src, `"DIR/full"`, fmt.Sprintf("%q", tc.path), 1)
				} else {
					src += fmt.Sprintf("%s = [%q]\n", tc.key, tc.path)
				}
			default:
				src = fmt.Sprintf("[targets.t]\ndriver = %q\nsource = %q\ndestination = \"DIR/mirror\"\n", tc.driver, tc.path)
			}
			p := loadPlan(t, dir, "state_dir = \"DIR/state\"\n"+src+tc.extra)
			targets, _ := p.Pick(nil, "")
			r := &run{o: Options{}, written: written(p)}
			r.sources(targets[0])
			path := strings.ReplaceAll(tc.path, "DIR", dir)
			var got *Check
			for i, c := range r.checks {
				t.Log(c)
				if c.Status != OK && c.Name != tc.key+" "+path {
					t.Errorf("check %q, want it to name the key and path %q", c.Name, tc.key+" "+path)
				}
				if !slices.Equal(c.Targets, []string{"t"}) {
					t.Errorf("check %v about %v, want target t", c, c.Targets)
				}
				if c.Status != OK || (c.Name == "sources" && got == nil) {
					got = &r.checks[i]
				}
			}
			switch {
			case tc.status == "" && len(r.checks) != 0:
				t.Errorf("a remote source checked: %v", r.checks)
			case tc.status == "":
			case got == nil:
				t.Fatalf("no check of %s", path)
			case got.Status != tc.status || !strings.Contains(got.Detail, tc.detail) || !strings.Contains(got.Fix, tc.fix):
				t.Errorf("%s, want %s %q (fix %q)", got, tc.status, tc.detail, tc.fix)
			}
		})
	}
}

// A source that another target of the plan writes (a mirror of a
// repository not created yet) is no lost disk: a warning that says who
// writes it.
func TestSourceWrittenByThePlan(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "pass"), "pw\n", 0o600)
	os.Mkdir(filepath.Join(dir, "data"), 0o755)
	writeFile(t, filepath.Join(dir, "data", "f"), "x", 0o644)
	p := loadPlan(t, dir, `
state_dir = "DIR/state"
[targets.files]
driver = "restic"
repository = "DIR/repo"
password_file = "DIR/pass"
paths = ["DIR/data"]
[targets.offsite]
driver = "rclone"
source = "DIR/repo/"
destination = "b2:bucket/repo"
`)
	targets, _ := p.Pick([]string{"offsite"}, "")
	r := &run{written: written(p)}
	r.sources(targets[0])
	if len(r.checks) != 1 || r.checks[0].Status != Warn || !strings.Contains(r.checks[0].Detail, "repository of files") {
		t.Errorf("got %v, want one warning naming the repository of files", r.checks)
	}
}

// A secret file missing, named by two targets: one line naming both (it
// was said twice, and once more by each tool that could not read it);
// the checks that need it are not run, and the line says so. Then the
// summary of a plan whose sources are missing is never all ok.
func TestFindingsOnce(t *testing.T) {
	requireTool(t, "restic")
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "data"), 0o755)
	writeFile(t, filepath.Join(dir, "data", "f"), "x", 0o644)
	p := loadPlan(t, dir, `
state_dir = "DIR/state"
[targets.a]
driver = "restic"
repository = "DIR/repo-a"
password_file = "DIR/missing-pass"
paths = ["DIR/data"]
[targets.b]
driver = "restic"
repository = "DIR/repo-b"
password_file = "DIR/missing-pass"
paths = ["DIR/gone"]
`)
	targets, _ := p.Pick(nil, "")
	checks := Run(context.Background(), p, targets, Options{Exec: proc.ProcessExecutor{}, Timeout: time.Minute})
	mentions := 0
	for _, c := range checks {
		t.Log(c)
		if strings.Contains(c.String(), "missing-pass") {
			mentions++
			if !slices.Equal(c.Targets, []string{"a", "b"}) || c.Status != Fail || !strings.Contains(c.Detail, "does not check the backups of a, nor the backups of b") {
				t.Errorf("%v: want one failure about a and b that says what it leaves unchecked", c)
			}
		}
		if c.Name == "backups" {
			t.Errorf("%v: checked without its password file", c)
		}
	}
	if mentions != 1 {
		t.Errorf("the missing password file is mentioned %d times, want once", mentions)
	}
	rep := Report(checks, time.Second)
	if rep.Summary.Fail != 2 || rep.Summary.OK+rep.Summary.Warn+rep.Summary.Fail != len(checks) || rep.Summary.Seconds != 1 {
		t.Errorf("summary %+v of %d checks, want 2 failed (the password file, b's paths)", rep.Summary, len(checks))
	}
	for _, c := range rep.Checks {
		if c.Status != "ok" && c.Status != "warn" && c.Status != "fail" || c.Targets == nil {
			t.Errorf("JSON check %+v: status must be ok, warn or fail, targets a list", c)
		}
	}
}

// Sources the user running doctor may not read: a closed directory, a
// closed file, a directory it may list but not enter, a path behind a
// closed directory. Root reads them all, so as root the checks run in
// this test's binary again as nobody (setpriv).
func TestUnreadableSource(t *testing.T) {
	if dir := os.Getenv("DOCTOR_UNREADABLE_DIR"); dir != "" {
		checkUnreadable(t, dir)
		return
	}
	dir := t.TempDir()
	mk := func(path string, mode os.FileMode, dir bool) {
		if dir {
			os.Mkdir(path, 0o755)
			writeFile(t, filepath.Join(path, "f"), "x", 0o644)
		} else {
			writeFile(t, path, "x", 0o644)
		}
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
	}
	mk(filepath.Join(dir, "closed"), 0, true)
	mk(filepath.Join(dir, "closed-file"), 0, false)
	mk(filepath.Join(dir, "no-search"), 0o644, true)
	t.Cleanup(func() {
		os.Chmod(filepath.Join(dir, "closed"), 0o755)
		os.Chmod(filepath.Join(dir, "no-search"), 0o755)
	})
	if os.Geteuid() != 0 {
		checkUnreadable(t, dir)
		return
	}
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("root, and no setpriv to check as another user")
	}
	// nobody must reach dir and run this test's binary from there.
	for p := dir; p != "/" && p != os.TempDir(); p = filepath.Dir(p) {
		os.Chmod(p, 0o755)
	}
	self, _ := os.Executable()
	bin := filepath.Join(dir, "doctor.test")
	if out, err := exec.Command("cp", self, bin).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	os.Chmod(bin, 0o755)
	cmd := exec.Command("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", bin, "-test.run=^TestUnreadableSource$", "-test.v")
	cmd.Env = append(os.Environ(), "DOCTOR_UNREADABLE_DIR="+dir)
	out, err := cmd.CombinedOutput()
	t.Logf("as nobody:\n%s", out)
	if err != nil || !strings.Contains(string(out), "4 unreadable sources failed") {
		t.Errorf("as nobody: %v", err)
	}
}

func checkUnreadable(t *testing.T, dir string) {
	failed := 0
	for _, tc := range []struct{ path, fix string }{
		{"closed", "make it readable"},
		{"closed-file", "make it readable"},
		{"no-search", "make it readable"},
		{"closed/f", "and the directories above it"},
	} {
		c := sourceCheck(drivers.Path{Path: filepath.Join(dir, tc.path), Key: "paths", Source: true}, "")
		if c.Status != Fail || !strings.Contains(c.Detail, "not readable") || !strings.Contains(c.Detail, "permission denied") || !strings.Contains(c.Fix, tc.fix) {
			t.Errorf("%s: %s, want a failure: not readable (fix %q)", tc.path, c, tc.fix)
			continue
		}
		failed++
	}
	t.Logf("%d unreadable sources failed", failed)
}
