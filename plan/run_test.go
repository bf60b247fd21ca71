package plan

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/drivers/restic"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
)

// fakeDriver stands in for a tool: each target's settings script what it
// does ("fail" = phase to fail in, "warn", "sleep"), and every call is
// recorded, so the runner's ordering and isolation can be watched.
type fakeDriver struct {
	mu      sync.Mutex
	events  []string
	running int
	maxRun  int
	tries   map[string]int
}

func (f *fakeDriver) record(e string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, e)
}

func (f *fakeDriver) Name() string                                { return "fake" }
func (f *fakeDriver) Options() []drivers.Option                   { return nil }
func (f *fakeDriver) Validate(*drivers.Target) error              { return nil }
func (f *fakeDriver) Steps(t *drivers.Target) []drivers.Step      { return nil }
func (f *fakeDriver) Facts() drivers.Facts                        { return drivers.Facts{} }
func (f *fakeDriver) Resources(*drivers.Target) drivers.Resources { return drivers.Resources{} }
func (f *fakeDriver) PlainRestore(*drivers.Target) []drivers.Step { return nil }
func (f *fakeDriver) Init(context.Context, proc.Executor, *drivers.Target) error {
	return nil
}
func (f *fakeDriver) CheckTools(context.Context, proc.Executor, *drivers.Target) error {
	return nil
}
func (f *fakeDriver) Snapshots(context.Context, proc.Executor, *drivers.Target) ([]drivers.Snapshot, error) {
	return nil, nil
}

func (f *fakeDriver) Backup(ctx context.Context, x proc.Executor, t *drivers.Target) (drivers.Artifact, error) {
	f.mu.Lock()
	f.running++
	f.maxRun = max(f.maxRun, f.running)
	f.mu.Unlock()
	defer func() { f.mu.Lock(); f.running--; f.mu.Unlock() }()
	f.record("backup " + t.Name)
	if t.Progress {
		f.record("progress asked of " + t.Name)
	}
	if script := t.Settings.Str("script"); script != "" {
		// A real command, for what the runner does with commands: "done
		// N" lines on stdout are progress.
		c := proc.Command{Program: "sh", Args: []string{"-c", script},
			Env:      []proc.EnvVar{{Name: "TOKEN", Value: "hunter2-never-logged", Secret: true}},
			Progress: &proc.ProgressReader{Parse: fakeProgress}}
		if _, err := x.Run(ctx, c); err != nil {
			return drivers.Artifact{}, err
		}
	}
	if d, ok := t.Settings["sleep"].(time.Duration); ok {
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return drivers.Artifact{}, ctx.Err()
		}
	}
	if t.Settings.Str("fail") == "backup" {
		return drivers.Artifact{}, errors.New("tool exited 1: disk on fire")
	}
	if msg := t.Settings.Str("failfirst"); msg != "" {
		f.mu.Lock()
		if f.tries == nil {
			f.tries = map[string]int{}
		}
		f.tries[t.Name]++
		n := f.tries[t.Name]
		f.mu.Unlock()
		if n <= t.Settings.Int("failtimes", 1) {
			return drivers.Artifact{}, errors.New(msg)
		}
	}
	a := drivers.Artifact{ID: "snap-" + t.Name, Bytes: 42}
	if t.Settings.Bool("warn", false) {
		a.Warnings = []string{"3 files vanished"}
	}
	return a, nil
}

func (f *fakeDriver) Verify(_ context.Context, _ proc.Executor, t *drivers.Target, _ drivers.Artifact) error {
	f.record("verify " + t.Name)
	if t.Settings.Str("fail") == "verify" {
		return errors.New("check found damage")
	}
	return nil
}

func (f *fakeDriver) Drill(_ context.Context, _ proc.Executor, t *drivers.Target) (drivers.DrillResult, error) {
	f.record("drill " + t.Name)
	if t.Settings.Str("fail") == "drill" {
		return drivers.DrillResult{Artifact: "snap-" + t.Name}, errors.New(`table public.books: 99 rows restored, manifest says 100`)
	}
	return drivers.DrillResult{Artifact: "snap-" + t.Name, Checked: 3, Detail: "3 tables match"}, nil
}

func (f *fakeDriver) Prune(_ context.Context, _ proc.Executor, t *drivers.Target, _ bool) (drivers.PruneResult, error) {
	f.record("prune " + t.Name)
	return drivers.PruneResult{Policy: true}, nil
}

func fakeProgress(line []byte) (proc.Progress, bool, []byte) {
	var n int64
	if _, err := fmt.Sscanf(string(line), "done %d", &n); err != nil {
		return proc.Progress{}, false, line
	}
	return proc.Progress{Bytes: n, Total: 100, Percent: float64(n), ETA: -1}, true, nil
}

// fakePlan builds a plan of fake targets; spec maps name → settings, and
// after lists dependencies as "a<b" (a runs after b).
func fakePlan(parallel int, names []string, settings map[string]drivers.Values, after ...string) (*Plan, *fakeDriver) {
	// No state directory: these runs keep no per-target logs.
	p := &Plan{Path: "test.toml", Parallel: parallel,
		Targets: map[string]*drivers.Target{}, Plans: map[string]*Group{"weekly": {Name: "weekly", Targets: names}}}
	for _, n := range names {
		v := settings[n]
		if v == nil {
			v = drivers.Values{}
		}
		p.Targets[n] = &drivers.Target{Name: n, Driver: "fake", Verify: true, Settings: v}
		p.Order = append(p.Order, n)
	}
	for _, a := range after {
		x, y, _ := strings.Cut(a, "<")
		p.Targets[x].After = append(p.Targets[x].After, y)
	}
	return p, &fakeDriver{}
}

func runFake(t *testing.T, p *Plan, f *fakeDriver, o RunOptions) *Report {
	t.Helper()
	for _, tg := range p.Targets {
		tg.TempDir = t.TempDir()
	}
	rt := Runtime{Driver: func(string) (drivers.Driver, bool) { return f, true }}
	rep, err := p.Run(context.Background(), "weekly", o, rt)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func statuses(rep *Report) string {
	var out []string
	for _, t := range rep.Targets {
		out = append(out, t.Name+"="+t.Status)
	}
	return strings.Join(out, " ")
}

func TestRunEachTargetBackupVerifyPrune(t *testing.T) {
	p, f := fakePlan(1, []string{"db", "files"}, nil)
	rep := runFake(t, p, f, RunOptions{})
	want := "backup db,verify db,prune db,backup files,verify files,prune files"
	if got := strings.Join(f.events, ","); got != want {
		t.Fatalf("events = %s\nwant %s", got, want)
	}
	if rep.Status != StatusOK || statuses(rep) != "db=ok files=ok" {
		t.Fatalf("report: %s %s", rep.Status, statuses(rep))
	}
	if r := rep.Targets[0]; !r.Verified || !r.Pruned || *r.Artifact != "snap-db" || *r.Bytes != 42 || r.Error != nil {
		t.Fatalf("target report: %+v", r)
	}
	if rep.Err() != nil {
		t.Fatalf("Err() = %v for an all-ok run (typed-nil trap?)", rep.Err())
	}
}

func TestRunFailureSkipsDependentsOnly(t *testing.T) {
	p, f := fakePlan(2, []string{"library", "offsite", "database"},
		map[string]drivers.Values{"library": {"fail": "backup"}}, "offsite<library")
	rep := runFake(t, p, f, RunOptions{})
	if got := statuses(rep); got != "library=failed offsite=skipped database=ok" {
		t.Fatalf("statuses: %s", got)
	}
	if rep.Status != StatusFailed {
		t.Fatalf("run status %s", rep.Status)
	}
	if e := *rep.Targets[1].Error; !strings.Contains(e, `"library", which failed`) {
		t.Fatalf("skip reason: %s", e)
	}
	if e := *rep.Targets[0].Error; !strings.Contains(e, "backup: tool exited 1: disk on fire") {
		t.Fatalf("error: %s", e)
	}
	for _, e := range f.events {
		if strings.HasSuffix(e, "offsite") || e == "verify library" || e == "prune library" {
			t.Fatalf("ran %q after a failure", e)
		}
	}
	err := rep.Err()
	if err == nil || !strings.Contains(err.Error(), "2 of 3 targets did not succeed") {
		t.Fatalf("combined error: %v", err)
	}
}

// With parallel = 1 the targets run one after another in plan order: a
// failed first target must not stop the independent ones after it. Each
// of them is backed up, verified and pruned, with its own artifact; only
// the target that runs after the failed one is left out.
func TestRunSerialFailureStopsOnlyDependents(t *testing.T) {
	for _, phase := range []string{"backup", "verify"} {
		t.Run("first fails in "+phase, func(t *testing.T) {
			p, f := fakePlan(1, []string{"library", "database", "offsite", "config"},
				map[string]drivers.Values{"library": {"fail": phase}}, "offsite<library")
			rep := runFake(t, p, f, RunOptions{})
			ran := map[string]bool{}
			for _, e := range f.events {
				ran[e] = true
			}
			for _, name := range []string{"database", "config"} {
				for _, step := range []string{"backup ", "verify ", "prune "} {
					if !ran[step+name] {
						t.Errorf("%s%s did not run after library failed; ran: %v", step, name, f.events)
					}
				}
			}
			for _, e := range f.events {
				if strings.HasSuffix(e, " offsite") {
					t.Errorf("ran %q, which runs after the failed library", e)
				}
			}
			byName := map[string]TargetReport{}
			for _, r := range rep.Targets {
				byName[r.Name] = r
			}
			for _, name := range []string{"database", "config"} {
				r := byName[name]
				if r.Status != StatusOK || r.Artifact == nil || *r.Artifact != "snap-"+name || !r.Verified || !r.Pruned {
					t.Errorf("%s: %+v", name, r)
				}
			}
			if byName["library"].Status != StatusFailed || byName["offsite"].Status != StatusSkipped || byName["offsite"].Artifact != nil {
				t.Errorf("statuses: %s", statuses(rep))
			}
			if rep.Status != StatusFailed {
				t.Errorf("run status %s", rep.Status)
			}
		})
	}
}

func TestRunNoRetentionAfterFailedVerify(t *testing.T) {
	p, f := fakePlan(1, []string{"db"}, map[string]drivers.Values{"db": {"fail": "verify"}})
	rep := runFake(t, p, f, RunOptions{})
	if rep.Targets[0].Status != StatusFailed || rep.Targets[0].Pruned {
		t.Fatalf("got %+v", rep.Targets[0])
	}
	if strings.Contains(strings.Join(f.events, ","), "prune") {
		t.Fatalf("retention ran after a failed verify: %v", f.events)
	}
}

// An unverified backup keeps retention away, and says so: a warning.
// A target with no retention keys (a mirror) has nothing to skip: no
// warning, and the run is ok.
func TestRunNoVerifyMeansNoRetention(t *testing.T) {
	p, f := fakePlan(1, []string{"db", "mirror"}, map[string]drivers.Values{"db": {"keep_last": 3}})
	rep := runFake(t, p, f, RunOptions{NoVerify: true})
	if got := strings.Join(f.events, ","); got != "backup db,backup mirror" {
		t.Fatalf("events: %s", got)
	}
	r := rep.Targets[0]
	if r.Status != StatusWarning || r.Verified || r.Pruned || !strings.Contains(strings.Join(r.Warnings, ""), "retention skipped") {
		t.Fatalf("got %+v", r)
	}
	if m := rep.Targets[1]; m.Status != StatusOK || len(m.Warnings) != 0 {
		t.Fatalf("a target without retention keys: %+v", m)
	}
}

// With drill = true a run proves the backup restores before retention;
// a failed drill fails the target and keeps retention away.
func TestRunDrill(t *testing.T) {
	p, f := fakePlan(1, []string{"good", "bad", "off"}, map[string]drivers.Values{"bad": {"fail": "drill"}})
	p.Targets["good"].Drill, p.Targets["bad"].Drill = true, true
	rep := runFake(t, p, f, RunOptions{})
	want := "backup good,verify good,drill good,prune good,backup bad,verify bad,drill bad,backup off,verify off,prune off"
	if got := strings.Join(f.events, ","); got != want {
		t.Fatalf("events %s\nwant   %s", got, want)
	}
	if statuses(rep) != "good=ok bad=failed off=ok" {
		t.Fatalf("statuses %s", statuses(rep))
	}
	if d := rep.Targets[0].Drill; d == nil || d.Status != StatusOK || d.Checked != 3 {
		t.Fatalf("good drill %+v", d)
	}
	if d := rep.Targets[1].Drill; d == nil || d.Status != StatusFailed || !strings.Contains(*d.Error, "manifest says 100") || rep.Targets[1].Pruned {
		t.Fatalf("bad drill %+v", rep.Targets[1])
	}
	if rep.Targets[2].Drill != nil {
		t.Fatal("a target without drill = true was drilled")
	}
}

func TestDrillCommandReport(t *testing.T) {
	p, f := fakePlan(1, []string{"good", "bad"}, map[string]drivers.Values{"bad": {"fail": "drill"}})
	for _, tg := range p.Targets {
		tg.TempDir = t.TempDir()
	}
	rep := p.Drill(context.Background(), "weekly", []*drivers.Target{p.Targets["good"], p.Targets["bad"]},
		Runtime{Driver: func(string) (drivers.Driver, bool) { return f, true }})
	if rep.Command != "drill" || rep.Status != StatusFailed || statuses(rep) != "good=ok bad=failed" {
		t.Fatalf("%s %s %s", rep.Command, rep.Status, statuses(rep))
	}
	if strings.Contains(strings.Join(f.events, ","), "backup") {
		t.Fatalf("a drill backed up: %v", f.events)
	}
}

func TestRunWarningIsNotFailure(t *testing.T) {
	p, f := fakePlan(1, []string{"mirror", "after-mirror"}, map[string]drivers.Values{"mirror": {"warn": true}}, "after-mirror<mirror")
	rep := runFake(t, p, f, RunOptions{})
	if got := statuses(rep); got != "mirror=warning after-mirror=ok" || rep.Status != StatusWarning {
		t.Fatalf("statuses %s, run %s", got, rep.Status)
	}
	if rep.Targets[0].Warnings[0] != "3 files vanished" || !rep.Targets[0].Pruned {
		t.Fatalf("warning target: %+v", rep.Targets[0])
	}
}

func TestRunParallelCapAndOrder(t *testing.T) {
	names := []string{"a", "b", "c", "d", "e"}
	settings := map[string]drivers.Values{}
	for _, n := range names {
		settings[n] = drivers.Values{"sleep": 30 * time.Millisecond}
	}
	p, f := fakePlan(2, names, settings, "e<a", "e<b")
	runFake(t, p, f, RunOptions{})
	if f.maxRun != 2 {
		t.Fatalf("at most %d ran at once, want exactly the cap of 2", f.maxRun)
	}
	pos := map[string]int{}
	for i, e := range f.events {
		pos[e] = i
	}
	if pos["backup e"] < pos["prune a"] || pos["backup e"] < pos["prune b"] {
		t.Fatalf("e ran before what it runs after: %v", f.events)
	}
}

// Targets writing to the same repository (a dump streamed into the
// library's restic repository, say) never run at once, whatever parallel.
func TestRunSerialisesSharedRepository(t *testing.T) {
	names := []string{"library", "dump", "other"}
	settings := map[string]drivers.Values{}
	for _, n := range names {
		settings[n] = drivers.Values{"sleep": 40 * time.Millisecond}
	}
	p, f := fakePlan(3, names, settings)
	p.Targets["library"].Driver, p.Targets["library"].Settings["repository"] = "restic", "/srv/restic"
	p.Targets["library"].Impl = restic.Driver{}
	p.Targets["dump"].Into = p.Targets["library"]
	runFake(t, p, f, RunOptions{})
	pos := map[string]int{}
	for i, e := range f.events {
		pos[e] = i
	}
	if pos["backup dump"] < pos["prune library"] {
		t.Fatalf("dump ran while library held the repository: %v", f.events)
	}
	if f.maxRun != 2 {
		t.Fatalf("the independent target should have run alongside: max %d at once", f.maxRun)
	}
}

// Transient failures are retried with a growing wait; permanent ones are not.
func TestRunRetries(t *testing.T) {
	p, f := fakePlan(1, []string{"locked", "wrongpw", "flaky"}, map[string]drivers.Values{
		"locked":  {"failfirst": "restic exited 1: unable to create lock in backend: repository is already locked by PID 7145", "failtimes": 2},
		"wrongpw": {"failfirst": "restic exited 1: Fatal: wrong password or no key found"},
		"flaky":   {"failfirst": "rsync exited 255: ssh: connect to host backup port 22: Connection refused", "failtimes": 5},
	})
	for _, n := range p.Order {
		p.Targets[n].Retries, p.Targets[n].RetryWait = 2, time.Millisecond
	}
	start := time.Now()
	rep := runFake(t, p, f, RunOptions{})
	if statuses(rep) != "locked=ok wrongpw=failed flaky=failed" {
		t.Fatalf("statuses %s", statuses(rep))
	}
	if a := []int{rep.Targets[0].Attempts, rep.Targets[1].Attempts, rep.Targets[2].Attempts}; a[0] != 3 || a[1] != 1 || a[2] != 3 {
		t.Fatalf("attempts %v, want [3 1 3]", a)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("retries waited far too long")
	}
}

func TestRunTimeout(t *testing.T) {
	p, f := fakePlan(1, []string{"slow", "fast"}, map[string]drivers.Values{"slow": {"sleep": 5 * time.Second}})
	p.Targets["slow"].Timeout = 50 * time.Millisecond
	rep := runFake(t, p, f, RunOptions{})
	r := rep.Targets[0]
	if r.Status != StatusFailed || !strings.Contains(*r.Error, "timed out after 50ms") {
		t.Fatalf("got %+v", r)
	}
	if rep.Targets[1].Status != StatusOK {
		t.Fatalf("independent target: %+v", rep.Targets[1])
	}
}

func TestRunInterrupted(t *testing.T) {
	p, f := fakePlan(1, []string{"slow", "next"}, map[string]drivers.Values{"slow": {"sleep": 5 * time.Second}})
	for _, tg := range p.Targets {
		tg.TempDir = t.TempDir()
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	rep, err := p.Run(ctx, "weekly", RunOptions{}, Runtime{Driver: func(string) (drivers.Driver, bool) { return f, true }})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Status != StatusInterrupted || statuses(rep) != "slow=interrupted next=interrupted" {
		t.Fatalf("run %s: %s", rep.Status, statuses(rep))
	}
}

func TestRunOnlyAndUnknownNames(t *testing.T) {
	p, f := fakePlan(1, []string{"db", "files"}, nil, "files<db")
	rep := runFake(t, p, f, RunOptions{Only: []string{"files"}})
	if statuses(rep) != "files=ok" {
		t.Fatalf("got %s", statuses(rep))
	}
	rt := Runtime{Driver: func(string) (drivers.Driver, bool) { return f, true }}
	var ue *UsageError
	if _, err := p.Run(context.Background(), "weekly", RunOptions{Only: []string{"nope"}}, rt); !errors.As(err, &ue) {
		t.Fatalf("unknown --target: %v", err)
	}
	if _, err := p.Run(context.Background(), "weekyl", RunOptions{}, rt); !errors.As(err, &ue) || !strings.Contains(err.Error(), "did you mean weekly") {
		t.Fatalf("unknown plan: %v", err)
	}
}

func TestRunDryRunRunsNothing(t *testing.T) {
	p, f := fakePlan(1, []string{"db"}, nil)
	var out bytes.Buffer
	rep, err := p.Run(context.Background(), "weekly", RunOptions{DryRun: true, Out: &out},
		Runtime{Driver: func(string) (drivers.Driver, bool) { return f, true }})
	if err != nil || rep != nil {
		t.Fatalf("rep %v err %v", rep, err)
	}
	if len(f.events) != 0 {
		t.Fatalf("dry run called the driver: %v", f.events)
	}
	if !strings.Contains(out.String(), "# target db (fake)") {
		t.Fatalf("output: %s", out.String())
	}
}

func TestReportDeterministicOrder(t *testing.T) {
	// Results come back in plan order whatever order targets finish in.
	names := []string{"slow", "fast"}
	p, f := fakePlan(2, names, map[string]drivers.Values{"slow": {"sleep": 40 * time.Millisecond}})
	rep := runFake(t, p, f, RunOptions{})
	if got := fmt.Sprint(rep.Targets[0].Name, rep.Targets[1].Name); got != "slowfast" {
		t.Fatalf("order %s", got)
	}
}

// recordingView is a ProgressView that keeps what it was shown.
type recordingView struct {
	mu     sync.Mutex
	events []string
}

func (v *recordingView) add(e string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.events = append(v.events, e)
}
func (v *recordingView) Phase(target string, ph drivers.Phase) { v.add(target + " " + string(ph)) }
func (v *recordingView) Update(target string, p proc.Progress) {
	v.add(fmt.Sprintf("%s %d bytes", target, p.Bytes))
}
func (v *recordingView) Done(target string) { v.add(target + " done") }

func TestRunShowsProgressAndAsksToolsForIt(t *testing.T) {
	p, f := fakePlan(1, []string{"db"}, map[string]drivers.Values{
		"db": {"script": "echo done 40; echo done 100"},
	})
	p.Targets["db"].TempDir = t.TempDir()
	view := &recordingView{}
	rt := Runtime{Exec: proc.ProcessExecutor{}, Progress: view,
		Driver: func(string) (drivers.Driver, bool) { return f, true }}
	rep, err := p.Run(context.Background(), "weekly", RunOptions{}, rt)
	if err != nil || rep.Status != StatusOK {
		t.Fatalf("run: %v %+v", err, rep)
	}
	want := "db backup|db 40 bytes|db 100 bytes|db verify|db prune|db done"
	if got := strings.Join(view.events, "|"); got != want {
		t.Errorf("the view was shown\n  %s\nwant\n  %s", got, want)
	}
	if !strings.Contains(strings.Join(f.events, "|"), "progress asked of db") {
		t.Errorf("the driver was not asked for progress: %v", f.events)
	}
	if p.Targets["db"].Progress {
		t.Error("the plan's own target was changed; the runner must work on a copy")
	}

	// Without a view (cron), nobody asks a tool for progress.
	p, f = fakePlan(1, []string{"db"}, nil)
	runFake(t, p, f, RunOptions{})
	if strings.Contains(strings.Join(f.events, "|"), "progress asked") {
		t.Errorf("progress was asked for with nobody watching: %v", f.events)
	}
}

func TestRunKeepsALogPerTarget(t *testing.T) {
	p, f := fakePlan(2, []string{"db", "library"}, map[string]drivers.Values{
		"db":      {"script": "echo 'pg_dump: dumping contents of table public.books' >&2; echo done 100"},
		"library": {"script": "echo 'Fatal: unable to open repository' >&2; exit 1"},
	})
	p.StateDir = t.TempDir()
	for _, tg := range p.Targets {
		tg.TempDir = t.TempDir()
	}
	rt := Runtime{Exec: proc.ProcessExecutor{}, Driver: func(string) (drivers.Driver, bool) { return f, true }}
	rep, err := p.Run(context.Background(), "weekly", RunOptions{}, rt)
	if err != nil {
		t.Fatal(err)
	}
	logs := map[string]string{}
	for _, r := range rep.Targets {
		wantPath := filepath.Join(LogDir(p.StateDir), r.Name, LogName("run", "weekly", rep.StartedAt))
		if r.Log != wantPath {
			t.Fatalf("%s: report names log %q, want %q", r.Name, r.Log, wantPath)
		}
		data, err := os.ReadFile(r.Log)
		if err != nil {
			t.Fatal(err)
		}
		if fi, _ := os.Stat(r.Log); fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: log mode %v, want 0600", r.Name, fi.Mode().Perm())
		}
		logs[r.Name] = string(data)
	}
	for _, want := range []string{"backup started", "command started", "TOKEN=***", "command exited", "exit=0",
		"    | pg_dump: dumping contents of table public.books", "verified", "retention applied"} {
		if !strings.Contains(logs["db"], want) {
			t.Errorf("db's log lacks %q:\n%s", want, logs["db"])
		}
	}
	for _, want := range []string{"exit=1", "    | Fatal: unable to open repository", "backup failed"} {
		if !strings.Contains(logs["library"], want) {
			t.Errorf("library's log lacks %q:\n%s", want, logs["library"])
		}
	}
	for name, l := range logs {
		if strings.Contains(l, "hunter2") {
			t.Errorf("%s's log holds a secret:\n%s", name, l)
		}
		other := map[string]string{"db": "library", "library": "db"}[name]
		if strings.Contains(l, "target="+other) {
			t.Errorf("%s's log has lines of %s:\n%s", name, other, l)
		}
	}
}

// A log file that cannot be made is never a reason not to back up.
func TestRunGoesOnWithoutItsLogFile(t *testing.T) {
	p, f := fakePlan(1, []string{"db"}, nil)
	p.StateDir = t.TempDir()
	// logs/ is a file: no per-target log directory can be made under it.
	if err := os.WriteFile(LogDir(p.StateDir), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	rep := runFake(t, p, f, RunOptions{})
	if rep.Status != StatusOK || rep.Targets[0].Log != "" {
		t.Fatalf("run without a log file: %s, log %q", statuses(rep), rep.Targets[0].Log)
	}
}
