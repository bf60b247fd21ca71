// Command bench is the end-to-end benchmark of `make bench`: what an
// everyday `alexandria-backup run` costs next to the bare tool commands
// doing the same work.
//
//	go run ./tools/bench [-preset quick|standard|full] [-files N] [-db-mb MB] [-pairs P] ... > bench.md
//
// It builds, in a temporary directory, a library of -files small files
// (-min-kib to -max-kib each, content from -seed) and a PostgreSQL
// database of -db-mb (a private server, internal/testenv/pgserver), builds
// alexandria-backup, writes a plan with one target per driver (restic,
// borg, rsync mirror with delete, rclone sync, pg_dump into restic,
// pg_dump to a directory), initialises the repositories, and takes a
// first backup on every side. Then, per scenario, it runs pairs (three
// steps each, "pair" kept from when there were two): for every target,
// run = `alexandria-backup run bench --target T`, bare = bash running the
// bare tool commands that do what that run does by default (backup,
// verify, retention), and backup = bash running bare's backup command
// alone (what issue 11's everyday targets are measured against; its
// retention follows it unmeasured), each on repositories of its own that
// saw the same history. The order within a pair rotates (sideOrder), so
// no side always finds the page cache another warmed (or emptied: borg
// and rclone drop what they read from it).
//
// Scenarios: nothing changed; -change-pct of the files (and of the
// database's book rows) changed before each pair, the same change for A
// and B; and the scaling run: the library grown to twice the files, the
// same number of files changed as at N, so a run that costs what changed
// stays flat and one that costs what exists doubles.
//
// Before the scenarios, the fixed cost of a run: -fixed-pairs runs of a
// plan whose only target is a command target printing "x", against bash
// running that command (fixedPlanTOML).
//
// It prints, on stdout, Markdown ready for the README: the machine and the
// date, issue 11's targets each with its measured value and whether it is
// met (evaluate.go), then per scenario a table of medians and ranges (the
// notes it prints under the tables say what each column is). Progress goes
// to stderr. Presets: quick (2,000 files, 20 MB, 3 pairs), what `make
// bench` runs, about 7 minutes on a shared 2-CPU machine (measured with
// the three sides); standard, the default of the program (20,000 files,
// 80 MB, 6 pairs), about 16 there with two sides, so about 20 now;
// full (100,000 files of 1–16 KiB, 400 MB, 6 pairs) an hour or more. Only
// full (or -files 100000) measures the memory target, and only standard
// and full (or -db-mb 80) the pg_dump one.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/alexandria-backup/alexandria-backup/internal/testenv/benchdata"
	"github.com/alexandria-backup/alexandria-backup/internal/testenv/pgserver"
)

// presets are the sizes of -preset; flags given override them.
var presets = map[string]map[string]int{
	"quick":    {"files": 2000, "max-kib": 64, "db-mb": 20, "pairs": 3},
	"standard": {"files": 20000, "max-kib": 64, "db-mb": 80, "pairs": 6},
	"full":     {"files": 100000, "max-kib": 16, "db-mb": 400, "pairs": 6},
}

type config struct {
	preset                             string
	files, minKiB, maxKiB, dbMB, pairs int
	fixedPairs, recoverPairs           int
	changePct                          float64
	seed                               int64
	only                               []string
	scaling, keep, dryRun              bool
	bin, src, workdir                  string
}

func main() {
	os.Exit(run())
}

func run() int {
	var c config
	preset := flag.String("preset", "standard", "sizes and pairs: quick (2,000 files, 20 MB, 3 pairs: about 7 minutes on 2 CPUs), standard (20,000 files, 80 MB, 6 pairs: about 20), full (100,000 files of 1–16 KiB, 400 MB, 6 pairs: an hour or more); the flags below override it")
	flag.IntVar(&c.files, "files", 0, "files in the library (N; the scaling run adds N more)")
	flag.IntVar(&c.minKiB, "min-kib", 1, "smallest file, KiB")
	flag.IntVar(&c.maxKiB, "max-kib", 64, "largest file, KiB (sizes are uniform in between)")
	flag.IntVar(&c.dbMB, "db-mb", 0, "database size, MB (pg_database_size)")
	flag.IntVar(&c.pairs, "pairs", 0, "measured pairs (run, bare and backup) per target and scenario (a multiple of 3: each side goes first, second and third equally often)")
	flag.IntVar(&c.fixedPairs, "fixed-pairs", 30, "pairs of the fixed-cost measurement (a run of a one-command plan against bash running the command)")
	flag.Float64Var(&c.changePct, "change-pct", 1, "percent of the files and of the book rows changed before each pair of the changed scenarios")
	flag.IntVar(&c.recoverPairs, "recover-pairs", 2, "pairs of the recovery scenario (recover against the plain tools; 0: none)")
	flag.Int64Var(&c.seed, "seed", 1, "seed of all generated data")
	targetsFlag := flag.String("targets", "", "comma-separated targets to measure (default all: restic,borg,rsync,rclone,db-into-restic,db-dir)")
	flag.BoolVar(&c.scaling, "scaling", true, "also measure the 1%-changed run at 2N files")
	flag.BoolVar(&c.keep, "keep", false, "keep the work directory (its path is printed)")
	flag.BoolVar(&c.dryRun, "dry-run", false, "set up, print each target's run --dry-run next to its bare script, and stop")
	flag.StringVar(&c.bin, "bin", "", "alexandria-backup binary to measure (default: go build the module in -src)")
	flag.StringVar(&c.src, "src", ".", "module directory to build alexandria-backup from")
	flag.StringVar(&c.workdir, "workdir", "", "parent of the temporary work directory (default $TMPDIR); PostgreSQL's user must be able to reach it")
	flag.Parse()
	if flag.NArg() > 0 {
		flag.Usage()
		return 2
	}
	set := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
	p, ok := presets[*preset]
	if !ok {
		fmt.Fprintf(os.Stderr, "bench: -preset %q: quick, standard or full\n", *preset)
		return 2
	}
	c.preset = *preset
	for name, v := range map[string]*int{"files": &c.files, "max-kib": &c.maxKiB, "db-mb": &c.dbMB, "pairs": &c.pairs} {
		if !set[name] {
			*v = p[name]
		}
	}
	if *targetsFlag != "" {
		c.only = strings.Split(*targetsFlag, ",")
	}
	if c.files < 100 || c.minKiB < 1 || c.maxKiB < c.minKiB || c.dbMB < 10 || c.pairs < 1 || c.fixedPairs < 1 || c.changePct <= 0 || c.changePct > 100 {
		fmt.Fprintln(os.Stderr, "bench: need -files ≥ 100, 1 ≤ -min-kib ≤ -max-kib, -db-mb ≥ 10, -pairs ≥ 1, -fixed-pairs ≥ 1, 0 < -change-pct ≤ 100")
		return 2
	}

	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer cancel()
	if err := bench(ctx, c); err != nil {
		logf("error: %v", err)
		return 1
	}
	return 0
}

// bench is the whole benchmark.
func bench(ctx context.Context, c config) (err error) {
	work, err := os.MkdirTemp(c.workdir, "alexandria-bench-")
	if err != nil {
		return err
	}
	// PostgreSQL runs as its own user and must reach work/pg.
	if err := os.Chmod(work, 0o755); err != nil {
		return err
	}
	defer func() {
		if c.keep || c.dryRun {
			logf("work directory kept: %s", work)
			return
		}
		logf("removing the work directory %s", work)
		if rmErr := os.RemoveAll(work); rmErr != nil && err == nil {
			err = rmErr
		}
	}()
	l := newLayout(work)
	for _, d := range []string{l.library, filepath.Join(l.home, "run"), filepath.Join(l.home, "bare"), filepath.Join(l.home, "backup"),
		l.run, l.bare, l.backup, filepath.Join(l.bare, "fixed"), l.logs} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(l.secrets, 0o700); err != nil {
		return err
	}

	lib := benchdata.Library{Dir: l.library, Files: c.files, MinSize: c.minKiB << 10, MaxSize: c.maxKiB << 10, Seed: c.seed}
	if err := checkSpace(work, c); err != nil {
		return err
	}

	// The binary first: a build error should not wait for the data.
	version := "(given with -bin)"
	if c.bin == "" {
		logf("building alexandria-backup from %s", c.src)
		version = gitDescribe(c.src)
		cmd := exec.CommandContext(ctx, "go", "build", "-ldflags", "-X main.version="+version, "-o", l.bin, ".")
		cmd.Dir = c.src
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build: %v\n%s", err, out)
		}
	} else if err := copyFile(c.bin, l.bin); err != nil {
		return err
	}

	t0 := time.Now()
	srv, err := pgserver.Start(ctx, filepath.Join(work, "pg"))
	if err != nil {
		return err
	}
	defer func() {
		if err := srv.Stop(); err != nil {
			logf("%v", err)
		}
	}()
	if err := srv.CreateDatabase(ctx, "bench"); err != nil {
		return err
	}
	db, err := benchdata.BuildDatabase(ctx, srv.ConnString("bench"), int64(c.dbMB)*1e6, c.seed)
	if err != nil {
		return err
	}
	logf("database: %d books, %d reading events, %s in %.0fs", db.Books, db.Events, bytesStr(db.Bytes), time.Since(t0).Seconds())
	l.dbURL = srv.URL("bench")

	t0 = time.Now()
	libBytes, err := lib.Generate(0)
	if err != nil {
		return err
	}
	logf("library: %d files, %s in %.0fs", c.files, bytesStr(libBytes), time.Since(t0).Seconds())

	if l.host, err = os.Hostname(); err != nil {
		return err
	}
	all := targets(l)
	var ts []target
	for _, t := range all {
		if c.only == nil || slices.Contains(c.only, t.name) {
			ts = append(ts, t)
		}
	}
	for _, name := range c.only {
		if !slices.ContainsFunc(all, func(t target) bool { return t.name == name }) {
			return fmt.Errorf("-targets: no target %q", name)
		}
	}
	// The plan holds every target (pg_dump's into names the restic one);
	// only those in ts are run.
	if err := os.WriteFile(l.plan, []byte(planTOML(l, all)), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(l.fixedPlan, []byte(fixedPlanTOML(l)), 0o644); err != nil {
		return err
	}
	for _, f := range []string{l.resticPass, l.borgPass} {
		if err := os.WriteFile(f, []byte(fmt.Sprintf("bench-%d-%s", c.seed, filepath.Base(f))), 0o600); err != nil {
			return err
		}
	}
	if err := os.WriteFile(l.rcloneConf, nil, 0o600); err != nil {
		return err
	}

	b := &bencher{c: c, l: l, lib: lib, srv: srv}
	if _, err := b.step(ctx, "init", "run", []string{l.bin, "--config", l.plan, "init"}, nil); err != nil {
		return err
	}
	if _, err := b.step(ctx, "init", "run", []string{l.bin, "--config", l.fixedPlan, "init"}, nil); err != nil {
		return err
	}
	if _, err := b.step(ctx, "init", "bare", []string{"bash", "-c", bareInit},
		[]string{"RUN=" + l.run, "BARE=" + l.bare, "BACKUP=" + l.backup}); err != nil {
		return err
	}
	if c.dryRun {
		return b.printDryRun(ctx, ts)
	}

	r := report{c: c, version: version, work: work, libBytes: libBytes, db: db, started: time.Now()}
	r.machine, r.load0 = machine(work), loadavg()

	logf("fixed cost: %d pairs", c.fixedPairs)
	r.fixed, err = b.fixedCost(ctx, c.fixedPairs)
	if err != nil {
		return err
	}

	// The first backup of everything, on every side: one sample each.
	logf("first backup (everything is new)")
	r.first, err = b.pairs(ctx, ts, 1, nil)
	if err != nil {
		return err
	}

	logf("scenario: nothing changed, %d pairs", c.pairs)
	r.unchanged, err = b.pairs(ctx, ts, c.pairs, nil)
	if err != nil {
		return err
	}

	changeFiles := max(1, int(math.Round(float64(c.files)*c.changePct/100)))
	modulus := max(1, int(math.Round(100/c.changePct)))
	r.changeFiles, r.modulus = changeFiles, modulus
	round := 0
	changeFilesOnly := func(ctx context.Context) error {
		round++
		n, err := b.lib.Change(round, changeFiles)
		if err != nil {
			return err
		}
		r.changedBytes = append(r.changedBytes, n)
		logf("changed %d files (%s) (round %d)", changeFiles, bytesStr(n), round)
		return nil
	}
	change := func(ctx context.Context) error {
		if err := changeFilesOnly(ctx); err != nil {
			return err
		}
		rows, err := benchdata.ChangeDatabase(ctx, b.srv.ConnString("bench"), round, modulus, c.seed)
		if err != nil {
			return err
		}
		logf("changed %d book rows (round %d)", rows, round)
		return nil
	}
	logf("scenario: %.3g%% changed, %d pairs", c.changePct, c.pairs)
	r.changed, err = b.pairs(ctx, ts, c.pairs, change)
	if err != nil {
		return err
	}

	var fileTargets []target
	for _, t := range ts {
		if t.files {
			fileTargets = append(fileTargets, t)
		}
	}
	if c.scaling && len(fileTargets) > 0 {
		b.lib.Files = 2 * c.files
		t0 := time.Now()
		n, err := b.lib.Generate(c.files)
		if err != nil {
			return err
		}
		r.libBytes2 = libBytes + n
		logf("library grown to %d files (%s) in %.0fs; backing the new half up", b.lib.Files, bytesStr(r.libBytes2), time.Since(t0).Seconds())
		if r.grown, err = b.pairs(ctx, fileTargets, 1, nil); err != nil {
			return err
		}
		logf("scaling: %.3g%% of N changed at 2N files, %d pairs", c.changePct, c.pairs)
		r.scaled, err = b.pairs(ctx, fileTargets, c.pairs, changeFilesOnly)
		if err != nil {
			return err
		}
	}
	if r.recovery, err = b.recovery(ctx, ts, c.recoverPairs, max(libBytes, r.libBytes2), db.Bytes); err != nil {
		return err
	}
	r.finished = time.Now()
	r.print(os.Stdout, ts)
	return nil
}

// bencher runs the steps.
type bencher struct {
	c   config
	l   layout
	lib benchdata.Library
	srv *pgserver.Server
}

// sample is one pair's measurements of one target.
type sample struct {
	run, bare, backup usage
	// runCode is the run's exit code (0, or 3: warnings).
	runCode int
}

// pairs runs n pairs of every target of ts, calling before (if any) ahead
// of each pair, and returns the samples per target name.
func (b *bencher) pairs(ctx context.Context, ts []target, n int, before func(context.Context) error) (map[string][]sample, error) {
	out := map[string][]sample{}
	for p := range n {
		if before != nil {
			if err := before(ctx); err != nil {
				return nil, err
			}
		}
		for _, t := range ts {
			var s sample
			for _, side := range sideOrder(p) {
				var err error
				switch side {
				case "run":
					var code int
					s.run, err = b.step(ctx, t.name, side, []string{b.l.bin, "--config", b.l.plan, "--no-progress", "run", "bench", "--target", t.name}, nil)
					var se *stepError
					if errors.As(err, &se) && se.code == 3 {
						code, err = 3, nil
					}
					s.runCode = code
				case "bare":
					s.bare, err = b.step(ctx, t.name, side, bashArgv(t.script), t.env)
				case "backup":
					s.backup, err = b.step(ctx, t.name, side, bashArgv(t.backup), t.backupEnv)
					if err == nil && t.backupAfter != "" {
						_, err = b.step(ctx, t.name, side, bashArgv(t.backupAfter), t.backupEnv)
					}
				}
				if err != nil {
					return nil, err
				}
			}
			logf("  pair %d/%d %-15s run %6.2fs  bare %6.2fs  backup %6.2fs  run/bare %.2f  run/backup %.2f", p+1, n, t.name,
				s.run.wall.Seconds(), s.bare.wall.Seconds(), s.backup.wall.Seconds(),
				s.run.wall.Seconds()/s.bare.wall.Seconds(), s.run.wall.Seconds()/s.backup.wall.Seconds())
			out[t.name] = append(out[t.name], s)
		}
	}
	return out, nil
}

// sideOrder is the order of the three sides in pair p. Over any three
// pairs from a multiple of 3 on, each side goes first, second and third
// once; over six, each side directly follows each other side twice.
func sideOrder(p int) [3]string {
	orders := [6][3]string{
		{"run", "bare", "backup"}, {"bare", "backup", "run"}, {"backup", "run", "bare"},
		{"backup", "bare", "run"}, {"run", "backup", "bare"}, {"bare", "run", "backup"},
	}
	return orders[p%len(orders)]
}

func bashArgv(script string) []string {
	return []string{"bash", "-c", "set -euo pipefail\n" + script}
}

// fixedCost runs n pairs of the fixed plan's run against fixedBare, the
// order alternating. The run and bare fields of each sample are set.
func (b *bencher) fixedCost(ctx context.Context, n int) ([]sample, error) {
	echo, err := exec.LookPath("echo")
	if err != nil {
		return nil, err
	}
	env := []string{"ECHO=" + echo, "FIXED=" + filepath.Join(b.l.bare, "fixed")}
	out := make([]sample, n)
	for p := range n {
		sides := []string{"run", "bare"}
		if p%2 == 1 {
			sides = []string{"bare", "run"}
		}
		for _, side := range sides {
			if side == "run" {
				out[p].run, err = b.step(ctx, "fixed", side, []string{b.l.bin, "--config", b.l.fixedPlan, "--no-progress", "run", "fixed", "--target", "fixed"}, nil)
			} else {
				out[p].bare, err = b.step(ctx, "fixed", side, bashArgv(fixedBare), env)
			}
			if err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// step runs one measured command, its output appended to logs/NAME-SIDE.log.
func (b *bencher) step(ctx context.Context, name, side string, argv, extraEnv []string) (usage, error) {
	f, err := os.OpenFile(filepath.Join(b.l.logs, name+"-"+side+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return usage{}, err
	}
	defer f.Close()
	fmt.Fprintf(f, "\n### %s %s\n", time.Now().Format(time.RFC3339Nano), strings.Join(argv, " "))
	env := b.env(side)
	if side == "bare" || side == "backup" {
		env = append(env, "LIB="+b.l.library, "DB="+b.l.dbURL, "HOST="+b.l.host)
		env = append(env, extraEnv...)
	}
	u, err := measure(ctx, argv, env, b.l.work, f)
	if err != nil {
		return u, fmt.Errorf("%s (%s): %w (log: %s)", name, side, err, f.Name())
	}
	return u, nil
}

// env is what a side starts from: a HOME of its own (restic's and borg's
// caches and borg's security directory: the sides' repositories have the
// same ids, copies of one init), the caller's PATH.
func (b *bencher) env(side string) []string {
	return []string{"PATH=" + os.Getenv("PATH"), "HOME=" + filepath.Join(b.l.home, side), "LC_ALL=C.UTF-8", "TZ=UTC"}
}

// printDryRun shows, per target, what the run would execute next to the
// bare script, to check that they still do the same work.
func (b *bencher) printDryRun(ctx context.Context, ts []target) error {
	for _, t := range ts {
		out, err := exec.CommandContext(ctx, b.l.bin, "--config", b.l.plan, "run", "bench", "--target", t.name, "--dry-run").CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s --dry-run: %v\n%s", t.name, err, out)
		}
		fmt.Printf("## %s\n\n### run --dry-run\n\n%s\n### bare (%s)\n\n%s\n### backup (%s)\n\n%s\n(then, not measured)\n\n%s\n",
			t.name, out, strings.Join(t.env, " "), t.script, strings.Join(t.backupEnv, " "), t.backup, t.backupAfter)
	}
	return nil
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench %s: "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func gitDescribe(dir string) string {
	out, err := exec.Command("git", "-C", dir, "describe", "--tags", "--always", "--dirty").Output()
	if err != nil {
		return "dev"
	}
	return strings.TrimSpace(string(out))
}
