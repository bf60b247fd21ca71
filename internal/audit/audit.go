// Package audit answers the guide's Backup Checklist, item by item, from
// what it is given: the plan, the state, the schedules installed on the
// host and, when asked, each target's newest backup as its repository
// lists it. It reads no file itself (the drivers' Custody may read a
// tool's config), so tests drive it with tables; `internal/cli/audit.go`
// gathers the inputs.
package audit

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/internal/cronexpr"
	"github.com/alexandria-backup/alexandria-backup/internal/humanize"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
	"github.com/alexandria-backup/alexandria-backup/internal/schedule"
	"github.com/alexandria-backup/alexandria-backup/internal/state"
	"github.com/alexandria-backup/alexandria-backup/plan"
)

// Status is an item's answer.
type Status string

const (
	OK     Status = "ok"     // ✓
	Failed Status = "failed" // ✗
	NA     Status = "n/a"    // –: not applicable, or cannot be told from here
)

// Symbol is the mark the text output shows.
func (s Status) Symbol() string {
	switch s {
	case OK:
		return "✓"
	case Failed:
		return "✗"
	}
	return "–"
}

// worse is the worse of two answers: failed, then cannot tell, then ok.
func worse(a, b Status) Status {
	rank := map[Status]int{OK: 0, NA: 1, Failed: 2}
	if rank[b] > rank[a] {
		return b
	}
	return a
}

// Item is one line of the checklist.
type Item struct {
	ID string `json:"id"`
	// Title is the guide's wording.
	Title  string `json:"title"`
	Status Status `json:"status"`
	// Evidence says what was read: a plan key, a file, a timer, a time.
	Evidence []string `json:"evidence"`
	// Fix is the exact command or plan key that clears a failure.
	Fix []string `json:"fix"`
}

// Report is the whole checklist.
type Report struct {
	CheckedAt time.Time `json:"checked_at"`
	// Source is where freshness was read: "state" or "repositories".
	Source                string  `json:"source"`
	DatabaseMaxAgeSeconds float64 `json:"database_max_age_seconds"`
	FilesMaxAgeSeconds    float64 `json:"files_max_age_seconds"`
	DrillWithinSeconds    float64 `json:"drill_within_seconds"`
	Items                 []Item  `json:"items"`
	Failed                bool    `json:"failed"`
}

// Defaults of the limits.
const (
	DefaultMaxAge      = 26 * time.Hour      // a daily backup, with slack
	FilesMaxAge        = 8 * 24 * time.Hour  // a weekly backup, with slack
	DefaultDrillWithin = 30 * 24 * time.Hour // a monthly drill
)

// Input is what the checklist is answered from.
type Input struct {
	Plan  *plan.Plan
	State *state.State
	Now   time.Time
	// MaxAge is how old the database's last backup may be (0: 26h);
	// files and offsite copies may be FilesMaxAge old.
	MaxAge time.Duration
	// DrillWithin is how long ago each target's last drill may have
	// passed (0: 30 days).
	DrillWithin time.Duration
	// Installed are the schedules found on the host (schedule.FindInstalled),
	// by plan; HostRoot is where they were looked for.
	Installed map[string][]schedule.Installed
	HostRoot  string
	// InKubernetes: this runs in a pod, where a CronJob cannot be seen:
	// whether a plan is scheduled cannot be told.
	InKubernetes bool
	// FromRepositories: freshness is Newest (each target's newest backup
	// as its repository lists it; absent: none) instead of the state.
	// ListErrors are the targets whose backups could not be listed.
	FromRepositories bool
	Newest           map[string]time.Time
	ListErrors       map[string]error
	// Cmd is the command line that reaches this plan file
	// ("alexandria-backup -c /etc/alexandria-backup.toml"), for fixes.
	Cmd string
}

func (in *Input) maxAge() time.Duration {
	if in.MaxAge > 0 {
		return in.MaxAge
	}
	return DefaultMaxAge
}

func (in *Input) drillWithin() time.Duration {
	if in.DrillWithin > 0 {
		return in.DrillWithin
	}
	return DefaultDrillWithin
}

// Run answers every item.
func Run(in *Input) *Report {
	r := &Report{CheckedAt: in.Now.UTC(), Source: "state", DatabaseMaxAgeSeconds: in.maxAge().Seconds(),
		FilesMaxAgeSeconds: FilesMaxAge.Seconds(), DrillWithinSeconds: in.drillWithin().Seconds()}
	if in.FromRepositories {
		r.Source = "repositories"
	}
	r.Items = []Item{
		Database(in), Files(in), Offsite(in), Drills(in),
		Monitoring(in), Retention(in), Encryption(in), IntegrityChecks(in),
	}
	for i := range r.Items {
		it := &r.Items[i]
		if it.Evidence == nil {
			it.Evidence = []string{}
		}
		if it.Fix == nil {
			it.Fix = []string{}
		}
		r.Failed = r.Failed || it.Status == Failed
	}
	return r
}

func newItem(id, title string) *Item { return &Item{ID: id, Title: title, Status: OK} }

// add records one finding: the item is as bad as its worst finding.
func (it *Item) add(s Status, evidence string, fix ...string) {
	it.Status = worse(it.Status, s)
	it.Evidence = append(it.Evidence, evidence)
	for _, f := range fix {
		if !slices.Contains(it.Fix, f) {
			it.Fix = append(it.Fix, f)
		}
	}
}

// Database is "Database backups automated (daily)".
func Database(in *Input) Item {
	it := newItem("database-daily", "Database backups automated (daily)")
	targets := pick(in.Plan, func(t *drivers.Target) bool { return t.Facts().Role == drivers.RoleDatabase })
	if len(targets) == 0 {
		it.add(Failed, "no target of "+in.Plan.Path+" backs up a database",
			`add a database target: [targets.db] driver = "pg_dump", database = "...", dir = "..." (or into = a restic target), in a plan with schedule = "daily"`)
		return *it
	}
	for _, t := range targets {
		automated(in, it, t, 24*time.Hour, "daily", in.maxAge())
	}
	return *it
}

// Files is "Library files backed up (weekly)": targets that back up
// local files (not a copy of a repository, nor a database).
func Files(in *Input) Item {
	it := newItem("files-weekly", "Library files backed up (weekly)")
	targets := pick(in.Plan, func(t *drivers.Target) bool {
		if t.Facts().Role == drivers.RoleDatabase || len(t.Holds) > 0 {
			return false
		}
		for _, p := range t.Resources().Paths {
			if p.Source && strings.HasPrefix(p.Path, "/") {
				return true
			}
		}
		return false
	})
	if len(targets) == 0 {
		it.add(Failed, "no target of "+in.Plan.Path+" backs up local files",
			`add a files target: [targets.library] driver = "restic", repository = "...", paths = ["/srv/library"], in a plan with schedule = "weekly" or "daily"`)
		return *it
	}
	for _, t := range targets {
		automated(in, it, t, 7*24*time.Hour, "weekly", FilesMaxAge)
	}
	return *it
}

// Offsite is "Offsite/cloud backup configured": a target whose backups
// are on another machine (its driver's Custody), and fresh.
func Offsite(in *Input) Item {
	it := newItem("offsite", "Offsite/cloud backup configured")
	var offsite, unknown []*drivers.Target
	for _, t := range pick(in.Plan, nil) {
		switch c := drivers.CustodyOf(t); c.Offsite {
		case drivers.Yes:
			offsite = append(offsite, t)
		case drivers.Unknown:
			unknown = append(unknown, t)
			it.add(NA, fmt.Sprintf("target %s: cannot tell whether %s is on another machine", t.Name, c.Place))
		}
	}
	if len(offsite) == 0 {
		if len(unknown) == 0 {
			it.add(Failed, "every target of "+in.Plan.Path+" keeps its backups on this machine",
				`add an offsite target: a restic target with copy_from = "<your restic target>" and a remote repository (sftp:, s3:, rest:, b2:), or an rclone target copying a local repository to a remote (destination = "remote:path")`)
		}
		return *it
	}
	it.Status = OK // one configured offsite copy answers the item; unknown places do not spoil it
	for _, t := range offsite {
		c := drivers.CustodyOf(t)
		it.add(OK, fmt.Sprintf("target %s keeps its backups at %s", t.Name, c.Place))
		fresh(in, it, t, FilesMaxAge)
	}
	return *it
}

// Drills is "Backup restoration tested": each target that can be drilled
// has a drill that passed within DrillWithin.
func Drills(in *Input) Item {
	it := newItem("restore-tested", "Backup restoration tested")
	within := in.drillWithin()
	any := false
	for _, t := range pick(in.Plan, nil) {
		if _, ok := t.Impl.(drivers.Driller); !ok {
			it.Evidence = append(it.Evidence, fmt.Sprintf("target %s: its driver cannot drill (not counted)", t.Name))
			continue
		}
		any = true
		fix := in.Cmd + " drill " + t.Name
		sched := `or schedule it: a plan with action = "drill", targets = ["` + t.Name + `"], schedule = "monthly"`
		d := in.State.Drills[t.Name]
		switch {
		case d == nil:
			it.add(Failed, fmt.Sprintf("target %s: no drill on record in %s", t.Name, in.Plan.StateDir), fix, sched)
		case d.LastSuccessAt == nil:
			it.add(Failed, fmt.Sprintf("target %s: drill %s at %s, never passed", t.Name, d.Status, stamp(d.LastRunAt)), fix, sched)
		case in.Now.Sub(*d.LastSuccessAt) > within:
			it.add(Failed, fmt.Sprintf("target %s: last drill passed %s, %s ago (more than %s)", t.Name, stamp(*d.LastSuccessAt),
				humanize.Duration(in.Now.Sub(*d.LastSuccessAt).Round(time.Minute)), humanize.Duration(within)), fix, sched)
		case !state.Succeeded(d.Status):
			it.add(Failed, fmt.Sprintf("target %s: last drill %s at %s (last passed %s)", t.Name, d.Status, stamp(d.LastRunAt), stamp(*d.LastSuccessAt)), fix)
		default:
			it.add(OK, fmt.Sprintf("target %s: drill passed %s (state %s)", t.Name, stamp(*d.LastSuccessAt), in.Plan.StateDir))
		}
	}
	if !any {
		it.add(NA, "no target can be drilled")
	}
	return *it
}

// Monitoring is "Monitoring/alerts for failed backups".
func Monitoring(in *Input) Item {
	it := newItem("monitoring", "Monitoring/alerts for failed backups")
	n := in.Plan.Notify
	var have []string
	if n.PingURL != "" {
		have = append(have, "notify.ping_url is set") // never its value: it holds a token
	}
	if n.MetricsFile != "" {
		have = append(have, "notify.metrics_file = "+n.MetricsFile)
	}
	if n.Ntfy != nil {
		have = append(have, "[notify.ntfy]")
	}
	if n.Email != nil {
		have = append(have, "[notify.email]")
	}
	if n.Webhook != nil {
		have = append(have, "[notify.webhook]")
	}
	if len(n.OnFailure) > 0 {
		have = append(have, fmt.Sprintf("notify.on_failure: %d command(s)", len(n.OnFailure)))
	}
	if len(have) == 0 {
		it.add(Failed, "no [notify] key in "+in.Plan.Path+": a failed backup tells no one",
			`set one in [notify]: ping_url = "https://hc-ping.com/<uuid>", metrics_file = "/var/lib/node_exporter/textfile/alexandria.prom", [notify.ntfy] or [notify.email], or on_failure = [["/usr/local/bin/alert"]]`)
		return *it
	}
	for _, h := range have {
		it.add(OK, h)
	}
	return *it
}

// Retention is "Retention policy configured": every target whose driver
// has retention keys sets one (a mirror has none).
func Retention(in *Input) Item {
	it := newItem("retention", "Retention policy configured")
	any := false
	for _, t := range pick(in.Plan, nil) {
		keys := keepKeys(t)
		if len(keys) == 0 {
			it.Evidence = append(it.Evidence, fmt.Sprintf("target %s: its driver keeps one copy (no retention keys)", t.Name))
			continue
		}
		any = true
		if t.Settings.HasRetention() {
			var set []string
			for _, k := range keys {
				if t.Settings.Has(k) {
					set = append(set, fmt.Sprintf("%s = %v", k, t.Settings[k]))
				}
			}
			it.add(OK, fmt.Sprintf("target %s: %s", t.Name, strings.Join(set, ", ")))
			continue
		}
		it.add(Failed, fmt.Sprintf("target %s: no %s set: every backup is kept forever", t.Name, strings.Join(keys, ", ")),
			fmt.Sprintf("set retention in [targets.%s], e.g. %s", t.Name, example(keys)))
	}
	if !any {
		it.add(NA, "no target has retention keys to set")
	}
	return *it
}

// keepKeys are the retention keys (keep_*) the target's driver takes.
func keepKeys(t *drivers.Target) []string {
	if t.Impl == nil {
		return nil
	}
	var out []string
	for _, o := range t.Impl.Options() {
		if strings.HasPrefix(o.Name, "keep_") {
			out = append(out, o.Name)
		}
	}
	return out
}

// example is a retention setting made of the keys a driver has.
func example(keys []string) string {
	var ex []string
	for _, kv := range [][2]string{{"keep_daily", "7"}, {"keep_weekly", "4"}, {"keep_monthly", "6"}} {
		if slices.Contains(keys, kv[0]) {
			ex = append(ex, kv[0]+" = "+kv[1])
		}
	}
	if len(ex) == 0 {
		ex = append(ex, keys[0]+" = 7")
	}
	return strings.Join(ex, ", ")
}

// Encryption is "Encryption enabled for sensitive data": every copy that
// leaves the host is encrypted at rest.
func Encryption(in *Input) Item {
	it := newItem("encryption", "Encryption enabled for sensitive data")
	any := false
	for _, t := range pick(in.Plan, nil) {
		c := drivers.CustodyOf(t)
		if c.Offsite == drivers.No {
			continue
		}
		any = true
		where := fmt.Sprintf("target %s (%s)", t.Name, c.Place)
		switch {
		case c.Offsite == drivers.Unknown:
			it.add(NA, where+": cannot tell whether it leaves this host; "+c.Why)
		case c.Encrypted == drivers.Yes:
			it.add(OK, where+": "+c.Why)
		case c.Encrypted == drivers.No:
			it.add(Failed, where+": not encrypted at rest: "+c.Why, c.Fix)
		default:
			it.add(NA, where+": cannot tell: "+c.Why)
		}
	}
	if !any {
		it.add(NA, "no backup leaves this host")
	}
	return *it
}

// IntegrityChecks is "Backup integrity checks scheduled": every target is
// read back by a scheduled check (plan.Checks), whose schedule is
// installed.
func IntegrityChecks(in *Input) Item {
	it := newItem("integrity-checks", "Backup integrity checks scheduled")
	for _, c := range in.Plan.Checks() {
		what := fmt.Sprintf("plan %s (%s, schedule %q) reads %s", c.Plan, c.Action, c.Schedule, strings.Join(c.Targets, ", "))
		s, ev, fix := installed(in, c.Plan)
		it.add(s, what+"; "+ev, fix...)
	}
	for _, name := range in.Plan.Unchecked() {
		it.add(Failed, "target "+name+": no scheduled plan verifies or drills it",
			fmt.Sprintf(`verify = true in [targets.%s] (it is on by default) with it in a plan that has a schedule, or a plan with action = "verify", targets = ["%s"], schedule = "weekly"`, name, name))
	}
	// A check that is scheduled but found damage is not a check passed:
	// state keeps a failed verify until one of that target passes.
	if in.State != nil {
		for _, name := range in.Plan.Order {
			if f := in.State.VerifyFailed[name]; f != nil {
				it.add(Failed, fmt.Sprintf("target %s: its last verify failed at %s: %s", name, f.At.UTC().Format(time.RFC3339), proc.MaskURLPasswords(f.Error)),
					fmt.Sprintf("find what is damaged (`%s verify --full %s`), repair or replace the backup, then verify it again", in.Cmd, name))
			}
		}
	}
	return *it
}

// automated adds to it whether target t is in a backup plan scheduled at
// least every gap (word: "daily"), that schedule installed, and its last
// backup within maxAge.
func automated(in *Input, it *Item, t *drivers.Target, gap time.Duration, word string, maxAge time.Duration) {
	var plans []*plan.Group
	for _, name := range sortedPlans(in.Plan) {
		g := in.Plan.Plans[name]
		if !g.IsCheck() && slices.Contains(g.Targets, t.Name) {
			plans = append(plans, g)
		}
	}
	if len(plans) == 0 {
		it.add(Failed, fmt.Sprintf("target %s is in no plan", t.Name),
			fmt.Sprintf(`add a plan: [plans.%s] targets = ["%s"], schedule = "%s"`, word, t.Name, word))
		fresh(in, it, t, maxAge)
		return
	}
	// The plan that best answers: often enough, and installed.
	var best *plan.Group
	bestStatus, bestEv, bestFix := Failed, "", []string(nil)
	for _, g := range plans {
		if g.Schedule == "" || !often(g.Schedule, gap) {
			continue
		}
		s, ev, fix := installed(in, g.Name)
		if best == nil || worse(s, bestStatus) == bestStatus && s != bestStatus {
			best, bestStatus, bestEv, bestFix = g, s, ev, fix
		}
	}
	if best == nil {
		g := plans[0]
		ev := fmt.Sprintf("target %s: plan %s has no schedule", t.Name, g.Name)
		if g.Schedule != "" {
			ev = fmt.Sprintf("target %s: plan %s runs less often than %s (schedule = %q)", t.Name, g.Name, word, g.Schedule)
		}
		it.add(Failed, ev, fmt.Sprintf(`schedule = "%s" in [plans.%s], then %s schedule systemd --install`, word, g.Name, in.Cmd))
	} else {
		it.add(bestStatus, fmt.Sprintf("target %s: plan %s, schedule %q (%s or more often); %s", t.Name, best.Name, best.Schedule, word, bestEv), bestFix...)
	}
	fresh(in, it, t, maxAge)
}

// installed says whether plan's schedule is installed on the host.
func installed(in *Input, planName string) (Status, string, []string) {
	fix := []string{in.Cmd + " schedule systemd --install (or schedule cron --install)"}
	var active, inactive []string
	for _, x := range in.Installed[planName] {
		if x.Active {
			active = append(active, x.Evidence)
		} else {
			inactive = append(inactive, x.Evidence)
		}
	}
	switch {
	case len(active) > 0:
		return OK, "installed: " + strings.Join(active, "; "), nil
	case len(inactive) > 0:
		return Failed, "installed but off: " + strings.Join(inactive, "; "),
			[]string{"systemctl enable --now " + schedule.UnitName(planName) + ".timer (or uncomment its line in " + schedule.CronFile + ")"}
	case in.InKubernetes:
		return NA, "running in Kubernetes: a CronJob cannot be seen from here (kubectl get cronjobs)", nil
	}
	// A CronJob is in the cluster, not on this host: say so, and fail
	// anyway (audit run in the pod says –).
	return Failed, fmt.Sprintf("not installed: no timer in %s and no line in %s written for this plan file (a Kubernetes CronJob cannot be seen from a host: run audit in its pod)",
		join(in.HostRoot, schedule.UnitDir), join(in.HostRoot, schedule.CronFile)), fix
}

func join(root, p string) string {
	if root == "" || root == "/" {
		return p
	}
	return strings.TrimSuffix(root, "/") + p
}

// fresh adds whether target t's newest backup is within maxAge, from the
// state or from its repository.
func fresh(in *Input, it *Item, t *drivers.Target, maxAge time.Duration) {
	g := planFor(in.Plan, t.Name)
	runFix := in.Cmd + " run " + g + " now; then find why the schedule did not (journalctl -u " + schedule.UnitName(g) + ", " + in.Cmd + " status)"
	if in.FromRepositories {
		if err := in.ListErrors[t.Name]; err != nil {
			it.add(Failed, fmt.Sprintf("target %s: cannot list its backups: %v", t.Name, firstLine(err.Error())), in.Cmd+" doctor")
			return
		}
		at, ok := in.Newest[t.Name]
		if !ok {
			it.add(Failed, fmt.Sprintf("target %s: no backup of known time in its repository", t.Name), runFix)
			return
		}
		judge(in, it, t, at, "repository", maxAge, runFix)
		return
	}
	o, _ := in.State.LastOf(t.Name)
	if o == nil || o.LastSuccessAt == nil {
		it.add(Failed, fmt.Sprintf("target %s: no successful backup on record in %s", t.Name, in.Plan.StateDir), runFix)
		return
	}
	judge(in, it, t, *o.LastSuccessAt, "state", maxAge, runFix)
	if !state.Succeeded(o.Status) {
		it.Evidence = append(it.Evidence, fmt.Sprintf("target %s: its last run %s at %s", t.Name, o.Status, stamp(o.LastRunAt)))
	}
}

func judge(in *Input, it *Item, t *drivers.Target, at time.Time, from string, maxAge time.Duration, fix string) {
	age := in.Now.Sub(at)
	ev := fmt.Sprintf("target %s: last backup %s, %s ago (%s)", t.Name, stamp(at), humanize.Duration(age.Round(time.Minute)), from)
	if age > maxAge {
		it.add(Failed, ev+", more than "+humanize.Duration(maxAge), fix)
		return
	}
	it.add(OK, ev)
}

// often reports whether a schedule runs at least every gap. It follows the
// schedule's runs over a year from a fixed date (long enough for months of
// 31 days and February 29), stopping at the first gap too long.
func often(sched string, gap time.Duration) bool {
	e, err := cronexpr.Parse(sched)
	if err != nil {
		return false
	}
	// One minute of slack: a daily run at 03:00 is 24h apart exactly.
	start := time.Date(2028, 1, 1, 0, 0, 0, 0, time.UTC)
	prev, ok := e.Next(start.Add(-time.Minute))
	if !ok {
		return false
	}
	end := start.AddDate(1, 0, 0)
	// At most 100,000 runs are followed: a schedule running that often
	// (every 5 minutes) is often enough for any gap asked here.
	for i := 0; prev.Before(end) && i < 100000; i++ {
		next, ok := e.Next(prev)
		if !ok || next.Sub(prev) > gap+time.Minute {
			return false
		}
		prev = next
	}
	return true
}

// planFor is the backup plan that runs target: a scheduled one first, in
// name order; "<plan>" when none holds it.
func planFor(p *plan.Plan, target string) string {
	found := ""
	for _, name := range sortedPlans(p) {
		g := p.Plans[name]
		if g.IsCheck() || !slices.Contains(g.Targets, target) {
			continue
		}
		if g.Schedule != "" {
			return name
		}
		if found == "" {
			found = name
		}
	}
	if found == "" {
		return "<plan>"
	}
	return found
}

// pick lists the plan's targets in its order, those keep says (all when nil).
func pick(p *plan.Plan, keep func(*drivers.Target) bool) []*drivers.Target {
	var out []*drivers.Target
	for _, name := range p.Order {
		if t := p.Targets[name]; t != nil && (keep == nil || keep(t)) {
			out = append(out, t)
		}
	}
	return out
}

func sortedPlans(p *plan.Plan) []string {
	var names []string
	for n := range p.Plans {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
