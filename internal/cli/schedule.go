package cli

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/alexandria-backup/alexandria-backup/internal/humanize"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
	"github.com/alexandria-backup/alexandria-backup/internal/schedule"
)

func scheduleCommand() *cli.Command {
	return &cli.Command{
		Name:      "schedule",
		Usage:     "print, write or install systemd units, an /etc/cron.d file or Kubernetes CronJobs that run the plans on their schedule",
		ArgsUsage: strings.Join(schedule.FormatNames, "|"),
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "plan", Usage: "only plan `PLAN` (default: every scheduled plan)"},
			&cli.StringFlag{Name: "output-dir", Usage: "write each unit, the cron file or each manifest to its own file in `DIR`"},
			&cli.BoolFlag{Name: "force", Usage: "--output-dir, --install: write over a file with other contents"},
			&cli.BoolFlag{Name: "install", Usage: "systemd, cron (as root): put the files in place and enable the timers"},
			&cli.BoolFlag{Name: "uninstall", Usage: "systemd, cron (as root): disable the timers and remove the files --install wrote for this plan file"},
			&cli.StringFlag{Name: "root", Value: "/", Usage: "--install, --uninstall: the system's root `DIR` (an image's; systemctl --root enables timers there)"},
			&cli.DurationFlag{Name: "lock-wait", Value: 2 * time.Hour, Usage: "how long (`DUR`) a scheduled run waits for another run's lock (run --wait)"},
			&cli.StringFlag{Name: "image", Value: schedule.ImageName + ":" + Version, Usage: "kubernetes: the container `IMAGE` (make image builds it)"},
			&cli.StringFlag{Name: "time-zone", Usage: "kubernetes: the CronJob's time `ZONE` (default: this machine's, e.g. Europe/Berlin)"},
		},
		Action: cmdSchedule,
	}
}

func cmdSchedule(c *cli.Context) error {
	a, err := args(c, 1, 1)
	if err != nil {
		return err
	}
	format, ok := schedule.Formats[a[0]]
	if !ok {
		return usage("schedule: %q is not one of %s", a[0], strings.Join(schedule.FormatNames, ", "))
	}
	install, uninstall, outDir := c.Bool("install"), c.Bool("uninstall"), c.String("output-dir")
	switch {
	case install && uninstall:
		return usage("schedule: --install or --uninstall, not both")
	case (install || uninstall) && outDir != "":
		return usage("schedule: --output-dir writes files for you to install; --install puts them in place itself")
	case (install || uninstall) && a[0] == "kubernetes":
		return usage("schedule kubernetes: nothing to install on this machine; write the manifests with --output-dir DIR and run kubectl apply -f DIR")
	}
	e, err := setup(c)
	if err != nil {
		return err
	}
	bin, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding this program's path: %w", err)
	}
	if strings.Contains(bin, "go-build") {
		e.log.Warn("this program runs from a temporary build directory; install it and run schedule from there", "path", bin)
	}
	config, err := filepath.Abs(e.plan.Path)
	if err != nil {
		return err
	}
	if (install || uninstall) && filepath.Clean(c.String("root")) == "/" && geteuid() != 0 {
		return fmt.Errorf("schedule %s: writing in %s takes root; run: %s", a[0], installDir(a[0]), sudoLine(c, a[0], bin, config))
	}
	o := schedule.Options{Binary: bin, Config: config, Image: c.String("image"), TimeZone: c.String("time-zone")}
	if o.TimeZone == "" {
		o.TimeZone = localZone()
	}
	// Plans that start together queue for the run lock instead of failing.
	o.Wait = c.Duration("lock-wait")
	if os.Geteuid() != 0 {
		if u, err := user.Current(); err == nil {
			o.User = u.Username
		}
	}
	// One cron file holds every scheduled plan of the plan file: writing
	// or removing it for one plan would drop the others' lines.
	if (install || uninstall) && a[0] == "cron" && c.IsSet("plan") {
		return usage("schedule cron --%s --plan: %s holds the lines of every scheduled plan of %s; install or uninstall them together, without --plan",
			map[bool]string{true: "install", false: "uninstall"}[install], schedule.CronFile, config)
	}
	in := schedule.Installer{Root: c.String("root"), Force: c.Bool("force"), Exec: e.rt.Exec}
	if uninstall {
		// Needs no schedule in the plan: it may have lost them since.
		placed, timers, err := in.Uninstall(c.Context, a[0], config, c.String("plan"))
		report(c, placed, timers, "disabled")
		return err
	}
	set, err := schedule.Jobs(e.plan, c.String("plan"), o)
	if err != nil {
		return usage("%v", err)
	}
	out, err := format(set)
	if err != nil {
		return err
	}
	switch {
	case install:
		placed, timers, err := in.Install(c.Context, out)
		report(c, placed, timers, "enabled")
		return err
	case outDir != "":
		placed, err := schedule.WriteFiles(out.Files, func(f schedule.File) string {
			return filepath.Join(outDir, filepath.Base(f.Path))
		}, c.Bool("force"))
		report(c, placed, nil, "")
		return err
	}
	_, err = out.WriteTo(c.App.Writer)
	return err
}

// geteuid is os.Geteuid; tests set it to refuse as a user would be.
var geteuid = os.Geteuid

// installDir names where a format's files are installed.
func installDir(format string) string {
	if format == "cron" {
		return filepath.Dir(schedule.CronFile)
	}
	return schedule.UnitDir
}

// sudoLine is the command line given, as root, shell-quoted.
func sudoLine(c *cli.Context, format, bin, config string) string {
	if strings.Contains(bin, "go-build") {
		bin = "alexandria-backup"
	}
	argv := []string{"sudo", bin, "--config", config, "schedule", format}
	if c.IsSet("plan") {
		argv = append(argv, "--plan", c.String("plan"))
	}
	if c.IsSet("lock-wait") {
		argv = append(argv, "--lock-wait", humanize.Duration(c.Duration("lock-wait")))
	}
	if c.Bool("force") {
		argv = append(argv, "--force")
	}
	if c.Bool("uninstall") {
		argv = append(argv, "--uninstall")
	} else {
		argv = append(argv, "--install")
	}
	for i, a := range argv {
		argv[i] = proc.ShellQuote(a)
	}
	return strings.Join(argv, " ")
}

// report says what became of each file and timer, one line each, in the
// order it was done: timers are enabled after their files are written and
// disabled before they are removed.
func report(c *cli.Context, placed []schedule.Placed, timers []string, did string) {
	files := func() {
		for _, p := range placed {
			fmt.Fprintf(c.App.Writer, "%-9s %s\n", p.Action, p.Path)
		}
	}
	if did != "disabled" {
		files()
	}
	for _, t := range timers {
		fmt.Fprintf(c.App.Writer, "%-9s %s\n", did, t)
	}
	if did == "disabled" {
		files()
	}
}

// localZone is this machine's time zone by its IANA name, for CronJobs:
// their times then mean what they mean in cron and systemd here.
func localZone() string {
	if tz := strings.TrimPrefix(os.Getenv("TZ"), ":"); tz != "" && !filepath.IsAbs(tz) {
		return tz
	}
	if b, err := os.ReadFile("/etc/timezone"); err == nil && strings.TrimSpace(string(b)) != "" {
		return strings.TrimSpace(string(b))
	}
	if link, err := os.Readlink("/etc/localtime"); err == nil {
		if _, zone, ok := strings.Cut(link, "zoneinfo/"); ok {
			return zone
		}
	}
	return "Etc/UTC"
}
