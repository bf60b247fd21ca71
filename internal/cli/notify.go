package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/alexandria-backup/alexandria-backup/internal/humanize"
	"github.com/alexandria-backup/alexandria-backup/internal/notify"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
	"github.com/alexandria-backup/alexandria-backup/plan"
)

// pingURLEnv names the ping URL used when the plan cannot say: the plan
// file is missing or invalid (a run that cannot start must still reach
// monitoring), or it has no notify.ping_url. An environment variable and
// not a flag, because the URL holds a secret token and argv is public.
const pingURLEnv = "ALEXANDRIA_BACKUP_PING_URL"

// Bounds of the notifications; tests shorten them.
var (
	pingTimeout    = notify.DefaultTimeout
	hookTimeout    = notify.DefaultHookTimeout
	channelTimeout = notify.DefaultChannelTimeout
)

// alerts tells monitoring about one run: healthchecks pings, the plan's
// channels to people (ntfy, e-mail, a webhook: sent on failure and
// warning unless their `on` says otherwise) and its on_success /
// on_failure hooks.
//
// What each outcome sends (healthchecks has no "warning" state):
//
//	ok, warning (exit 0, 3)         success ping; on_success hooks
//	failed (exit 1)                 /fail; on_failure hooks
//	interrupted (exit 130, 143)     /fail; on_failure hooks
//	not started (exit 2: invalid    /fail (from $ALEXANDRIA_BACKUP_PING_URL when
//	plan, unknown plan name)        the plan cannot be read); on_failure hooks
//	                                when the plan was read
//	lock held (exit 75)             /log, no /start, no hooks, no channels
//	--dry-run                       nothing
//
// Channels hear "failure" for failed, interrupted and not-started runs
// (when the plan was read), "warning" for exit 3, "success" for exit 0.
//
// Warnings ping success: the backup was made and verified, and a check that
// pages on every vanished file teaches people to ignore it; the body says
// "warning" and names them, and the exit code and metrics keep the
// distinction. A run skipped because another holds the lock is not a
// failure of the backup: the run holding the lock pings its own outcome,
// and if runs keep being skipped no success arrives and the check goes
// down by itself; the /log event records the skip in the check's history.
// It sends no /start, which would replace the running run's start in
// healthchecks' eyes (it watches only the most recent start).
//
// No ping or hook can change the exit code: they are logged, as warnings
// and errors, and the run's outcome stays what the backup made it.
//
// A check (`verify`, `verify --full`, `drill`, scheduled or by hand)
// alerts like a run when it fails: /fail, on_failure hooks, channels; a
// check that finds damage is as bad as a backup that failed. When it
// passes it pings nothing and runs no on_success hook: the ping URL
// watches the backups, and a passed check's success would reset the
// monitor's timer while no backup is made. Channels follow their `on`
// (by default failure and warning, so a passed check is silent).
type alerts struct {
	c       *cli.Context
	command string // "run", "verify", "verify --full", "drill"
	group   string // the plan; "" for a check of named targets or all
	check   bool   // a check, not a run: see above
	dryRun  bool

	plan    *plan.Plan
	ping    *notify.Pinger // nil: no ping URL
	pingErr error          // the ping URL could not be used
	log     *slog.Logger
	// tail keeps the end of the run's log for the ping body, whatever
	// --quiet hides from stderr.
	tail   *proc.Tail
	report string // the report's path, once written
}

// startAlerts is called before the plan is read, so that a run that cannot
// start still alerts.
func startAlerts(c *cli.Context, command, group string, dryRun bool) *alerts {
	return &alerts{c: c, command: command, group: group, dryRun: dryRun,
		tail: proc.NewTail(notify.BodyLimit)}
}

// startCheckAlerts is startAlerts for a check (verify, drill).
func startCheckAlerts(c *cli.Context, command, group string) *alerts {
	a := startAlerts(c, command, group, false)
	a.check = true
	return a
}

// what names the command and its plan in messages: "run weekly",
// "verify --full weekly", "drill".
func (a *alerts) what() string { return strings.TrimSpace(a.command + " " + a.group) }

// setPlan records the plan once it is read.
func (a *alerts) setPlan(p *plan.Plan) {
	a.plan = p
	if a.dryRun {
		return
	}
	if p.Notify.PingURL != "" {
		a.usePingURL(p.Notify.PingURL, "notify.ping_url")
	} else {
		a.usePingURL(os.Getenv(pingURLEnv), "$"+pingURLEnv)
	}
}

// usePingURL sets up the pinger; from says where the URL came from, for
// the warning when it is unusable (the URL itself is never shown).
func (a *alerts) usePingURL(url, from string) {
	if url == "" {
		return
	}
	a.ping, a.pingErr = notify.NewPinger(url, pingTimeout, "alexandria-backup/"+Version)
	if a.pingErr != nil {
		a.pingErr = fmt.Errorf("%s: %w", from, a.pingErr)
	}
}

// started is called once the run holds its lock: from here on its log is
// kept for the ping body, and the monitor hears that it started.
func (a *alerts) started(e *env) {
	h := e.log.Handler()
	level := slog.LevelInfo
	if h.Enabled(context.Background(), slog.LevelDebug) {
		level = slog.LevelDebug
	}
	e.log = slog.New(slog.NewMultiHandler(h, slog.NewTextHandler(a.tail, &slog.HandlerOptions{Level: level})))
	e.rt.Log = e.log
	a.log = e.log
	// A check's /start would time it as a backup run.
	if a.ping == nil || a.check {
		return
	}
	host, _ := os.Hostname()
	body := fmt.Sprintf("alexandria-backup %s started on %s (pid %d)\n", a.what(), host, os.Getpid())
	a.sendPing(a.c.Context, "/start", []byte(body))
}

// reportWritten records where the run report went, for the hooks.
func (a *alerts) reportWritten(path string) { a.report = path }

// finish sends the run's outcome. It runs deferred in cmdRun with the
// error cmdRun returns; rep is nil when the run never got to its targets.
func (a *alerts) finish(rep *plan.Report, err error) {
	if a.dryRun {
		return
	}
	if a.plan == nil {
		// The plan could not be read: only the environment knows a URL.
		a.usePingURL(os.Getenv(pingURLEnv), "$"+pingURLEnv)
	}
	// The run's context may be cancelled (a signal): the outcome still goes
	// out, each ping and hook bounded by its own timeout.
	ctx := context.WithoutCancel(a.c.Context)
	code := a.exitCode(err)
	if a.pingErr != nil {
		a.logger().Warn("cannot ping the monitor", "error", a.pingErr)
	}
	if code == exitLocked {
		if a.ping != nil {
			a.sendPing(ctx, "/log", []byte(fmt.Sprintf("alexandria-backup %s skipped (exit %d): %v\n", a.what(), code, err)))
		}
		return
	}
	o := a.outcome(rep, err, code)
	passed := o.Status == plan.StatusOK || o.Status == plan.StatusWarning
	if a.ping != nil && !(a.check && passed) {
		endpoint := "/fail"
		if passed {
			endpoint = ""
		}
		a.sendPing(ctx, endpoint, notify.Body(a.summary(rep, err, o), a.tail.Bytes(), a.ping.Limit()))
	}
	if a.plan == nil {
		return
	}
	a.sendChannels(ctx, rep, err, o)
	event, cmds := "on_failure", a.plan.Notify.OnFailure
	if passed {
		if a.check {
			return
		}
		event, cmds = "on_success", a.plan.Notify.OnSuccess
	}
	hooks := notify.Hooks{Timeout: hookTimeout, Log: a.logger()}
	// A failing hook is logged (as an error) by Run and changes nothing
	// else: the backup's outcome is already decided and reported.
	_ = hooks.Run(ctx, event, cmds, o)
}

// sendChannels tells people through the plan's channels: all at once,
// each bounded by channelTimeout. A channel that cannot be built (its
// secret file unreadable) or sent is a warning naming it; the others
// still go, and the exit code is unchanged.
func (a *alerts) sendChannels(ctx context.Context, rep *plan.Report, err error, o notify.Outcome) {
	chans, secrets, errs := a.plan.Notify.Channels("alexandria-backup/" + Version)
	log := a.logger()
	for _, e := range errs {
		log.Warn("cannot notify; the run's outcome is unchanged", "error", e)
	}
	if len(chans) == 0 {
		return
	}
	host, _ := os.Hostname()
	m := notify.Message{Event: notify.EventOf(o.Status), Plan: a.group, Host: host, Status: o.Status, ExitCode: o.ExitCode,
		FailedTargets: o.FailedTargets, Report: o.Report,
		// What the run logged is already masked; the channels' own
		// secrets never are logged, but a hook's output might echo one.
		Summary: notify.Mask(a.summary(rep, err, o), secrets),
		Log:     []byte(notify.Mask(string(a.tail.Bytes()), secrets))}
	if a.check {
		m.Command = a.command
	}
	notify.SendAll(ctx, chans, m, channelTimeout, log, secrets)
}

// sendPing pings one endpoint; a failure is only a warning, with the URL
// redacted.
func (a *alerts) sendPing(ctx context.Context, endpoint string, body []byte) {
	log := a.logger()
	if err := pingFunc(a.ping, endpoint)(ctx, body); err != nil {
		log.Warn("could not ping the monitor; the run's outcome is unchanged", "error", err)
		return
	}
	log.Debug("pinged the monitor", "url", a.ping.Redacted(endpoint), "run_id", a.ping.RunID(), "bytes", len(body))
}

func pingFunc(p *notify.Pinger, endpoint string) func(context.Context, []byte) error {
	switch endpoint {
	case "/start":
		return p.Start
	case "/fail":
		return p.Fail
	case "/log":
		return p.Log
	}
	return p.Success
}

// logger is the run's logger, or, when the run never got that far, one
// built from the same flags.
func (a *alerts) logger() *slog.Logger {
	if a.log == nil {
		log, err := newLogger(a.c, a.c.App.ErrWriter)
		if err != nil {
			// --log-level or --log-format was the problem: fall back to
			// the defaults rather than stay silent.
			log = slog.New(slog.NewTextHandler(a.c.App.ErrWriter, nil))
		}
		a.log = log
	}
	return a.log
}

// exitCode is the code Main will exit with for err.
func (a *alerts) exitCode(err error) int {
	if sig := caughtSignal(a.c.Context); sig != 0 {
		return 128 + int(sig)
	}
	return exitCode(err, io.Discard)
}

func (a *alerts) outcome(rep *plan.Report, err error, code int) notify.Outcome {
	o := notify.Outcome{Plan: a.group, Command: a.command, ExitCode: code, Report: a.report}
	if a.ping != nil {
		o.RunID = a.ping.RunID()
	}
	switch {
	case code == 130 || code == 143 || rep != nil && rep.Status == plan.StatusInterrupted:
		o.Status = plan.StatusInterrupted
	case rep == nil && code != exitOK:
		o.Status = plan.StatusNotStarted
	case code == exitOK:
		o.Status = plan.StatusOK
	case code == exitWarnings:
		o.Status = plan.StatusWarning
	default:
		o.Status = plan.StatusFailed
	}
	if rep != nil {
		for _, t := range rep.Targets {
			if t.Status == plan.StatusOK || t.Status == plan.StatusWarning {
				continue
			}
			o.FailedTargets = append(o.FailedTargets, t.Name)
			if o.Error == "" && t.Error != nil {
				o.Error = t.Name + ": " + *t.Error
			}
		}
	}
	if o.Error == "" && err != nil && code != exitOK && code != exitWarnings {
		o.Error = err.Error()
	}
	if o.Error == "" && o.Status == plan.StatusInterrupted {
		o.Error = "interrupted by a signal"
	}
	return o
}

// summary is the head of a finishing ping's body: what ran, how it went,
// and each target's outcome.
func (a *alerts) summary(rep *plan.Report, err error, o notify.Outcome) string {
	var b strings.Builder
	host, _ := os.Hostname()
	fmt.Fprintf(&b, "alexandria-backup %s on %s: %s (exit %d)\n", a.what(), host, o.Status, o.ExitCode)
	if rep != nil {
		fmt.Fprintf(&b, "started %s, took %s\n", rep.StartedAt.Format(time.RFC3339),
			time.Duration(rep.DurationSeconds*float64(time.Second)).Round(time.Millisecond))
		for _, t := range rep.Targets {
			fmt.Fprintf(&b, "  %s (%s): %s", t.Name, t.Driver, t.Status)
			if t.Artifact != nil {
				fmt.Fprintf(&b, ", %s", *t.Artifact)
			}
			if t.Bytes != nil {
				fmt.Fprintf(&b, ", %s", humanize.Bytes(*t.Bytes))
			}
			if t.Verified {
				b.WriteString(", verified")
			}
			if t.Error != nil {
				fmt.Fprintf(&b, "\n    error: %s", *t.Error)
			}
			for _, w := range t.Warnings {
				fmt.Fprintf(&b, "\n    warning: %s", w)
			}
			b.WriteString("\n")
		}
	}
	// A failed report's error is the list of targets just shown; warnings
	// carry no error.
	if err != nil && o.ExitCode != exitWarnings && (rep == nil || rep.Status != plan.StatusFailed) {
		fmt.Fprintf(&b, "error: %v\n", err)
	}
	if o.Report != "" {
		fmt.Fprintf(&b, "report: %s\n", o.Report)
	}
	return b.String()
}
