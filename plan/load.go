// Package plan loads and validates a TOML plan, orders its targets, runs
// them through their drivers and reports the outcome.
package plan

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/hashicorp/go-multierror"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/drivers/all"
	"github.com/alexandria-backup/alexandria-backup/internal/cronexpr"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
)

// Plan is a loaded, valid plan file.
type Plan struct {
	Path     string
	StateDir string
	// StateDirDefault: the plan names no state_dir; StateDir is the
	// default of the user who loaded it, which another user (a pod's)
	// would not share.
	StateDirDefault bool
	Parallel        int
	Targets         map[string]*drivers.Target
	// Order lists target names as they appear in the file.
	Order []string
	Plans map[string]*Group
	// Notify is the [notify] table: how a run's outcome reaches people
	// and monitoring.
	Notify Notify
	// BeforeRestore and AfterRestore are commands (argv lists, never a
	// shell) `recover` runs before it restores anything (stop the
	// application) and after everything was restored and proven (start
	// it again).
	BeforeRestore [][]string
	AfterRestore  [][]string
	// Secrets are the keys whose values are secrets written in the file
	// itself (not as ${VAR}): every `env` value (masked everywhere, as
	// cloud credentials go there), notify.ping_url (its token lets anyone
	// forge pings) and a restic repository URL holding a password.
	Secrets []SecretKey
	lines   *lineIndex // where keys are, for problems found after loading
	// src is the file's text, before ${VAR} expansion: what StoredPlan
	// redacts.
	src []byte
}

// SecretKey is where a plan file holds a secret.
type SecretKey struct {
	Key  string // dotted, as in Problem
	Line int
}

// Notify is the [notify] table.
type Notify struct {
	// PingURL is a healthchecks-protocol URL: /start, success, /fail. It
	// holds a secret token: never logged.
	PingURL string
	// MetricsFile is a Prometheus textfile-collector file.
	MetricsFile string
	// OnSuccess and OnFailure are commands (argv lists, never a shell) run
	// after a run, with its outcome in their environment.
	OnSuccess [][]string
	OnFailure [][]string
	// Ntfy, Email and Webhook are the channels that reach people (nil:
	// not configured); see notify.go.
	Ntfy    *NtfyConfig
	Email   *EmailConfig
	Webhook *WebhookConfig
}

// Group is one [plans.NAME] table: the targets `run NAME` backs up, or
// that a check plan (Action) verifies or drills.
type Group struct {
	Name     string
	Targets  []string
	Schedule string
	// Action is what running the plan does (checks.go); "" is backup.
	Action Action
}

// Problem is one thing wrong with a plan file.
type Problem struct {
	File string
	Line int    // 0 when unknown
	Key  string // dotted key, e.g. targets.library.keep_daily
	Msg  string
}

func (p Problem) Error() string {
	loc := p.File
	if p.Line > 0 {
		loc = fmt.Sprintf("%s:%d", p.File, p.Line)
	}
	if p.Key == "" {
		return loc + ": " + p.Msg
	}
	return fmt.Sprintf("%s: %s: %s", loc, p.Key, p.Msg)
}

// Error is every problem found in one pass over a plan.
type Error struct {
	errs *multierror.Error
}

func (e *Error) Error() string { return e.errs.Error() }

func (e *Error) Unwrap() error { return e.errs }

// Problems lists the problems one by one.
func (e *Error) Problems() []error { return e.errs.Errors }

func formatProblems(errs []error) string {
	lines := make([]string, len(errs))
	for i, err := range errs {
		lines[i] = "  " + err.Error()
	}
	noun := "problems"
	if len(errs) == 1 {
		noun = "problem"
	}
	return fmt.Sprintf("invalid plan (%d %s):\n%s", len(errs), noun, strings.Join(lines, "\n"))
}

var topKeys = []string{"state_dir", "parallel", "targets", "plans", "notify", "before_restore", "after_restore"}
var groupKeys = []string{"targets", "schedule", "action"}
var notifyKeys = []string{"ping_url", "metrics_file", "on_success", "on_failure", "ntfy", "email", "webhook"}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// maxNameLen bounds target and plan names: they become parts of file
// names (reports, dumps, temporary files) that must stay under 255 bytes.
const maxNameLen = 64

// Find returns the plan file to use: the flag, $ALEXANDRIA_BACKUP_CONFIG,
// ./alexandria-backup.toml, then /etc/alexandria-backup/alexandria-backup.toml.
func Find(flag string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	if env := os.Getenv("ALEXANDRIA_BACKUP_CONFIG"); env != "" {
		return env, nil
	}
	candidates := []string{"alexandria-backup.toml", DefaultPath}
	for _, c := range candidates {
		if _, err := os.Stat(c); err == nil {
			return c, nil
		}
	}
	return "", fmt.Errorf("no plan file: pass --config FILE or set ALEXANDRIA_BACKUP_CONFIG (looked for %s)", strings.Join(candidates, " and "))
}

// Load reads and validates a plan file. It returns *Error listing every
// problem found, or a plain error when the file cannot be read.
func Load(path string) (*Plan, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, src, os.LookupEnv)
}

// Parse validates plan source; lookup resolves ${VAR} references.
func Parse(path string, src []byte, lookup func(string) (string, bool)) (*Plan, error) {
	l := &loader{file: path, lines: newLineIndex(src), lookup: lookup}
	raw := map[string]any{}
	md, err := toml.Decode(string(src), &raw)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			l.add(Problem{Line: pe.Position.Line, Msg: pe.Message})
		} else {
			l.add(Problem{Msg: err.Error()})
		}
		return nil, l.err()
	}
	p := l.plan(raw, md.Keys())
	if err := l.err(); err != nil {
		return nil, err
	}
	p.src = src
	return p, nil
}

type loader struct {
	file    string
	lines   *lineIndex
	lookup  func(string) (string, bool)
	errs    *multierror.Error
	secrets []SecretKey
}

func (l *loader) add(p Problem) {
	p.File = l.file
	l.errs = multierror.Append(l.errs, p)
}

// problem records msg about the key at path (table names then key).
func (l *loader) problem(path []string, format string, args ...any) {
	l.add(Problem{Line: l.lines.find(path), Key: keyString(path), Msg: fmt.Sprintf(format, args...)})
}

func (l *loader) err() error {
	if l.errs == nil {
		return nil
	}
	// In the file's order, as an editor walks them; those with no line
	// (a missing key) last, each kept in the order found.
	line := func(err error) int {
		if p, ok := err.(Problem); ok && p.Line > 0 {
			return p.Line
		}
		return math.MaxInt
	}
	sort.SliceStable(l.errs.Errors, func(i, j int) bool { return line(l.errs.Errors[i]) < line(l.errs.Errors[j]) })
	l.errs.ErrorFormat = formatProblems
	return &Error{l.errs}
}

func (l *loader) plan(raw map[string]any, keys []toml.Key) *Plan {
	p := &Plan{Path: l.file, lines: l.lines, Parallel: 1, Targets: map[string]*drivers.Target{}, Plans: map[string]*Group{}}
	for _, k := range sortedKeys(raw) {
		if !contains(topKeys, k) {
			l.problem([]string{k}, "unknown key%s", suggest(k, topKeys))
		}
	}
	if v, ok := raw["state_dir"]; ok {
		if s, ok := l.expandString([]string{"state_dir"}, v); ok {
			if !filepath.IsAbs(s) {
				s = filepath.Join(filepath.Dir(l.file), s)
			}
			p.StateDir = s
		}
	} else {
		p.StateDir, p.StateDirDefault = DefaultStateDir(), true
	}
	if v, ok := raw["parallel"]; ok {
		if n, isInt := v.(int64); !isInt || n < 1 || n > 64 {
			l.problem([]string{"parallel"}, "must be an integer from 1 to 64")
		} else {
			p.Parallel = int(n)
		}
	}
	targets, _ := l.table([]string{"targets"}, raw["targets"])
	for _, k := range keys {
		// md.Keys() is in file order; pick out [targets.NAME] itself.
		if len(k) == 2 && k[0] == "targets" {
			if _, ok := targets[k[1]]; ok && !contains(p.Order, k[1]) {
				p.Order = append(p.Order, k[1])
			}
		}
	}
	for _, name := range sortedKeys(targets) {
		if !contains(p.Order, name) {
			p.Order = append(p.Order, name)
		}
		if t := l.target(name, targets[name], p.StateDir); t != nil {
			p.Targets[name] = t
		}
	}
	if len(targets) == 0 {
		// An empty file, the wrong file or one cut short by a failed copy:
		// a run would succeed doing nothing.
		l.problem([]string{"targets"}, "the plan defines no targets (add a [targets.NAME] table; see alexandria-backup.toml.example)")
	}
	l.resolveCopyFrom(p)
	resolveHolds(p)
	l.checkAfter(p)
	l.resolveInto(p)
	if n, ok := l.table([]string{"notify"}, raw["notify"]); ok {
		p.Notify = l.notify(n)
	}
	p.BeforeRestore = l.restoreHooks(raw, "before_restore")
	p.AfterRestore = l.restoreHooks(raw, "after_restore")
	p.Secrets = l.secrets
	groups, _ := l.table([]string{"plans"}, raw["plans"])
	for _, name := range sortedKeys(groups) {
		if g := l.group(name, groups[name], targets); g != nil {
			l.checkDrillable(g, p.Targets)
			p.Plans[name] = g
		}
	}
	return p
}

func (l *loader) table(path []string, v any) (map[string]any, bool) {
	if v == nil {
		return nil, false
	}
	m, ok := v.(map[string]any)
	if !ok {
		l.problem(path, "must be a table")
	}
	return m, ok
}

func (l *loader) target(name string, v any, stateDir string) *drivers.Target {
	path := []string{"targets", name}
	raw, ok := l.table(path, v)
	if !ok {
		return nil
	}
	l.checkName(path, "target")
	if name == drivers.PlanLabel {
		// The plan's own backups carry this name in a repository (a borg
		// archive "alexandria-plan@..."): a target's would be mixed up with them.
		l.problem(path, "the target name %s is reserved: the plan's own backups in restic and borg repositories carry it", name)
	}
	driverName, _ := raw["driver"].(string)
	d, known := all.Lookup(driverName)
	switch {
	case raw["driver"] == nil:
		l.problem(path, "`driver` is required (one of %s)", strings.Join(all.Names(), ", "))
		return nil
	case !known:
		l.problem(append(path, "driver"), "unknown driver %q (known drivers: %s)", fmt.Sprint(raw["driver"]), strings.Join(all.Names(), ", "))
		return nil
	}
	t := &drivers.Target{Name: name, Driver: driverName, Impl: d, Verify: drivers.DefaultVerify, Settings: drivers.Values{},
		TempDir: filepath.Join(stateDir, "tmp"), KeepDir: filepath.Join(stateDir, "keep"), DrillSample: drivers.DefaultDrillSample, VerifyCycle: drivers.DefaultVerifyCycle, RetryWait: drivers.DefaultRetryWait}
	opts := append(append([]drivers.Option{}, drivers.CommonOptions...), d.Options()...)
	var names []string
	for _, o := range opts {
		names = append(names, o.Name)
	}
	before := l.count()
	for _, key := range sortedKeys(raw) {
		kp := append(append([]string{}, path...), key)
		o, ok := findOption(opts, key)
		if !ok {
			l.problem(kp, "unknown key for driver %s%s", driverName, suggest(key, names))
			continue
		}
		val, err := o.Convert(l.expand(kp, raw[key]))
		if err != nil {
			l.problem(kp, "%v", err)
			continue
		}
		switch key {
		case "driver":
		case "after":
			t.After = val.([]string)
		case "timeout":
			t.Timeout = val.(time.Duration)
		case "verify":
			t.Verify = val.(bool)
		case "env":
			t.Env = l.envTable(kp, val.(map[string]string))
			if m, ok := raw[key].(map[string]any); ok {
				for _, name := range sortedKeys(m) {
					l.secret(append(append([]string{}, kp...), name), m[name])
				}
			}
		case "exit_codes":
			t.ExitCodes = val.(proc.ExitCodes)
		case "drill":
			t.Drill = val.(bool)
		case "verify_cycle":
			t.VerifyCycle = val.(int)
		case "drill_sample":
			t.DrillSample = val.(int)
		case "retries":
			t.Retries = val.(int)
		case "retry_wait":
			t.RetryWait = val.(time.Duration)
		default:
			t.Settings[key] = val
		}
	}
	for _, o := range opts {
		_, set := raw[o.Name]
		_, waived := raw[o.Unless]
		switch {
		case !o.Required || set:
		case o.Unless == "":
			l.problem(path, "`%s` is required for driver %s", o.Name, driverName)
		case !waived:
			l.problem(path, "`%s` is required for driver %s, unless `%s` is set", o.Name, driverName, o.Unless)
		}
	}
	if l.count() > before {
		return nil
	}
	if err := d.Validate(t); err != nil {
		var se *drivers.SettingsError
		if errors.As(err, &se) {
			l.problem(append(path, se.Key), "%s", se.Msg)
		} else {
			l.problem(path, "%v", err)
		}
		return nil
	}
	return t
}

// checkName holds target and plan names to one rule: they become parts
// of file names (dumps, reports, temporary files), tags and globs, so
// ASCII letters, digits, '.', '_' and '-' only, starting with a letter
// or digit (never "..", never an option), and short.
func (l *loader) checkName(path []string, what string) {
	name := path[len(path)-1]
	if !nameRE.MatchString(name) || len(name) > maxNameLen {
		l.problem(path, "a %s name may only use ASCII letters, digits, '.', '_' and '-', must start with a letter or digit and be at most %d characters (it becomes part of file names and tags)", what, maxNameLen)
	}
}

// envTable refuses names a child's environment cannot hold as such, and
// values holding a NUL byte (the tool could not be started). Values are
// secrets: never repeated.
func (l *loader) envTable(path []string, env map[string]string) map[string]string {
	for _, name := range sortedKeys(toAny(env)) {
		kp := append(append([]string{}, path...), name)
		switch {
		case !drivers.ValidEnvName(name):
			l.problem(kp, "not a valid environment variable name (letters, digits and '_', not starting with a digit)")
		case strings.ContainsRune(env[name], 0):
			l.problem(kp, "the value holds a NUL byte, which no environment can pass")
		}
	}
	return env
}

// secret records that the value at path, as written in the file, is a
// secret, unless it comes from the environment (${VAR}): then the file
// holds only its name.
func (l *loader) secret(path []string, raw any) {
	if s, ok := raw.(string); ok && !varRE.MatchString(strings.ReplaceAll(s, "$$", "")) {
		l.secrets = append(l.secrets, SecretKey{Key: keyString(path), Line: l.lines.find(path)})
	}
}

func (l *loader) count() int {
	if l.errs == nil {
		return 0
	}
	return len(l.errs.Errors)
}

func findOption(opts []drivers.Option, name string) (drivers.Option, bool) {
	for _, o := range opts {
		if o.Name == name {
			return o, true
		}
	}
	return drivers.Option{}, false
}

// checkAfter checks that `after` names known targets and has no cycles.
func (l *loader) checkAfter(p *Plan) {
	for _, name := range p.Order {
		t := p.Targets[name]
		if t == nil {
			continue
		}
		for _, dep := range t.After {
			if dep == name {
				l.problem([]string{"targets", name, "after"}, "a target cannot run after itself")
			} else if !contains(p.Order, dep) {
				l.problem([]string{"targets", name, "after"}, "unknown target %q%s", dep, suggest(dep, p.Order))
			}
		}
	}
	if cycle := findCycle(p); cycle != nil {
		what := "`after` forms"
		for _, n := range cycle {
			if t := p.Targets[n]; t != nil && t.Settings.Str("copy_from") != "" {
				what = "`after` and `copy_from` (a copy runs after its source) form"
			}
		}
		l.problem([]string{"targets", cycle[0], "after"}, "%s a cycle: %s", what, strings.Join(cycle, " → "))
	}
}

// resolveInto links a pg_dump target to the restic or borg target its
// dump streams into.
func (l *loader) resolveInto(p *Plan) {
	for _, name := range p.Order {
		t := p.Targets[name]
		if t == nil || t.Settings.Str("into") == "" {
			continue
		}
		into := t.Settings.Str("into")
		dest, ok := p.Targets[into]
		switch {
		case !contains(p.Order, into):
			l.problem([]string{"targets", name, "into"}, "unknown target %q%s", into, suggest(into, p.Order))
		case !ok:
			// That target has problems of its own, already reported.
		case !drivers.ReceivesDumps(dest):
			l.problem([]string{"targets", name, "into"}, "target %q uses driver %s; a dump can only stream into a restic or borg target", into, dest.Driver)
		default:
			t.Into = dest
		}
	}
}

// resolveCopyFrom links a target that copies another target's snapshots
// into its own repository (restic's copy_from) to that target. The source
// must be another target of the same driver, and one that makes backups:
// a copy of a copy would select snapshots by a host and tag no backup of
// it writes, and copies copying each other would wait on each other.
func (l *loader) resolveCopyFrom(p *Plan) {
	for _, name := range p.Order {
		t := p.Targets[name]
		if t == nil || t.Settings.Str("copy_from") == "" {
			continue
		}
		key := []string{"targets", name, "copy_from"}
		from := t.Settings.Str("copy_from")
		src, ok := p.Targets[from]
		switch {
		case from == name:
			l.problem(key, "a target cannot copy from itself; name the target whose snapshots it copies")
		case !contains(p.Order, from):
			l.problem(key, "unknown target %q%s", from, suggest(from, p.Order))
		case !ok:
			// That target has problems of its own, already reported.
		case src.Driver != t.Driver:
			l.problem(key, "target %q uses driver %s; a %s target copies only from another %s target", from, src.Driver, t.Driver, t.Driver)
		case src.Settings.Str("copy_from") != "":
			l.problem(key, "target %q is itself a copy (of %q); copy from the target that makes the backups", from, src.Settings.Str("copy_from"))
		case t.Repository() != "" && t.Repository() == src.Repository():
			// Its retention picks the source's snapshots (their host
			// and tag) with the copy's own keep_* rules: in the same
			// repository that would thin the source's backups.
			l.problem(key, "target %q keeps its snapshots in the same repository (%s): a copy goes to a repository of its own", from, t.Repository())
		default:
			t.CopyFrom = src
		}
	}
	// Two copies of one source in one repository would thin each other's
	// snapshots (both pick the source's host and tag) with their own
	// keep_* rules.
	seen := map[[2]string]string{}
	for _, name := range p.Order {
		t := p.Targets[name]
		if t == nil || t.CopyFrom == nil || t.Repository() == "" {
			continue
		}
		k := [2]string{t.CopyFrom.Name, t.Repository()}
		if other, dup := seen[k]; dup {
			l.problem([]string{"targets", name, "repository"}, "target %q already copies %q into %s: two copies of one source need two repositories", other, t.CopyFrom.Name, t.Repository())
			continue
		}
		seen[k] = name
	}
}

// resolveHolds links a target that copies a local directory file for file
// (drivers.DirCopier: rclone) to the targets whose repository is that
// directory (drivers.CopyDriller: restic), so that its drill opens the
// copy as their repository. Inferred from the paths, with no key of its
// own: a directory holds one repository, so the link is never ambiguous
// (targets sharing that repository are all held).
func resolveHolds(p *Plan) {
	for _, name := range p.Order {
		t := p.Targets[name]
		if t == nil {
			continue
		}
		c, ok := t.Impl.(drivers.DirCopier)
		if !ok || c.CopiedDir(t) == "" {
			continue
		}
		for _, other := range p.Order {
			r := p.Targets[other]
			if r == nil || r == t {
				continue
			}
			if d, ok := r.Impl.(drivers.CopyDriller); ok && drivers.SamePlace(c.CopiedDir(t), d.LocalRepository(r)) {
				t.Holds = append(t.Holds, r)
			}
		}
	}
}

// waitsFor lists the targets t runs after: its `after`, and the target it
// copies from (copy_from), whose new backup it copies.
func waitsFor(t *drivers.Target) []string {
	deps := t.After
	if from := t.Settings.Str("copy_from"); from != "" && !contains(deps, from) {
		deps = append(append([]string{}, deps...), from)
	}
	return deps
}

// findCycle returns one cycle through `after` (and copy_from), or nil.
func findCycle(p *Plan) []string {
	const (
		unseen = iota
		active
		done
	)
	state := map[string]int{}
	var stack []string
	var visit func(string) []string
	visit = func(n string) []string {
		state[n] = active
		stack = append(stack, n)
		if t := p.Targets[n]; t != nil {
			for _, dep := range waitsFor(t) {
				switch state[dep] {
				case active:
					for i, s := range stack {
						if s == dep {
							return append(append([]string{}, stack[i:]...), dep)
						}
					}
				case unseen:
					if _, ok := p.Targets[dep]; ok {
						if c := visit(dep); c != nil {
							return c
						}
					}
				}
			}
		}
		stack = stack[:len(stack)-1]
		state[n] = done
		return nil
	}
	for _, n := range p.Order {
		if state[n] == unseen {
			if c := visit(n); c != nil {
				return c
			}
		}
	}
	return nil
}

func (l *loader) group(name string, v any, targets map[string]any) *Group {
	path := []string{"plans", name}
	raw, ok := l.table(path, v)
	if !ok {
		return nil
	}
	l.checkName(path, "plan")
	g := &Group{Name: name}
	for _, key := range sortedKeys(raw) {
		kp := append(append([]string{}, path...), key)
		switch key {
		case "targets":
			list, ok := l.expand(kp, raw[key]).([]any)
			if !ok || len(list) == 0 {
				l.problem(kp, "must be a non-empty array of target names")
				continue
			}
			for _, x := range list {
				s, ok := x.(string)
				if !ok {
					l.problem(kp, "must be an array of target names")
					break
				}
				if _, known := targets[s]; !known {
					l.problem(kp, "unknown target %q%s", s, suggest(s, sortedKeys(targets)))
				} else if contains(g.Targets, s) {
					l.problem(kp, "target %q is listed twice", s)
				} else {
					g.Targets = append(g.Targets, s)
				}
			}
		case "schedule":
			s, ok := raw[key].(string)
			if !ok {
				l.problem(kp, "must be hourly, daily, weekly, monthly or a 5-field cron expression, not %s", fmt.Sprint(raw[key]))
				continue
			}
			// The same parser `schedule` uses: what validates, schedules.
			if _, err := cronexpr.Parse(s); err != nil {
				l.problem(kp, "%v", err)
				continue
			}
			g.Schedule = s
		case "action":
			l.checkAction(kp, raw[key], g)
		default:
			l.problem(kp, "unknown key%s", suggest(key, groupKeys))
		}
	}
	if _, ok := raw["targets"]; !ok {
		l.problem(path, "`targets` is required")
	}
	return g
}

func (l *loader) notify(raw map[string]any) Notify {
	var n Notify
	for _, key := range sortedKeys(raw) {
		kp := []string{"notify", key}
		switch key {
		case "ntfy", "email", "webhook":
			t, ok := raw[key].(map[string]any)
			if !ok {
				l.problem(kp, "must be a table: [notify.%s]", key)
				continue
			}
			switch key {
			case "ntfy":
				n.Ntfy = l.ntfy(t)
			case "email":
				n.Email = l.email(t)
			default:
				n.Webhook = l.webhook(t)
			}
			continue
		}
		v := l.expand(kp, raw[key])
		switch key {
		case "ping_url":
			s, ok := v.(string)
			if u, err := url.Parse(s); !ok || err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
				l.problem(kp, "must be an http(s) URL such as \"https://hc-ping.com/UUID\"")
				continue
			}
			n.PingURL = s
			l.secret(kp, raw[key])
		case "metrics_file":
			s, ok := v.(string)
			if !ok || !filepath.IsAbs(s) || !strings.HasSuffix(s, ".prom") {
				l.problem(kp, "must be an absolute path ending in .prom (the textfile collector reads *.prom)")
				continue
			}
			n.MetricsFile = s
		case "on_success", "on_failure":
			cmds, ok := argvLists(v)
			if !ok {
				l.problem(kp, "must be a list of commands, each an array of strings: [[\"/usr/local/bin/page-oncall\", \"backup failed\"]] (never a shell line)")
				continue
			}
			if key == "on_success" {
				n.OnSuccess = cmds
			} else {
				n.OnFailure = cmds
			}
		default:
			l.problem(kp, "unknown key%s", suggest(key, notifyKeys))
		}
	}
	return n
}

// restoreHooks reads before_restore or after_restore: a list of
// commands, each an argv list whose program drivers.CheckArgv accepts.
func (l *loader) restoreHooks(raw map[string]any, key string) [][]string {
	v, ok := raw[key]
	if !ok {
		return nil
	}
	kp := []string{key}
	cmds, ok := argvLists(l.expand(kp, v))
	if !ok {
		l.problem(kp, "must be a list of commands, each an array of strings: [[\"systemctl\", \"stop\", \"alexandria\"]] (never a shell line)")
		return nil
	}
	for _, argv := range cmds {
		if err := drivers.CheckArgv(key, argv); err != nil {
			var se *drivers.SettingsError
			if errors.As(err, &se) {
				l.problem(kp, "%s", se.Msg)
			} else {
				l.problem(kp, "%v", err)
			}
			return nil
		}
	}
	return cmds
}

// argvLists reads [["prog", "arg"], ...]: each command a non-empty array of
// strings.
func argvLists(v any) ([][]string, bool) {
	list, ok := v.([]any)
	if !ok {
		return nil, false
	}
	var out [][]string
	for _, c := range list {
		words, ok := c.([]any)
		if !ok || len(words) == 0 {
			return nil, false
		}
		var argv []string
		for _, w := range words {
			s, ok := w.(string)
			if !ok || s == "" {
				return nil, false
			}
			argv = append(argv, s)
		}
		out = append(out, argv)
	}
	return out, true
}

// DefaultStateDir is /var/lib/alexandria-backup for root, else the XDG
// state directory.
func DefaultStateDir() string {
	if os.Geteuid() == 0 {
		return "/var/lib/alexandria-backup"
	}
	if x := os.Getenv("XDG_STATE_HOME"); filepath.IsAbs(x) {
		return filepath.Join(x, "alexandria-backup")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), fmt.Sprintf("alexandria-backup-%d", os.Getuid()))
	}
	return filepath.Join(home, ".local", "state", "alexandria-backup")
}

func sortedKeys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
