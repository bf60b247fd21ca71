package cli

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/alexandria-backup/alexandria-backup/internal/schedule"
)

func scheduleCommand() *cli.Command {
	return &cli.Command{
		Name:      "schedule",
		Usage:     "print systemd units, an /etc/cron.d file or Kubernetes CronJobs that run the plans on their schedule",
		ArgsUsage: strings.Join(schedule.FormatNames, "|"),
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "plan", Usage: "only this plan"},
			&cli.DurationFlag{Name: "lock-wait", Value: 2 * time.Hour, Usage: "how long a scheduled run waits for another run's lock (run --wait)"},
			&cli.StringFlag{Name: "image", Value: "alexandria-backup:" + Version, Usage: "kubernetes: the container image"},
			&cli.StringFlag{Name: "time-zone", Usage: "kubernetes: the CronJob's time zone (default: this machine's, e.g. Europe/Berlin)"},
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
	set, err := schedule.Jobs(e.plan, c.String("plan"), o)
	if err != nil {
		return usage("%v", err)
	}
	return format(c.App.Writer, set)
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
