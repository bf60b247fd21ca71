package schedule

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/alexandria-backup/alexandria-backup/internal/atomicfile"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
)

// Placed says what became of one file.
type Placed struct {
	Path   string
	Action string // written, unchanged, replaced, removed, left (not its own)
}

// WriteFiles writes each file at dest(f), mode 0644: never over a
// different file there unless force, and never, even with force, over
// one schedule wrote for another plan file (its Marker says which): that
// would take the other plan file's schedules away. Every file is checked
// first, so a refusal writes nothing.
func WriteFiles(files []File, dest func(File) string, force bool) ([]Placed, error) {
	var placed []Placed
	var refused, others []string
	for _, f := range files {
		path := dest(f)
		old, err := os.ReadFile(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			placed = append(placed, Placed{path, "written"})
		case err != nil:
			return nil, err
		case string(old) == f.Content:
			placed = append(placed, Placed{path, "unchanged"})
		case markerLine(string(old)) != "" && markerLine(string(old)) != markerLine(f.Content):
			others = append(others, path+" ("+strings.TrimPrefix(markerLine(string(old)), "# ")+")")
		case force:
			placed = append(placed, Placed{path, "replaced"})
		default:
			refused = append(refused, path)
		}
	}
	if len(others) > 0 {
		return nil, fmt.Errorf("%s: another plan file's schedule, never written over (not even with --force): nothing written; uninstall it with that plan file first", strings.Join(others, ", "))
	}
	if len(refused) > 0 {
		return nil, fmt.Errorf("%s already exists with other contents: nothing written (--force writes over it)", strings.Join(refused, ", "))
	}
	for i, f := range files {
		if placed[i].Action == "unchanged" {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(placed[i].Path), 0o755); err != nil {
			return placed[:i], err
		}
		if err := atomicfile.Write(placed[i].Path, []byte(f.Content), 0o644); err != nil {
			return placed[:i], err
		}
	}
	return placed, nil
}

// Installer puts systemd units or the cron file in place and enables the
// timers, or takes back what it put there.
type Installer struct {
	// Root is the system's root directory: "/" for this machine, another
	// for an image (systemctl --root enables timers there without a
	// running systemd).
	Root  string
	Force bool
	Exec  proc.Executor
}

func (in Installer) live() bool { return filepath.Clean(in.Root) == "/" }

// path is where a file goes under Root.
func (in Installer) path(f File) string { return filepath.Join(in.Root, f.Path) }

// systemctl is `systemctl ARGS` on this machine, or with --root=Root.
func (in Installer) systemctl(ctx context.Context, args ...string) error {
	if !in.live() {
		args = append([]string{"--root=" + in.Root}, args...)
	}
	_, err := in.Exec.Run(ctx, proc.Command{Program: "systemctl", Args: args})
	return err
}

// Install writes the output's files under Root and enables its timers:
// on this machine after a daemon-reload and started at once (--now); in
// another root only linked into timers.target.
func (in Installer) Install(ctx context.Context, o *Output) ([]Placed, []string, error) {
	placed, err := WriteFiles(o.Files, in.path, in.Force)
	if err != nil {
		return placed, nil, err
	}
	var timers []string
	for _, f := range o.Files {
		if strings.HasSuffix(f.Path, ".timer") {
			timers = append(timers, filepath.Base(f.Path))
		}
	}
	if len(timers) == 0 {
		return placed, nil, nil // cron reads /etc/cron.d by itself
	}
	enable := append([]string{"enable"}, timers...)
	if in.live() {
		if err := in.systemctl(ctx, "daemon-reload"); err != nil {
			return placed, nil, err
		}
		enable = append([]string{"enable", "--now"}, timers...)
	}
	if err := in.systemctl(ctx, enable...); err != nil {
		return placed, nil, err
	}
	return placed, timers, nil
}

// Uninstall removes the files schedule installed under Root for the plan
// file config (the format's files whose second line is its Marker), of
// the one plan only if plan is not "", after disabling their timers. A
// file named like them that schedule did not write for config is left
// alone and listed as "left"; when nothing is ours, that is an error
// naming them.
func (in Installer) Uninstall(ctx context.Context, format, config, plan string) ([]Placed, []string, error) {
	var candidates []string
	switch format {
	case "systemd":
		names, err := filepath.Glob(filepath.Join(in.Root, UnitDir, "alexandria-backup-*"))
		if err != nil {
			return nil, nil, err
		}
		for _, n := range names {
			base := filepath.Base(n)
			if plan != "" && base != UnitName(plan)+".service" && base != UnitName(plan)+".timer" {
				continue
			}
			if strings.HasSuffix(base, ".service") || strings.HasSuffix(base, ".timer") {
				candidates = append(candidates, n)
			}
		}
	case "cron":
		if _, err := os.Lstat(filepath.Join(in.Root, CronFile)); err == nil {
			candidates = append(candidates, filepath.Join(in.Root, CronFile))
		}
	default:
		return nil, nil, fmt.Errorf("%s files are not installed by schedule: delete them with kubectl delete -f DIR", format)
	}
	sort.Strings(candidates)
	var ours, foreign []string
	for _, p := range candidates {
		if mine, err := written(p, config); err != nil {
			return nil, nil, err
		} else if mine {
			ours = append(ours, p)
		} else {
			foreign = append(foreign, p)
		}
	}
	if len(ours) == 0 {
		if len(foreign) > 0 {
			return nil, nil, fmt.Errorf("%s: not written by `alexandria-backup schedule` for %s (no %q line): left alone, nothing removed", strings.Join(foreign, ", "), config, Marker(config))
		}
		dir := UnitDir
		if format == "cron" {
			dir = filepath.Dir(CronFile)
		}
		return nil, nil, fmt.Errorf("nothing that `alexandria-backup schedule %s --install` wrote for %s is in %s", format, config, filepath.Join(in.Root, dir))
	}
	var timers []string
	for _, p := range ours {
		if strings.HasSuffix(p, ".timer") {
			timers = append(timers, filepath.Base(p))
		}
	}
	if len(timers) > 0 {
		disable := append([]string{"disable"}, timers...)
		if in.live() {
			disable = append([]string{"disable", "--now"}, timers...)
		}
		if err := in.systemctl(ctx, disable...); err != nil {
			return nil, nil, err
		}
	}
	var placed []Placed
	for _, p := range ours {
		if err := os.Remove(p); err != nil {
			return placed, timers, err
		}
		placed = append(placed, Placed{p, "removed"})
	}
	for _, p := range foreign {
		placed = append(placed, Placed{p, "left"}) // not ours: said, not touched
	}
	if len(timers) > 0 && in.live() {
		if err := in.systemctl(ctx, "daemon-reload"); err != nil {
			return placed, timers, err
		}
	}
	return placed, timers, nil
}

// markerLine is content's second line when it is a schedule Marker (of
// whichever plan file), else "".
func markerLine(content string) string {
	lines := strings.SplitN(content, "\n", 3)
	if len(lines) >= 2 && strings.HasPrefix(lines[1], strings.TrimSuffix(Marker(""), `"".`)) {
		return lines[1]
	}
	return ""
}

// written reports whether the file at path carries config's Marker as its
// second line: schedule wrote it for that plan file.
func written(path, config string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for i := 0; i < 2 && sc.Scan(); i++ {
		if i == 1 {
			return sc.Text() == Marker(config), nil
		}
	}
	return false, sc.Err()
}
