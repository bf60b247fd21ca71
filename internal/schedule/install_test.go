package schedule

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/alexandria-backup/alexandria-backup/internal/proc"
)

// recorder keeps the command lines it is given and runs none: no systemd
// runs on a test machine for the live commands to talk to (the tests in
// internal/cli run the real systemctl --root).
type recorder struct{ lines []string }

func (r *recorder) Run(_ context.Context, c proc.Command) (proc.Result, error) {
	r.lines = append(r.lines, c.String())
	return proc.Result{}, nil
}

// On this machine (root "/"): a daemon-reload after writing and the
// timers started at once; on uninstall, stopped before their files go and
// a daemon-reload after. Files given as absolute temporary paths stand in
// for /etc/systemd/system.
func TestInstallerLiveCommands(t *testing.T) {
	dir := t.TempDir()
	config := "/etc/alexandria-backup/alexandria-backup.toml"
	unit := func(name string) File {
		return File{Path: filepath.Join(dir, name), Content: "# " + name + "\n" + Marker(config) + "\n[Unit]\n"}
	}
	o := &Output{Files: []File{unit("alexandria-backup-daily.service"), unit("alexandria-backup-daily.timer")}}
	rec := &recorder{}
	in := Installer{Root: "/", Exec: rec}
	if _, timers, err := in.Install(context.Background(), o); err != nil || !reflect.DeepEqual(timers, []string{"alexandria-backup-daily.timer"}) {
		t.Fatalf("install: %v %v", timers, err)
	}
	if want := []string{"systemctl daemon-reload", "systemctl enable --now alexandria-backup-daily.timer"}; !reflect.DeepEqual(rec.lines, want) {
		t.Errorf("install ran %q, want %q", rec.lines, want)
	}

	// Uninstall looks in Root's unit directory: here a root of its own.
	root := t.TempDir()
	units := filepath.Join(root, UnitDir)
	os.MkdirAll(units, 0o755)
	for _, f := range o.Files {
		os.WriteFile(filepath.Join(units, filepath.Base(f.Path)), []byte(f.Content), 0o644)
	}
	rec.lines = nil
	in = Installer{Root: root, Exec: rec}
	placed, _, err := in.Uninstall(context.Background(), "systemd", config, "")
	if err != nil || len(placed) != 2 {
		t.Fatalf("uninstall: %v %v", placed, err)
	}
	if want := []string{"systemctl --root=" + root + " disable alexandria-backup-daily.timer"}; !reflect.DeepEqual(rec.lines, want) {
		t.Errorf("uninstall in a root ran %q, want %q", rec.lines, want)
	}
	if got := strings.Join(rec.lines, ""); strings.Contains(got, "--now") || strings.Contains(got, "daemon-reload") {
		t.Errorf("a root that is not this machine's got live commands: %q", rec.lines)
	}
}
