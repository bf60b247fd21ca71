package schedule

import (
	"bufio"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Installed is one plan's schedule found under a root: what `audit` reads
// for "backups automated".
type Installed struct {
	Plan string
	// Evidence names what was read: the timer file and its link, or the
	// cron file and its line.
	Evidence string
	// Active: the timer is enabled (linked into timers.target.wants), or
	// the cron line is not commented out.
	Active bool
}

// FindInstalled lists, by plan, the schedules `schedule --install` put
// under root for the plan file config: systemd timers and lines of the
// cron file. A file without config's Marker is not its own and is not
// counted: it may run anything.
func FindInstalled(root, config string) (map[string][]Installed, error) {
	out := map[string][]Installed{}
	timers, err := filepath.Glob(filepath.Join(root, UnitDir, UnitName("*")+".timer"))
	if err != nil {
		return nil, err
	}
	for _, p := range timers {
		if mine, err := written(p, config); err != nil || !mine {
			continue
		}
		base := filepath.Base(p)
		name := strings.TrimSuffix(strings.TrimPrefix(base, UnitName("")), ".timer")
		link := filepath.Join(root, UnitDir, "timers.target.wants", base)
		in := Installed{Plan: name, Evidence: p + ": not enabled (no " + link + ")"}
		// Lstat: systemctl --root links to the unit by its path inside the
		// root, which from here may lead nowhere.
		if _, err := os.Lstat(link); err == nil {
			in.Active, in.Evidence = true, p+", enabled ("+link+")"
		}
		out[name] = append(out[name], in)
	}
	cron := filepath.Join(root, CronFile)
	mine, err := written(cron, config)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return out, nil
	case err != nil:
		return out, err
	case !mine:
		return out, nil
	}
	f, err := os.Open(cron)
	if err != nil {
		return out, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	plan := "" // the plan whose "# Plan" comment came last
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if rest, ok := strings.CutPrefix(line, "# Plan "); ok {
			q, _, _ := strings.Cut(rest, ":")
			if name, err := strconv.Unquote(q); err == nil {
				plan = name
				continue
			}
		}
		if plan == "" || line == "" {
			continue
		}
		in := Installed{Plan: plan, Evidence: cron + ":" + strconv.Itoa(n), Active: !strings.HasPrefix(line, "#")}
		if !in.Active {
			in.Evidence += ": commented out"
		}
		out[plan] = append(out[plan], in)
		plan = ""
	}
	return out, sc.Err()
}
