package schedule

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/internal/cronexpr"
	"github.com/alexandria-backup/alexandria-backup/internal/humanize"
	"github.com/alexandria-backup/alexandria-backup/internal/planpaths"
)

// UnitDir is where the units go.
const UnitDir = "/etc/systemd/system"

// UnitName is the base name of a plan's units.
func UnitName(plan string) string { return "alexandria-backup-" + plan }

// protectedByFull are the trees ProtectSystem=full makes read-only.
var protectedByFull = []string{"/usr", "/boot", "/efi", "/etc"}

// privateTmpTrees are hidden from a PrivateTmp=yes service: what it writes
// there is removed when it stops.
var privateTmpTrees = []string{"/tmp", "/var/tmp"}

// FailureUnit is the template unit every service names in OnFailure=.
const FailureUnit = "alexandria-backup-failure@.service"

// Systemd gives a oneshot service and a timer for every scheduled plan,
// and the template unit their OnFailure= starts.
func Systemd(s *Set) (*Output, error) {
	intro := []string{
		"# systemd units for the scheduled plans of " + s.Opts.Config + ",",
		"# written by `alexandria-backup schedule systemd`. Each unit below follows a comment",
		"# line naming its file in " + UnitDir + ". `schedule systemd --install` (as root) puts",
		"# them there and enables the timers; by hand: save each there (or use --output-dir), then run",
		"#   systemctl daemon-reload",
	}
	for _, j := range s.Jobs {
		intro = append(intro, "#   systemctl enable --now "+UnitName(j.Plan)+".timer")
	}
	intro = append(intro,
		"# Times are this machine's local time. `systemctl list-timers` shows the next runs,",
		"# `journalctl -u alexandria-backup-PLAN` the logs.",
	)
	for _, name := range s.Skipped {
		intro = append(intro, fmt.Sprintf("# Plan %q has no schedule key: no units.", name))
	}
	o := &Output{Intro: strings.Join(intro, "\n") + "\n", Sep: "\n"}
	for _, j := range s.Jobs {
		var service, timer strings.Builder
		writeService(&service, s, j)
		writeTimer(&timer, s, j)
		o.Files = append(o.Files,
			File{Path: UnitDir + "/" + UnitName(j.Plan) + ".service", Content: service.String()},
			File{Path: UnitDir + "/" + UnitName(j.Plan) + ".timer", Content: timer.String()})
	}
	var failure strings.Builder
	writeFailureUnit(&failure, s)
	o.Files = append(o.Files, File{Path: UnitDir + "/" + FailureUnit, Content: failure.String()})
	return o, nil
}

// writeFailureUnit writes the template unit a failed run starts (%i: the
// failed unit's name). A run with warnings only (exit 3) fails its unit
// too, so this runs for it as well.
func writeFailureUnit(w io.Writer, s *Set) {
	lines(w,
		"# "+UnitDir+"/"+FailureUnit,
		Marker(s.Opts.Config),
		"# Started by OnFailure= of the alexandria-backup services: a run that failed or",
		"# ended with warnings (exit 3). It puts one line at priority err in the journal",
		"# (`journalctl -p err`), where log monitors look. To be told another way, add a",
		"# drop-in with another ExecStart= (systemctl edit "+FailureUnit+").",
		"[Unit]",
		"Description=alexandria-backup: %i failed or ended with warnings",
		"",
		"[Service]",
		"Type=oneshot",
		"SyslogIdentifier=alexandria-backup",
		"SyslogLevel=err",
		`ExecStart=/bin/echo "%i failed or ended with warnings (exit 3): journalctl -u %i"`,
	)
}

func writeService(w io.Writer, s *Set, j Job) {
	name := UnitName(j.Plan)
	locals := planpaths.Locals(s.Plan.StateDir, j.Targets)
	secrets := jobSecrets(s, j.Targets)
	after := "network-online.target"
	if j.hasDriver("pg_dump") {
		// A run caught up at boot (Persistent=true) must find the database up.
		after += " postgresql.service"
	}
	lines(w,
		"# "+UnitDir+"/"+name+".service",
		Marker(s.Opts.Config),
		"[Unit]",
		fmt.Sprintf("Description=alexandria-backup: %s plan %s", j.verb(), j.Plan),
		"Wants=network-online.target",
		"After="+after,
		"# A failed run, or one with warnings (exit 3), starts this: a line at priority err.",
		"OnFailure=alexandria-backup-failure@%n.service",
		"",
		"[Service]",
		"Type=oneshot",
		"ExecStart="+systemdCommand(append([]string{s.Opts.Binary}, s.args(j)...)),
	)
	if s.Opts.User != "" && s.Opts.User != "root" {
		lines(w, "User="+s.Opts.User)
	}
	lines(w,
		"# A backstop for a hang: the targets' timeouts one after the other (6h for a",
		"# target without one), the lock wait and 10 minutes. systemd then sends SIGTERM:",
		"# the tool stops its tools, reports the run as interrupted and exits 143.",
		"TimeoutStartSec="+systemdSpan(j.Budget),
		"# Exit 3 (warnings only: a partial backup) leaves the unit failed too, so warnings",
		"# show in `systemctl --failed` and start OnFailure=; SuccessExitStatus=3 would hide them.",
		"# Backups yield to everything else on the machine.",
		"Nice=19",
		"CPUSchedulingPolicy=batch",
		"IOSchedulingClass=best-effort",
		"IOSchedulingPriority=7",
		"# Hardening that leaves backups working: no privilege gain, /usr, /boot and",
		"# /etc read-only (what the plan writes there is reopened below).",
		"NoNewPrivileges=yes",
		"ProtectSystem=full",
		"ProtectKernelTunables=yes",
		"ProtectKernelModules=yes",
		"ProtectControlGroups=yes",
	)
	if where := inPrivateTmp(s.Opts, locals, secrets, j); where != "" {
		lines(w, "# No PrivateTmp=yes: "+where+" is under /tmp or /var/tmp, which it would hide.")
	} else {
		lines(w, "# A private /tmp, removed when the run ends with whatever a killed tool left.",
			"PrivateTmp=yes")
	}
	var reopen []string
	for _, l := range locals {
		if l.Write && underAny(l.Path, protectedByFull) {
			reopen = append(reopen, l.Path)
		}
	}
	for _, sec := range secrets {
		if sec.Key == "config" && underAny(sec.Path, protectedByFull) {
			// rclone rewrites its config (refreshed tokens) through a
			// temporary file beside it.
			reopen = append(reopen, dir(sec.Path))
		}
	}
	for _, p := range dedupe(reopen) {
		// "-": not an error while the directory does not exist yet.
		lines(w, "ReadWritePaths="+systemdWord("-"+p))
	}
	lines(w,
		"# The plan may use ${VAR}: put such variables in a file (mode 0600) and name it here.",
		"#EnvironmentFile=/etc/alexandria-backup/environment",
	)
}

func writeTimer(w io.Writer, s *Set, j Job) {
	name := UnitName(j.Plan)
	lines(w,
		"# "+UnitDir+"/"+name+".timer",
		Marker(s.Opts.Config),
		"[Unit]",
		fmt.Sprintf("Description=alexandria-backup: plan %s, %s", j.Plan, j.describe()),
		"",
		"[Timer]",
	)
	for _, c := range j.Expr.OnCalendar() {
		lines(w, "OnCalendar="+c)
	}
	lines(w,
		"# A run missed while the machine was off starts when it is back.",
		"Persistent=true",
	)
	if d := randomDelay(j.Expr); d > 0 {
		lines(w,
			"# Start up to this much later, at random (a tenth of the shortest interval, at",
			"# most 30 minutes), so that machines sharing a repository or a server spread out.",
			"RandomizedDelaySec="+systemdSpan(d))
	}
	lines(w,
		"",
		"[Install]",
		"WantedBy=timers.target",
	)
}

// randomDelay is a tenth of the shortest interval between runs, at most 30
// minutes, in whole minutes; none below a minute.
func randomDelay(e *cronexpr.Expr) time.Duration {
	d := e.MinGap() / 10
	if d > 30*time.Minute {
		d = 30 * time.Minute
	}
	return d.Truncate(time.Minute)
}

// inPrivateTmp names a path the job uses that PrivateTmp=yes would hide,
// or "".
func inPrivateTmp(o Options, locals []planpaths.Local, secrets []planpaths.Secret, j Job) string {
	for _, p := range []string{o.Binary, o.Config} {
		if underAny(p, privateTmpTrees) {
			return p
		}
	}
	for _, l := range locals {
		if underAny(l.Path, privateTmpTrees) {
			return l.Path
		}
	}
	for _, sec := range secrets {
		if underAny(sec.Path, privateTmpTrees) {
			return sec.Path
		}
	}
	for _, t := range j.Targets {
		// A PostgreSQL socket in /tmp (upstream's default socket directory).
		if t.Facts().Role == drivers.RoleDatabase && strings.Contains(t.Resources().Database, "/tmp") {
			return "the database socket of target " + t.Name
		}
	}
	return ""
}

func underAny(path string, trees []string) bool {
	for _, t := range trees {
		if planpaths.Within(path, t) {
			return true
		}
	}
	return false
}

func dir(path string) string {
	i := strings.LastIndex(path, "/")
	if i <= 0 {
		return "/"
	}
	return path[:i]
}

func dedupe(list []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range list {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// systemdSpan writes a time span as systemd reads it: "1h10min", "30min".
func systemdSpan(d time.Duration) string {
	return strings.Replace(humanize.Duration(d), "m", "min", 1)
}

// systemdCommand writes an ExecStart= command line: each word as systemd
// splits it, with % and $ escaped so neither specifiers nor variables are
// expanded in a path or name.
func systemdCommand(argv []string) string {
	words := make([]string, len(argv))
	for i, a := range argv {
		words[i] = systemdWord(a)
	}
	return strings.Join(words, " ")
}

func systemdWord(s string) string {
	plain := s != ""
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=,+@", r)) {
			plain = false
			break
		}
	}
	if plain {
		return s
	}
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "%", "%%", "$", "$$", "\n", `\n`, "\t", `\t`)
	return `"` + r.Replace(s) + `"`
}
