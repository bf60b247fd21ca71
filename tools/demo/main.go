// Command demo builds a throw-away Alexandria installation and backs it up
// with alexandria-backup; it is what `make demo` runs:
//
//	go run ./tools/demo -bin ./bin/alexandria-backup -dir ./sandbox [-books 2000] [-seed 1]
//
// It (re)creates DIR, starts a private PostgreSQL server in DIR/pg, loads
// a generated library database and writes the matching library files to
// DIR/library, writes a plan to DIR/alexandria-backup.toml, then runs
// `alexandria-backup init`, `run weekly --json`, `run monthly --json` and
// `drill --json`; then it loses the server (drops the database, deletes
// the library and state_dir) and runs `recover --yes --json`.
// The run's logs stream to stderr and its JSON report goes to stdout, so
// `make demo > report.json` captures just the report; everything this
// program says itself goes to stderr. PostgreSQL is stopped on the way out
// (also on errors and SIGINT/SIGTERM), and the exit code is the run's.
//
// Build it rather than `go run` it when the exit code or signals matter:
// `go run` reports any non-zero exit as 1 ("exit status 3") and does not
// pass a SIGTERM sent to it on to the program.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/alexandria-backup/alexandria-backup/internal/testenv/pgserver"
	"github.com/alexandria-backup/alexandria-backup/internal/testenv/sandbox"
)

// markerName marks a directory as created by this program. Only such a
// directory (or an empty one) is deleted: -dir pointing at the wrong place
// must not cost anyone their files.
const markerName = ".alexandria-sandbox"

// Exit codes of the demo's own failures; otherwise it exits with the
// code of alexandria-backup (0 ok, 1 failed, 2 invalid plan, 3 warnings).
const (
	exitFailed = 1
	exitUsage  = 2
)

func main() {
	os.Exit(run())
}

// signalCause is the context cancellation cause when a signal arrives, so
// the code that notices can forward the same signal and exit with 128+n.
type signalCause struct{ sig syscall.Signal }

func (s signalCause) Error() string { return "received " + s.sig.String() }

func run() int {
	bin := flag.String("bin", "./bin/alexandria-backup", "alexandria-backup binary to demonstrate")
	dirFlag := flag.String("dir", "./sandbox", "sandbox directory; deleted and recreated")
	books := flag.Int("books", 2000, "number of books in the generated library")
	seed := flag.Int64("seed", 1, "seed for the generated data (same seed, same data)")
	flag.Parse()
	if flag.NArg() > 0 || *books < 1 {
		flag.Usage()
		return exitUsage
	}

	// First SIGINT/SIGTERM: cancel, let the child finish cleanly, stop
	// PostgreSQL. After that the default action applies again, so a
	// second Ctrl-C ends the demo at once (PostgreSQL then dies through
	// its parent-death signal).
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		s := <-sigs
		signal.Stop(sigs)
		logf("%v: stopping", s)
		cancel(signalCause{s.(syscall.Signal)})
	}()

	code, err := demo(ctx, *bin, *dirFlag, *books, *seed)
	if err != nil {
		logf("error: %v", err)
		var sc signalCause
		if errors.As(context.Cause(ctx), &sc) {
			return 128 + int(sc.sig)
		}
	}
	return code
}

// demo does the work; the returned code is the process exit code.
func demo(ctx context.Context, bin, dir string, books int, seed int64) (int, error) {
	bin, err := filepath.Abs(bin)
	if err != nil {
		return exitUsage, err
	}
	// Fail before the slow set-up if there is nothing to demonstrate.
	if fi, err := os.Stat(bin); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
		return exitUsage, fmt.Errorf("%s is not an executable file (build it first, e.g. `make build`)", bin)
	}
	dir, err = filepath.Abs(dir)
	if err != nil {
		return exitUsage, err
	}
	if err := resetDir(dir); err != nil {
		return exitUsage, err
	}

	t := time.Now()
	srv, err := pgserver.Start(ctx, filepath.Join(dir, "pg"))
	if err != nil {
		return exitFailed, err
	}
	defer func() {
		if err := srv.Stop(); err != nil {
			logf("%v", err)
		}
	}()
	logf("PostgreSQL ready in %.1fs on 127.0.0.1:%d and %s", time.Since(t).Seconds(), srv.Port(), srv.Host())

	t = time.Now()
	if err := srv.CreateDatabase(ctx, "alexandria"); err != nil {
		return exitFailed, err
	}
	counts, err := sandbox.LoadSchema(ctx, srv.ConnString("alexandria"), books, seed)
	if err != nil {
		return exitFailed, err
	}
	var rows int64
	for _, n := range counts {
		rows += n
	}
	logf("database alexandria: %d tables, %d rows (%d books, %d users) in %.1fs",
		len(counts), rows, counts["public.books"], counts["public.users"], time.Since(t).Seconds())

	t = time.Now()
	library := filepath.Join(dir, "library")
	files, size, err := sandbox.GenerateLibrary(library, books, seed)
	if err != nil {
		return exitFailed, err
	}
	logf("library: %d files, %.1f MiB in %.1fs", files, float64(size)/(1<<20), time.Since(t).Seconds())

	secrets := filepath.Join(dir, "secrets")
	passFile, err := writeSecret(secrets, "restic.pass")
	if err != nil {
		return exitFailed, err
	}
	borgPass, err := writeSecret(secrets, "borg.pass")
	if err != nil {
		return exitFailed, err
	}
	// An rclone config of the sandbox's own, so rclone never reads (or
	// warns about) the user's; the "offsite" is a local directory here.
	rcloneConf := filepath.Join(secrets, "rclone.conf")
	if err := os.WriteFile(rcloneConf, nil, 0o600); err != nil {
		return exitFailed, err
	}
	config := filepath.Join(dir, "alexandria-backup.toml")
	plan := planTOML(dir, srv.URL("alexandria"), passFile, borgPass, rcloneConf)
	if err := os.WriteFile(config, []byte(plan), 0o644); err != nil {
		return exitFailed, err
	}

	// init's stdout goes to stderr too: stdout is reserved for the report.
	logf("$ %s", shellJoin(bin, "--config", config, "init"))
	if code, err := runCLI(ctx, os.Stderr, bin, "--config", config, "init"); err != nil {
		return exitFailed, err
	} else if code != 0 && code != 3 {
		return code, fmt.Errorf("init exited with code %d", code)
	}

	// The seed guide's strategy: the weekly run (database, library to
	// restic and borg, the rsync mirror), then the monthly offsite copy.
	code := 0
	for _, p := range []string{"weekly", "monthly"} {
		logf("$ %s", shellJoin(bin, "--config", config, "run", p, "--json"))
		t = time.Now()
		c, err := runCLI(ctx, os.Stdout, bin, "--config", config, "run", p, "--json")
		if err != nil {
			return exitFailed, err
		}
		logf("run %s finished in %.1fs with exit code %d", p, time.Since(t).Seconds(), c)
		code = max(code, c)
		if c != 0 && c != 3 {
			break
		}
	}

	// A backup you haven't tested is not a backup: prove on the first
	// day that every target restores.
	if code == 0 || code == 3 {
		logf("$ %s", shellJoin(bin, "--config", config, "drill", "--json"))
		t = time.Now()
		c, err := runCLI(ctx, os.Stdout, bin, "--config", config, "drill", "--json")
		if err != nil {
			return exitFailed, err
		}
		logf("drill finished in %.1fs with exit code %d", time.Since(t).Seconds(), c)
		code = max(code, c)
	}

	// The guide's worst case: the server is lost. The database, the
	// library's files and state_dir go; `recover` brings the database and
	// the library back from one recovery point, found in the repositories
	// themselves, and proves both.
	if code == 0 || code == 3 {
		c, err := loseTheServer(ctx, srv, bin, config, dir)
		if err != nil {
			return exitFailed, err
		}
		code = max(code, c)
	}

	if context.Cause(ctx) == nil { // an interrupted run has nothing to explore
		summary(bin, config, dir, passFile)
	}
	return code, nil
}

// loseTheServer drops the sandbox's database and deletes its library and
// state_dir, then runs `recover --yes --json` and returns its exit code.
func loseTheServer(ctx context.Context, srv *pgserver.Server, bin, config, dir string) (int, error) {
	library, state := filepath.Join(dir, "library"), filepath.Join(dir, "state")
	logf("losing the server: dropping database alexandria, deleting %s and %s", library, state)
	if err := srv.Exec(ctx, "postgres", "DROP DATABASE alexandria WITH (FORCE)"); err != nil {
		return exitFailed, err
	}
	for _, d := range []string{library, state} {
		if err := os.RemoveAll(d); err != nil {
			return exitFailed, err
		}
	}
	logf("$ %s", shellJoin(bin, "--config", config, "recover", "--yes", "--json"))
	t := time.Now()
	c, err := runCLI(ctx, os.Stdout, bin, "--config", config, "recover", "--yes", "--json")
	if err != nil {
		return exitFailed, err
	}
	logf("recover finished in %.1fs with exit code %d", time.Since(t).Seconds(), c)
	return c, nil
}

// resetDir empties dir for a new sandbox, refusing to delete a directory
// that has content but no marker file, and leaves a fresh marker.
func resetDir(dir string) error {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return err
	case len(entries) == 0:
	default:
		if _, err := os.Stat(filepath.Join(dir, markerName)); err != nil {
			return fmt.Errorf("refusing to delete %s: it is not empty and has no %s marker, so it was not made by this demo", dir, markerName)
		}
		logf("removing the previous sandbox %s", dir)
		if err := os.RemoveAll(dir); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	marker := "Created by alexandria-backup's tools/demo (`make demo`), which deletes and recreates this directory.\n"
	return os.WriteFile(filepath.Join(dir, markerName), []byte(marker), 0o644)
}

// writeSecret writes a fresh random password to dir/name, readable only by
// us (dir 0700, file 0600) as a real deployment's secrets would be, and
// returns the path. No trailing newline: whoever reads it gets exactly the
// password.
func writeSecret(dir, name string) (string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	if err := os.Chmod(dir, 0o700); err != nil { // MkdirAll is subject to umask
		return "", err
	}
	p := filepath.Join(dir, name)
	return p, os.WriteFile(p, []byte(rand.Text()), 0o600)
}

// planTOML renders the sandbox plan, with absolute paths: the seed guide's
// full strategy, with every driver.
func planTOML(dir, dbURL, passFile, borgPass, rcloneConf string) string {
	q := tomlString
	p := func(elem ...string) string { return q(filepath.Join(append([]string{dir}, elem...)...)) }
	return `# Alexandria sandbox plan, written by ` + "`make demo`" + `.
state_dir = ` + p("state") + `
parallel  = 2

# Daily and weekly: the database.
[targets.database]
driver   = "pg_dump"
database = ` + q(dbURL) + `
dir      = ` + p("backups", "db") + `
format   = "custom"
compress = 6
keep_last = 7

# Weekly: the library into restic...
[targets.library]
driver        = "restic"
repository    = ` + p("backups", "restic") + `
password_file = ` + q(passFile) + `
paths         = [` + p("library") + `]
exclude       = [` + p("library", ".returns") + `, "cache"]
tags          = ["alexandria"]
keep_daily    = 7
keep_weekly   = 4
keep_monthly  = 12
after         = ["database"]

# ...and into borg.
[targets.library-borg]
driver          = "borg"
repository      = ` + p("backups", "borg") + `
passphrase_file = ` + q(borgPass) + `
encryption      = "repokey-blake2"
paths           = [` + p("library") + `]
exclude         = [` + p("library", ".returns") + `, ` + p("library", "cache") + `]
compression     = "zstd,3"
keep_daily      = 7
keep_weekly     = 4
after           = ["database"]

# Weekly: a plain mirror on the "backup server" (a local directory here).
[targets.mirror]
driver      = "rsync"
source      = ` + q(filepath.Join(dir, "library")+"/") + `
destination = ` + q(filepath.Join(dir, "backups", "mirror")+"/") + `
delete      = true
max_delete  = 500
exclude     = ["/.returns/", "/cache/"]

# Monthly: the restic repository offsite (a local directory stands in for
# the cloud remote).
[targets.offsite]
driver      = "rclone"
source      = ` + p("backups", "restic") + `
destination = ` + p("offsite", "restic") + `
mode        = "sync"
config      = ` + q(rcloneConf) + `
max_delete  = 1000
after       = ["library"]

[plans.daily]
targets  = ["database"]
schedule = "daily"

[plans.weekly]
targets  = ["database", "library", "library-borg", "mirror"]
schedule = "weekly"

[plans.monthly]
targets  = ["library", "offsite"]
schedule = "monthly"
`
}

// tomlString quotes s as a TOML basic string. strconv.Quote is close but
// emits \x escapes, which TOML does not have.
func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// runCLI runs alexandria-backup with stdout going to out and stderr to
// ours, and returns its exit code. The child gets its own process group
// so a Ctrl-C in the terminal reaches it exactly once, forwarded by us
// (the terminal would otherwise signal it directly as well, and a second
// signal may mean "abort now" to it). It is told to stop with the signal
// we received, and killed only if it has not exited a minute later.
func runCLI(ctx context.Context, out *os.File, bin string, args ...string) (int, error) {
	if err := context.Cause(ctx); err != nil {
		return exitFailed, err
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout = out
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid: true,
		// If the demo is killed outright, the run is interrupted rather
		// than left running against a vanished database.
		Pdeathsig: syscall.SIGTERM,
	}
	cmd.Cancel = func() error {
		sig := syscall.SIGTERM
		var sc signalCause
		if errors.As(context.Cause(ctx), &sc) {
			sig = sc.sig
		}
		return cmd.Process.Signal(sig)
	}
	cmd.WaitDelay = time.Minute
	err := cmd.Run()
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal()), nil
		}
		return exitErr.ExitCode(), nil
	}
	if err != nil {
		return exitFailed, err
	}
	return 0, nil
}

// summary tells the user where things are and what to try next.
func summary(bin, config, dir, passFile string) {
	logf("")
	logf("sandbox        %s", dir)
	logf("plan           %s", config)
	logf("database dumps %s", filepath.Join(dir, "backups", "db"))
	logf("restic repo    %s (password in %s)", filepath.Join(dir, "backups", "restic"), passFile)
	logf("borg repo      %s", filepath.Join(dir, "backups", "borg"))
	logf("rsync mirror   %s", filepath.Join(dir, "backups", "mirror"))
	logf("offsite copy   %s (rclone)", filepath.Join(dir, "offsite", "restic"))
	if report := newestReport(filepath.Join(dir, "state")); report != "" {
		logf("run report     %s", report)
	} else {
		logf("run reports    %s", filepath.Join(dir, "state"))
	}
	logf("library        %s (%s and cache are excluded)", filepath.Join(dir, "library"), ".returns")
	logf("PostgreSQL (%s) is stopped when the demo exits.", filepath.Join(dir, "pg"))
	logf("try next:      %s", shellJoin(bin, "--config", config, "snapshots", "library"))
	logf("               %s", shellJoin(bin, "--config", config, "restore", "library", "--to", filepath.Join(dir, "restored")))
	logf("               %s", shellJoin(bin, "--config", config, "runbook"))
}

// newestReport returns the most recently written .json file under
// stateDir, "" if there is none. Where exactly the CLI keeps its reports
// is its business; this only points the user at the latest one.
func newestReport(stateDir string) string {
	var newest string
	var newestTime time.Time
	_ = filepath.WalkDir(stateDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(p) != ".json" {
			return nil
		}
		if fi, err := d.Info(); err == nil && fi.ModTime().After(newestTime) {
			newest, newestTime = p, fi.ModTime()
		}
		return nil
	})
	return newest
}

// shellJoin renders argv for copying into a shell, quoting only where
// needed.
func shellJoin(args ...string) string {
	quoted := make([]string, len(args))
	for i, a := range args {
		if a != "" && strings.Trim(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:@%+,") == "" {
			quoted[i] = a
		} else {
			quoted[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
	}
	return strings.Join(quoted, " ")
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "demo: "+format+"\n", args...)
}
