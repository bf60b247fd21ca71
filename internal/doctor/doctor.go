// Package doctor checks that a plan can run here, without running it: the
// tools and their versions, the database, the repositories, the secret
// files, free space, the state directory and who holds its run lock. It
// changes nothing (listing a repository is as far as it goes).
package doctor

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/drivers/all"
	"github.com/alexandria-backup/alexandria-backup/internal/cronexpr"
	"github.com/alexandria-backup/alexandria-backup/internal/humanize"
	"github.com/alexandria-backup/alexandria-backup/internal/planpaths"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
	"github.com/alexandria-backup/alexandria-backup/internal/runlock"
	"github.com/alexandria-backup/alexandria-backup/plan"
)

// Status is a check's verdict.
type Status string

const (
	OK   Status = "ok"
	Warn Status = "warn"
	Fail Status = "FAIL"
)

// Check is one line of the checklist.
type Check struct {
	Status Status
	// Name is what was checked ("tools restic", "backups", "paths
	// /srv/files"), Targets the targets it is about (none for the plan,
	// the tools and this host).
	Name    string
	Targets []string
	Subject string // Name as printed, after its targets: "library: backups"
	Detail  string
	Fix     string // what to do about a warning or failure
	// once names what the check is about when several targets share it
	// (a directory's free space): it is reported once.
	once string
}

// subject is Name after the targets it is about.
func (c Check) subject() string {
	if c.Subject != "" || len(c.Targets) == 0 {
		return cmp.Or(c.Subject, c.Name)
	}
	return strings.Join(c.Targets, ", ") + ": " + c.Name
}

func (c Check) String() string {
	s := fmt.Sprintf("%-4s  %s: %s", c.Status, c.subject(), c.Detail)
	if c.Fix != "" && c.Status != OK {
		s += " (fix: " + c.Fix + ")"
	}
	return s
}

// Options tune a doctor run.
type Options struct {
	Exec proc.Executor
	// Driver finds a driver; nil means drivers.Lookup.
	Driver func(name string) (drivers.Driver, bool)
	// Timeout bounds each check that reaches a database or a repository:
	// one held by a running backup's lock must not hang the checklist.
	Timeout time.Duration
	// Report, when set, is given each check as soon as it is done.
	Report func(Check)
	// MinFree is the free space below which a backup destination gets a
	// warning (default 1 GiB); a dump directory also wants twice its
	// last dump.
	MinFree int64
}

type run struct {
	o       Options
	checks  []Check
	seen    map[string]bool   // files and directories already checked
	written map[string]string // see written
}

// once reports whether key is new: a file shared by targets is reported once.
func (r *run) once(key string) bool {
	if r.seen == nil {
		r.seen = map[string]bool{}
	}
	if r.seen[key] {
		return false
	}
	r.seen[key] = true
	return true
}

func (r *run) add(c Check) {
	// One line per check, whatever the tools said.
	c.Detail = oneLine(c.Detail)
	c.Subject = c.subject()
	c.Name = cmp.Or(c.Name, c.Subject)
	r.checks = append(r.checks, c)
	if r.o.Report != nil {
		r.o.Report(c)
	}
}

func (r *run) driver(name string) drivers.Driver {
	lookup := r.o.Driver
	if lookup == nil {
		lookup = all.Lookup
	}
	d, _ := lookup(name)
	return d
}

// ctx bounds one check.
func (r *run) ctx(parent context.Context) (context.Context, context.CancelFunc) {
	if r.o.Timeout <= 0 {
		return context.WithCancel(parent)
	}
	return context.WithTimeout(parent, r.o.Timeout)
}

// Run checks the plan file, the tools of the targets' drivers, state_dir,
// then each target. It stops early only when ctx ends.
func Run(ctx context.Context, p *plan.Plan, targets []*drivers.Target, o Options) []Check {
	if o.MinFree <= 0 {
		o.MinFree = 1 << 30
	}
	r := &run{o: o, written: written(p)}
	r.planFile(p)
	r.schedules(p)
	r.tools(ctx, targets)
	r.stateDir(p.StateDir)
	r.runLock(p)
	unchecked := r.secrets(targets)
	r.targets(ctx, targets, unchecked)
	return r.checks
}

// written are the local paths the plan's targets write (repositories,
// dump directories, mirrors), with who writes them: a source missing
// there is one no run has made yet, not a lost disk.
func written(p *plan.Plan) map[string]string {
	var all []*drivers.Target
	for _, t := range p.Targets {
		all = append(all, t)
	}
	out := map[string]string{}
	for _, l := range planpaths.Locals("", all) {
		if l.Write {
			out[l.Path] = l.Why
		}
	}
	return out
}

// parallelTargets bounds how many targets are checked at once: the checks
// wait on databases, repositories and remotes, not on this machine.
const parallelTargets = 8

// targets checks the targets side by side, and reports their checks in
// the plan's order as each target's are complete, each shared file once.
func (r *run) targets(ctx context.Context, targets []*drivers.Target, unchecked map[string]bool) {
	each := make([]*run, len(targets))
	done := make([]chan struct{}, len(targets))
	slots := make(chan struct{}, parallelTargets)
	for i, t := range targets {
		o := r.o
		o.Report = nil // reported in order below
		each[i], done[i] = &run{o: o, written: r.written}, make(chan struct{})
		go func() {
			defer close(done[i])
			slots <- struct{}{}
			defer func() { <-slots }()
			if ctx.Err() == nil {
				each[i].target(ctx, t, unchecked[t.Name])
			}
		}()
	}
	for i := range targets {
		<-done[i]
		for _, c := range each[i].checks {
			if c.once == "" || r.once(c.once) {
				r.add(c)
			}
		}
	}
}

// Failed counts the failed checks.
func Failed(checks []Check) int {
	n := 0
	for _, c := range checks {
		if c.Status == Fail {
			n++
		}
	}
	return n
}

// planFile: whoever can write the plan can make this tool run commands
// (password_command, on_failure) as the user it runs as.
func (r *run) planFile(p *plan.Plan) {
	subject := "plan " + p.Path
	fi, err := os.Stat(p.Path)
	if err != nil {
		r.add(Check{Status: Fail, Subject: subject, Detail: err.Error()})
		return
	}
	perm, uid := fi.Mode().Perm(), owner(fi)
	exposed, _ := p.ExposedSecrets()
	switch {
	case perm&0o022 != 0:
		r.add(Check{Status: Fail, Subject: subject, Detail: fmt.Sprintf("mode %04o: group or others may change it, and with it the commands this tool runs", perm),
			Fix: "chmod go-w " + p.Path})
	case uid != 0 && uid != os.Geteuid():
		r.add(Check{Status: Fail, Subject: subject, Detail: fmt.Sprintf("owned by %s, who may change the commands this tool runs as %s", userName(uid), userName(os.Geteuid())),
			Fix: "chown " + userName(os.Geteuid()) + " " + p.Path})
	case len(exposed) > 0:
		// The check validate and run refuse the plan with.
		keys := make([]string, len(exposed))
		for i, pr := range exposed {
			keys[i] = pr.Key
		}
		r.add(Check{Status: Fail, Subject: subject, Detail: fmt.Sprintf("mode %04o: group or others may read it, and it holds secrets (%s); validate and run refuse it", perm, strings.Join(keys, ", ")),
			Fix: "chmod 600 " + p.Path + ", or write those values as ${VAR}"})
	default:
		r.add(Check{Status: OK, Subject: subject, Detail: fmt.Sprintf("mode %04o, owner %s", perm, userName(uid))})
	}
}

// schedules checks what `schedule` will need: the loader only counts a
// cron expression's fields.
func (r *run) schedules(p *plan.Plan) {
	names := make([]string, 0, len(p.Plans))
	for n, g := range p.Plans {
		if g.Schedule != "" {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		subject := "plans." + n + ".schedule"
		e, err := cronexpr.Parse(p.Plans[n].Schedule)
		if err != nil {
			r.add(Check{Status: Fail, Subject: subject, Detail: err.Error()})
			continue
		}
		r.add(Check{Status: OK, Subject: subject, Detail: fmt.Sprintf("cron %q, systemd %s", e.Source, strings.Join(e.OnCalendar(), " + "))})
	}
}

// recorder passes commands on and keeps the first line each printed: the
// version lines of `restic version`, `pg_dump --version` and friends.
type recorder struct {
	x     proc.Executor
	lines []string
}

func (rec *recorder) Run(ctx context.Context, c proc.Command) (proc.Result, error) {
	res, err := rec.x.Run(ctx, c)
	if err == nil {
		out := res.Stdout
		if len(strings.TrimSpace(string(out))) == 0 {
			out = res.Stderr // ssh -V prints on stderr
		}
		line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
		if line = strings.Join(strings.Fields(line), " "); line != "" {
			rec.lines = append(rec.lines, line)
		}
	}
	return res, err
}

// programs are the programs the drivers run, with their Debian packages,
// and ssh.
func programs() []drivers.Program {
	var out []drivers.Program
	for _, d := range all.Drivers() {
		out = append(out, d.Facts().Programs...)
	}
	return append(out, drivers.Program{Name: "ssh", Package: "openssh-client"})
}

// tools checks each driver's programs once, with their versions.
func (r *run) tools(ctx context.Context, targets []*drivers.Target) {
	seen := map[string]bool{}
	ssh := ""
	for _, t := range withInto(targets) {
		if t.Resources().SSH && ssh == "" {
			ssh = t.Name
		}
		// Once per driver, and per place its tools run behind (a pg_dump
		// target's exec_prefix).
		key := drivers.ToolsKey(t)
		if seen[key] {
			continue
		}
		seen[key] = true
		rec := &recorder{x: r.o.Exec}
		cctx, cancel := r.ctx(ctx)
		err := r.driver(t.Driver).CheckTools(cctx, rec, t)
		cancel()
		subject, through := "tools "+t.Driver, ""
		if prefix := t.Resources().ToolPrefix; len(prefix) > 0 {
			through = proc.Command{Program: prefix[0], Args: prefix[1:]}.String()
			subject += " (through " + through + ")"
		}
		if err != nil {
			fix := toolFix(t.Driver, err)
			if through != "" {
				// Installing on this host would not help.
				fix = "check that `" + through + "` runs, and " + fix + " where it runs the tools"
			}
			r.add(Check{Status: Fail, Subject: subject, Detail: err.Error(), Fix: fix})
			continue
		}
		r.add(Check{Status: OK, Subject: subject, Detail: strings.Join(rec.lines, "; ")})
	}
	if ssh != "" {
		rec := &recorder{x: r.o.Exec}
		cctx, cancel := r.ctx(ctx)
		_, err := rec.Run(cctx, proc.Command{Program: "ssh", Args: []string{"-V"}})
		cancel()
		if err != nil {
			r.add(Check{Status: Fail, Subject: "tools ssh", Detail: fmt.Sprintf("needed by target %s: %v", ssh, err), Fix: "install openssh-client"})
		} else {
			r.add(Check{Status: OK, Subject: "tools ssh", Detail: strings.Join(rec.lines, "; ")})
		}
	}
}

// withInto adds the restic or borg targets dumps stream into, and the
// targets whose repository a copy holds (its drill opens the copy with
// their tool): their tools run too.
func withInto(targets []*drivers.Target) []*drivers.Target {
	out := append([]*drivers.Target{}, targets...)
	for _, t := range targets {
		if t.Into != nil {
			out = append(out, t.Into)
		}
		out = append(out, t.Holds...)
	}
	return out
}

func toolFix(driver string, err error) string {
	msg := err.Error()
	for _, p := range programs() {
		if strings.Contains(msg, `"`+p.Name+`"`) && strings.Contains(msg, "not found") {
			return "install " + p.Package + " (apt-get install " + p.Package + ")"
		}
	}
	var pkg string
	if d, ok := all.Lookup(driver); ok && len(d.Facts().Programs) > 0 {
		pkg = d.Facts().Programs[0].Package // the tool itself
	}
	if strings.Contains(msg, "too old") || strings.Contains(msg, "not supported") {
		return "install a supported version of " + pkg
	}
	return "install " + pkg
}

// oneLine joins the lines of a tool's message.
func oneLine(s string) string {
	var parts []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			parts = append(parts, l)
		}
	}
	return strings.Join(parts, " ")
}

// stateDir must be writable, or creatable: reports, the lock and private
// temporary files go there.
func (r *run) stateDir(dir string) {
	subject := "state_dir " + dir
	existing := nearestExisting(dir)
	if err := syscall.Access(existing, 2 /* W_OK */); err != nil {
		r.add(Check{Status: Fail, Subject: subject, Detail: fmt.Sprintf("%s is not writable: %v", existing, err),
			Fix: "make it writable for " + userName(os.Geteuid()) + ", or set state_dir"})
		return
	}
	if existing != dir {
		r.add(Check{Status: OK, Subject: subject, Detail: "does not exist yet; the first run creates it in " + existing})
		return
	}
	r.add(Check{Status: OK, Subject: subject, Detail: "writable"})
}

// staleLock is how long a run may hold the lock before doctor wonders
// whether it hangs: a day, or the longest target timeout when that is
// longer. The lock itself never goes stale (the kernel frees it when its
// holder dies), but a hung holder makes every later run exit 75.
func staleLock(p *plan.Plan) time.Duration {
	d := 24 * time.Hour
	for _, t := range p.Targets {
		d = max(d, t.Timeout)
	}
	return d
}

// runLock says whether a run holds state_dir/lock, and who. A held lock is
// no failure: a backup is running.
func (r *run) runLock(p *plan.Plan) {
	path := filepath.Join(p.StateDir, "lock")
	subject := "run lock " + path
	held, h, err := runlock.Probe(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// Nothing has run here yet, as the state_dir line says: no line.
	case err != nil:
		r.add(Check{Status: Warn, Subject: subject, Detail: err.Error(),
			Fix: "make it readable for " + userName(os.Geteuid())})
	case !held:
		r.add(Check{Status: OK, Subject: subject, Detail: "free"})
	case !h.StartedAt.IsZero() && time.Since(h.StartedAt) > staleLock(p):
		fix := "if that run hangs, stop it (the lock is freed when it exits)"
		if h.PID > 0 {
			fix = fmt.Sprintf("see what pid %d does: ps -o pid,etime,args -p %d; if it hangs, stop it (the lock is freed when it exits)", h.PID, h.PID)
		}
		r.add(Check{Status: Warn, Subject: subject,
			Detail: fmt.Sprintf("held by %s: longer than %s, and until it ends every run exits 75 or waits", h, staleLock(p)),
			Fix:    fix})
	default:
		r.add(Check{Status: OK, Subject: subject, Detail: fmt.Sprintf("held by %s: a run is in progress", h)})
	}
}

func nearestExisting(path string) string {
	for p := filepath.Clean(path); ; p = filepath.Dir(p) {
		if _, err := os.Stat(p); err == nil || p == filepath.Dir(p) {
			return p
		}
	}
}

// secrets checks each secret file once, however many targets name it,
// and returns the targets one of them failed for: their database and
// backups are left unchecked, as those checks could only fail again for
// the same reason (a missing password file used to be reported twice).
func (r *run) secrets(targets []*drivers.Target) (unchecked map[string]bool) {
	type file struct {
		targets, keys []string
		sec           planpaths.Secret
	}
	var order []string
	byPath := map[string]*file{}
	for _, sec := range planpaths.Secrets(targets) {
		f := byPath[sec.Path]
		if f == nil {
			f = &file{sec: sec}
			byPath[sec.Path] = f
			order = append(order, sec.Path)
		}
		f.sec.Password = f.sec.Password || sec.Password // checked as strictly as any target reads it
		if !slices.Contains(f.targets, sec.Target) {
			f.targets = append(f.targets, sec.Target)
		}
		if !slices.Contains(f.keys, sec.Key) {
			f.keys = append(f.keys, sec.Key)
		}
	}
	unchecked = map[string]bool{}
	for _, path := range order {
		f := byPath[path]
		c := secretFile(f.sec)
		c.Name, c.Targets = strings.Join(f.keys, ", ")+" "+path, f.targets
		if c.Status == Fail {
			var skipped []string
			for _, name := range f.targets {
				unchecked[name] = true
				skipped = append(skipped, "the "+r.needsSecrets(targets, name)+" of "+name)
			}
			c.Detail += "; until it is fixed, doctor does not check " + strings.Join(skipped, ", nor ")
		}
		r.add(c)
	}
	return unchecked
}

// needsSecrets names the checks a target's secret files are needed for.
func (r *run) needsSecrets(targets []*drivers.Target, name string) string {
	for _, t := range targets {
		if t.Name == name {
			if _, ok := r.driver(t.Driver).(drivers.Preflighter); ok {
				return "database and backups"
			}
		}
	}
	return "backups"
}

func (r *run) target(ctx context.Context, t *drivers.Target, secretFailed bool) {
	r.sources(t)
	var last int64
	if !secretFailed {
		last = r.reach(ctx, t)
	}
	for _, l := range planpaths.Locals("", []*drivers.Target{t}) {
		if l.Write {
			c := r.freeSpace(t, l, last)
			c.once = "space " + l.Path
			r.add(c)
		}
	}
}

// sources checks what the target backs up: each local path must be
// there and readable, or the backup fails (or, worse, backs up nothing);
// an empty directory gets a warning, as the mount point of an unmounted
// disk looks like one. The paths found well share one line.
func (r *run) sources(t *drivers.Target) {
	var good []string
	for _, p := range t.Resources().Paths {
		if p.Write || p.Key == "" || !filepath.IsAbs(p.Path) {
			continue // remote or relative ones are the tool's to find
		}
		c := sourceCheck(p, r.written[filepath.Clean(p.Path)])
		if c.Status == OK {
			good = append(good, p.Path)
			continue
		}
		c.Name, c.Targets = p.Key+" "+p.Path, []string{t.Name}
		if c.Fix == "" {
			c.Fix = "mount or restore it, or fix targets." + t.Name + "." + p.Key
		}
		r.add(c)
	}
	if len(good) > 0 {
		r.add(Check{Status: OK, Name: "sources", Targets: []string{t.Name},
			Detail: fmt.Sprintf("%d present and readable: %s", len(good), strings.Join(good, ", "))})
	}
}

// sourceCheck checks one path a target reads. writer, when not "", says
// which target of the plan writes it.
func sourceCheck(p drivers.Path, writer string) Check {
	fi, err := os.Stat(p.Path)
	switch {
	case errors.Is(err, fs.ErrNotExist) && writer != "":
		return Check{Status: Warn, Detail: "does not exist yet: it is the " + writer,
			Fix: "run alexandria-backup init, then a plan with that target"}
	case errors.Is(err, fs.ErrNotExist):
		return Check{Status: Fail, Detail: "missing"}
	case errors.Is(err, syscall.ENOTDIR):
		return Check{Status: Fail, Detail: "missing: a part of the path is not a directory"}
	case err != nil:
		return Check{Status: Fail, Detail: "not readable: " + err.Error(),
			Fix: "make it and the directories above it readable for " + userName(os.Geteuid())}
	}
	if !fi.IsDir() {
		f, err := os.Open(p.Path)
		if err != nil {
			return Check{Status: Fail, Detail: "not readable: " + err.Error(), Fix: "make it readable for " + userName(os.Geteuid())}
		}
		f.Close()
		return Check{Status: OK}
	}
	// Listing a directory needs read, entering it search permission.
	err = syscall.Access(p.Path, 4|1 /* R_OK|X_OK */)
	if err == nil {
		var f *os.File
		if f, err = os.Open(p.Path); err == nil {
			_, err = f.Readdirnames(1)
			f.Close()
		}
	}
	switch {
	case errors.Is(err, io.EOF) && p.Source && !p.EmptyOK:
		return Check{Status: Warn, Detail: "an empty directory: an unmounted disk looks like this",
			Fix: "mount the disk; if empty is right, set allow_empty_source = true"}
	case err != nil && !errors.Is(err, io.EOF):
		return Check{Status: Fail, Detail: "not readable: " + err.Error(), Fix: "make it readable for " + userName(os.Geteuid())}
	}
	return Check{Status: OK}
}

// reach checks the target's database and backups: the tools reach them.
// It returns the size of the newest backup, when known.
func (r *run) reach(ctx context.Context, t *drivers.Target) int64 {
	d := r.driver(t.Driver)
	if pf, ok := d.(drivers.Preflighter); ok {
		rec := &recorder{x: r.o.Exec}
		cctx, cancel := r.ctx(ctx)
		err := pf.Preflight(cctx, rec, t)
		cancel()
		on := []string{t.Name}
		if err != nil {
			r.add(Check{Status: Fail, Name: "database", Targets: on, Detail: r.explain(cctx, err), Fix: fix(t, err)})
		} else {
			r.add(Check{Status: OK, Name: "database", Targets: on, Detail: "reachable; " + strings.Join(append(rec.lines, "is not older than the server"), " ")})
		}
	}
	cctx, cancel := r.ctx(ctx)
	snaps, err := d.Snapshots(cctx, r.o.Exec, t)
	cancel()
	on := []string{t.Name}
	switch {
	case err != nil:
		r.add(Check{Status: Fail, Name: "backups", Targets: on, Detail: r.explain(cctx, err), Fix: fix(t, err)})
	case len(snaps) == 0:
		r.add(Check{Status: Warn, Name: "backups", Targets: on, Detail: "none of this target yet", Fix: "run a plan with it"})
	default:
		detail := fmt.Sprintf("%d, newest %s", len(snaps), newest(snaps).Format(time.RFC3339))
		if newest(snaps).IsZero() {
			detail = fmt.Sprintf("%d, of unknown time (a mirror without the marker of a verified sync)", len(snaps))
		}
		r.add(Check{Status: OK, Name: "backups", Targets: on, Detail: detail})
	}
	if len(snaps) > 0 {
		return snaps[0].Bytes // newest first
	}
	return 0
}

func newest(snaps []drivers.Snapshot) time.Time {
	var n time.Time
	for _, s := range snaps {
		if s.Time.After(n) {
			n = s.Time
		}
	}
	return n.UTC()
}

// explain says a check ran out of time in words.
func (r *run) explain(ctx context.Context, err error) string {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Sprintf("no answer within %s (%v)", r.o.Timeout, err)
	}
	return err.Error()
}

// fix suggests what to do about a failed database or repository check,
// from what the tool said.
func fix(t *drivers.Target, err error) string {
	var se *drivers.SettingsError
	if errors.As(err, &se) {
		return "see targets." + t.Name + "." + se.Key + " in the plan"
	}
	msg := strings.ToLower(err.Error())
	has := func(signs ...string) bool {
		for _, s := range signs {
			if strings.Contains(msg, s) {
				return true
			}
		}
		return false
	}
	secretKey := "password_file"
	if k := t.Facts().PasswordKey; k != "" {
		secretKey = k
	}
	switch {
	case has("no answer within", "deadline exceeded"):
		return "is a backup holding the repository's lock? try again later, or raise --timeout"
	case has("wrong password", "passphrase supplied", "incorrect", "no key found"):
		return "check " + secretKey + ": it must hold this repository's password"
	case has("password authentication failed", "no password supplied"):
		return "check password_file (or PGPASSFILE) against the role's password"
	case has("is there a repository", "does not exist", "not a valid repository"):
		if t.Resources().Repository != "" {
			return "create it: alexandria-backup init " + t.Name + " (or fix repository)"
		}
		return "check the target's paths and names in the plan"
	case has("host key verification failed"):
		return "add the server's host key to known_hosts (connect once by hand as this user)"
	case has("permission denied (publickey"):
		return "check the ssh key and the server's authorized_keys"
	case has("connection refused", "no such host", "could not connect", "no route to host", "name resolution", "timeout"):
		return "is the server running and reachable from here?"
	case has("permission denied"):
		return "check the permissions of the files and directories it names for " + userName(os.Geteuid())
	}
	return ""
}

// secretFile checks a file holding a secret as ssh checks its keys: no
// access for group or others, owned by the user running the tool (or
// root), readable, and a password file not empty.
func secretFile(sec planpaths.Secret) Check {
	c := Check{Name: sec.Key + " " + sec.Path, Targets: []string{sec.Target}}
	fi, err := os.Stat(sec.Path)
	if err != nil {
		c.Status, c.Detail = Fail, err.Error()
		if os.IsNotExist(err) {
			c.Detail, c.Fix = "missing", "create it (mode 0600) or fix "+sec.Key
		}
		return c
	}
	perm, uid := fi.Mode().Perm(), owner(fi)
	switch {
	case !fi.Mode().IsRegular():
		c.Status, c.Detail = Fail, "not a regular file"
	case perm&0o077 != 0:
		// The tools refuse it too (ssh, libpq) or this tool does.
		c.Status, c.Detail, c.Fix = Fail, fmt.Sprintf("mode %04o: group or others may read it", perm), "chmod 600 "+sec.Path
	default:
		if sec.Password {
			_, err = drivers.ReadSecretFile(sec.Path)
		} else {
			var f *os.File
			if f, err = os.Open(sec.Path); err == nil {
				f.Close()
			}
		}
		if err != nil {
			c.Status, c.Detail = Fail, err.Error()
			if strings.HasSuffix(err.Error(), "is empty") {
				c.Detail, c.Fix = "empty", "write the secret into it"
			}
			return c
		}
		c.Status, c.Detail = OK, fmt.Sprintf("mode %04o, owner %s", perm, userName(uid))
		if uid != 0 && uid != os.Geteuid() {
			c.Status = Warn
			c.Detail = fmt.Sprintf("owned by %s, who may read or replace it; the tool runs as %s", userName(uid), userName(os.Geteuid()))
			c.Fix = "chown " + userName(os.Geteuid()) + " " + sec.Path
		}
	}
	return c
}

// freeSpace warns when a place backups are written to is short of space:
// below MinFree, or for dumps below twice the last dump.
func (r *run) freeSpace(t *drivers.Target, l planpaths.Local, last int64) Check {
	c := Check{Name: "free space in " + l.Path, Targets: []string{t.Name}}
	where := nearestExisting(l.Path)
	var st syscall.Statfs_t
	if err := syscall.Statfs(where, &st); err != nil {
		c.Status, c.Detail = Warn, err.Error()
		return c
	}
	free := int64(st.Bavail) * int64(st.Bsize)
	need, why := r.o.MinFree, fmt.Sprintf("at least %s", humanize.Bytes(r.o.MinFree))
	if l.Dumps && 2*last > need {
		need, why = 2*last, fmt.Sprintf("twice the last dump (%s)", humanize.Bytes(last))
	}
	c.Detail = humanize.Bytes(free) + " free"
	if where != l.Path {
		c.Detail += " (in " + where + "; the directory does not exist yet)"
	}
	c.Status = OK
	if free < need {
		c.Status = Warn
		c.Detail += ", less than " + why
		c.Fix = "free some space or move it to a larger file system"
	}
	return c
}

func owner(fi os.FileInfo) int {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid)
	}
	return -1
}

func userName(uid int) string {
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return u.Username
	}
	return "uid " + strconv.Itoa(uid)
}

// JSONCheck is one check in `doctor --json`.
type JSONCheck struct {
	Name string `json:"name"`
	// Targets the check is about: none for the plan, the tools and this
	// host; several for a secret file they share.
	Targets []string `json:"targets"`
	Status  string   `json:"status"` // ok, warn or fail
	Detail  string   `json:"detail"`
	Fix     string   `json:"fix,omitempty"`
}

// JSONReport is `doctor --json`'s document: each check in order, and
// how many ended each way.
type JSONReport struct {
	Checks  []JSONCheck `json:"checks"`
	Summary struct {
		OK      int     `json:"ok"`
		Warn    int     `json:"warn"`
		Fail    int     `json:"fail"`
		Seconds float64 `json:"seconds"`
	} `json:"summary"`
}

// Report is the checks as `doctor --json` prints them; took is how long
// they took.
func Report(checks []Check, took time.Duration) JSONReport {
	out := JSONReport{Checks: []JSONCheck{}}
	for _, c := range checks {
		out.Checks = append(out.Checks, JSONCheck{Name: c.Name, Targets: append([]string{}, c.Targets...),
			Status: strings.ToLower(string(c.Status)), Detail: c.Detail, Fix: c.Fix})
		switch c.Status {
		case OK:
			out.Summary.OK++
		case Warn:
			out.Summary.Warn++
		default:
			out.Summary.Fail++
		}
	}
	out.Summary.Seconds = math.Round(took.Seconds()*1000) / 1000
	return out
}
