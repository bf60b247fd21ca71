package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/alexandria-backup/alexandria-backup/internal/schedule"
)

// schedulePlan writes a plan with two scheduled plans and one without.
func schedulePlan(t *testing.T) (dir, planPath string) {
	t.Helper()
	dir = t.TempDir()
	planPath = filepath.Join(dir, "plan.toml")
	err := os.WriteFile(planPath, []byte(`state_dir = "`+filepath.Join(dir, "state")+`"
[targets.files]
driver = "command"
command = ["true", "{output}"]
dir = "`+filepath.Join(dir, "files")+`"

[plans.daily]
targets = ["files"]
schedule = "daily"

[plans.weekly]
targets = ["files"]
schedule = "30 4 * * sun"

[plans.adhoc]
targets = ["files"]
`), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	return dir, planPath
}

// tree lists the files and symbolic links under root, relative to it,
// links as "NAME -> TARGET".
func tree(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if d.Type()&os.ModeSymlink != 0 {
			to, _ := os.Readlink(p)
			rel += " -> " + to
		}
		out = append(out, rel)
		return nil
	})
	sort.Strings(out)
	return out
}

func isEnabled(t *testing.T, root, unit string) string {
	t.Helper()
	out, _ := exec.Command("systemctl", "--root="+root, "is-enabled", unit).Output()
	return strings.TrimSpace(string(out))
}

// --output-dir writes each unit on its own, the same bytes as the stream;
// --install puts them in an image's root and the real systemctl enables
// the timers there; --uninstall takes back exactly those files and links,
// never one it did not write for this plan file.
func TestScheduleSystemdInstallUninstall(t *testing.T) {
	requireTool(t, "systemctl")
	dir, planPath := schedulePlan(t)
	root := filepath.Join(dir, "root")
	unitDir := filepath.Join(root, schedule.UnitDir)

	code, stream, stderr := runCLI(t, "-c", planPath, "schedule", "systemd")
	if code != 0 {
		t.Fatalf("schedule systemd: exit %d\n%s", code, stderr)
	}
	out := filepath.Join(dir, "units")
	if code, _, stderr := runCLI(t, "-c", planPath, "schedule", "systemd", "--output-dir", out); code != 0 {
		t.Fatalf("--output-dir: exit %d\n%s", code, stderr)
	}
	names := []string{"alexandria-backup-daily.service", "alexandria-backup-daily.timer", "alexandria-backup-failure@.service",
		"alexandria-backup-weekly.service", "alexandria-backup-weekly.timer"}
	if got := tree(t, out); strings.Join(got, " ") != strings.Join(names, " ") {
		t.Fatalf("--output-dir wrote %v, want %v", got, names)
	}
	for _, n := range names {
		b, _ := os.ReadFile(filepath.Join(out, n))
		if !strings.HasPrefix(string(b), "# "+schedule.UnitDir+"/"+n+"\n"+schedule.Marker(planPath)+"\n") || !strings.Contains(stream, "\n"+string(b)) {
			t.Errorf("%s is not its section of the stream, with its header:\n%s", n, b)
		}
	}

	code, stdout, stderr := runCLI(t, "-c", planPath, "schedule", "systemd", "--install", "--root", root)
	if code != 0 {
		t.Fatalf("--install: exit %d\n%s%s", code, stdout, stderr)
	}
	for _, n := range names {
		want, _ := os.ReadFile(filepath.Join(out, n))
		got, err := os.ReadFile(filepath.Join(unitDir, n))
		if err != nil || string(got) != string(want) {
			t.Errorf("installed %s differs from --output-dir's (%v)", n, err)
		}
		if fi, err := os.Stat(filepath.Join(unitDir, n)); err != nil || fi.Mode().Perm() != 0o644 {
			t.Errorf("%s: mode %v (%v), want 0644", n, fi.Mode(), err)
		}
		if !strings.Contains(stdout, "written   "+filepath.Join(unitDir, n)+"\n") {
			t.Errorf("--install does not say it wrote %s:\n%s", n, stdout)
		}
	}
	for _, timer := range []string{"alexandria-backup-daily.timer", "alexandria-backup-weekly.timer"} {
		if got := isEnabled(t, root, timer); got != "enabled" {
			t.Errorf("systemctl --root is-enabled %s: %q", timer, got)
		}
		if !strings.Contains(stdout, "enabled   "+timer+"\n") {
			t.Errorf("--install does not say it enabled %s:\n%s", timer, stdout)
		}
	}
	installed := tree(t, root)

	// Again: nothing changes.
	code, stdout, stderr = runCLI(t, "-c", planPath, "schedule", "systemd", "--install", "--root", root)
	if code != 0 || strings.Contains(stdout, "written") || strings.Count(stdout, "unchanged") != len(names) {
		t.Errorf("a second --install: exit %d\n%s%s", code, stdout, stderr)
	}

	// Files it did not write for this plan file: a hand-written unit with
	// its names, and one schedule wrote for another plan file.
	foreign := map[string]string{
		"alexandria-backup-handmade.service": "[Unit]\nDescription=mine\n",
		"alexandria-backup-other.timer":      "# " + schedule.UnitDir + "/alexandria-backup-other.timer\n" + schedule.Marker("/etc/other.toml") + "\n[Timer]\nOnCalendar=daily\n",
	}
	for n, content := range foreign {
		os.WriteFile(filepath.Join(unitDir, n), []byte(content), 0o644)
	}

	// --plan: only that plan's units.
	code, stdout, stderr = runCLI(t, "-c", planPath, "schedule", "systemd", "--uninstall", "--plan", "weekly", "--root", root)
	if code != 0 {
		t.Fatalf("--uninstall --plan weekly: exit %d\n%s%s", code, stdout, stderr)
	}
	if isEnabled(t, root, "alexandria-backup-weekly.timer") == "enabled" || isEnabled(t, root, "alexandria-backup-daily.timer") != "enabled" {
		t.Errorf("--uninstall --plan weekly:\n%s\n%v", stdout, tree(t, root))
	}

	code, stdout, stderr = runCLI(t, "-c", planPath, "schedule", "systemd", "--uninstall", "--root", root)
	if code != 0 {
		t.Fatalf("--uninstall: exit %d\n%s%s", code, stdout, stderr)
	}
	var left []string
	for n := range foreign {
		left = append(left, filepath.Join("etc/systemd/system", n))
	}
	sort.Strings(left)
	if got := tree(t, root); strings.Join(got, " ") != strings.Join(left, " ") {
		t.Errorf("after --uninstall: %v, want only %v (installed: %v)", got, left, installed)
	}
	for n, content := range foreign {
		if b, _ := os.ReadFile(filepath.Join(unitDir, n)); string(b) != content {
			t.Errorf("%s was changed", n)
		}
		if !strings.Contains(stdout, "left      "+filepath.Join(unitDir, n)+"\n") {
			t.Errorf("--uninstall does not say it left %s alone:\n%s", n, stdout)
		}
	}

	// Nothing of ours left: an error naming what it leaves alone.
	code, _, stderr = runCLI(t, "-c", planPath, "schedule", "systemd", "--uninstall", "--root", root)
	if code == 0 || !strings.Contains(stderr, "alexandria-backup-handmade.service") || !strings.Contains(stderr, "left alone, nothing removed") {
		t.Errorf("--uninstall with only files it did not write: exit %d\n%s", code, stderr)
	}
}

func TestScheduleCronInstallUninstall(t *testing.T) {
	dir, planPath := schedulePlan(t)
	root := filepath.Join(dir, "root")
	cronFile := filepath.Join(root, schedule.CronFile)
	_, stream, _ := runCLI(t, "-c", planPath, "schedule", "cron")
	code, stdout, stderr := runCLI(t, "-c", planPath, "schedule", "cron", "--install", "--root", root)
	if code != 0 {
		t.Fatalf("--install: exit %d\n%s%s", code, stdout, stderr)
	}
	b, err := os.ReadFile(cronFile)
	if err != nil || string(b) != stream {
		t.Fatalf("the installed cron file is not what schedule cron prints (%v)", err)
	}
	if fi, _ := os.Stat(cronFile); fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644: cron skips files others may write", fi.Mode())
	}
	if code, stdout, stderr = runCLI(t, "-c", planPath, "schedule", "cron", "--uninstall", "--root", root); code != 0 {
		t.Fatalf("--uninstall: exit %d\n%s%s", code, stdout, stderr)
	}
	if _, err := os.Stat(cronFile); !os.IsNotExist(err) || !strings.Contains(stdout, "removed   "+cronFile) {
		t.Errorf("the cron file is still there (%v):\n%s", err, stdout)
	}
}

// What schedule refuses, and that a refusal changes nothing.
func TestScheduleRefusals(t *testing.T) {
	dir, planPath := schedulePlan(t)
	unit := filepath.Join(schedule.UnitDir, "alexandria-backup-daily.timer")
	handmade := "# my own timer\n[Timer]\nOnCalendar=hourly\n"
	otherPlans := "# /etc/cron.d/alexandria-backup\n" + schedule.Marker("/etc/other.toml") + "\n0 1 * * * root true\n"
	for _, tc := range []struct {
		name  string
		euid  int
		plant map[string]string // path under the case's root → contents
		args  []string          // after "schedule"; ROOT is the case's root
		code  int
		want  string
	}{
		{name: "install not as root", euid: 1000, args: []string{"systemd", "--install", "--plan", "daily"}, code: 1,
			want: "writing in /etc/systemd/system takes root; run: sudo "},
		{name: "uninstall not as root", euid: 1000, args: []string{"cron", "--uninstall"}, code: 1,
			want: "writing in /etc/cron.d takes root; run: sudo "},
		{name: "install over a different unit", plant: map[string]string{unit: handmade}, args: []string{"systemd", "--install", "--root", "ROOT"}, code: 1,
			want: "alexandria-backup-daily.timer already exists with other contents: nothing written (--force writes over it)"},
		{name: "output-dir over a different unit", plant: map[string]string{"alexandria-backup-daily.timer": handmade}, args: []string{"systemd", "--output-dir", "ROOT"}, code: 1,
			want: "alexandria-backup-daily.timer already exists with other contents: nothing written"},
		{name: "install over a different cron file", plant: map[string]string{schedule.CronFile: handmade}, args: []string{"cron", "--install", "--root", "ROOT"}, code: 1,
			want: "alexandria-backup already exists with other contents"},
		{name: "uninstall a cron file it did not write", plant: map[string]string{schedule.CronFile: handmade}, args: []string{"cron", "--uninstall", "--root", "ROOT"}, code: 1,
			want: "not written by `alexandria-backup schedule` for " + planPath},
		{name: "uninstall another plan file's cron file", plant: map[string]string{schedule.CronFile: otherPlans}, args: []string{"cron", "--uninstall", "--root", "ROOT"}, code: 1,
			want: "left alone, nothing removed"},
		{name: "uninstall a unit it did not write", plant: map[string]string{unit: handmade}, args: []string{"systemd", "--uninstall", "--root", "ROOT"}, code: 1,
			want: "alexandria-backup-daily.timer: not written by"},
		{name: "uninstall with nothing installed", args: []string{"systemd", "--uninstall", "--root", "ROOT"}, code: 1,
			want: "nothing that `alexandria-backup schedule systemd --install` wrote"},
		{name: "install over another plan file's cron file, even with --force", plant: map[string]string{schedule.CronFile: otherPlans}, args: []string{"cron", "--install", "--force", "--root", "ROOT"}, code: 1,
			want: `another plan file's schedule, never written over (not even with --force)`},
		{name: "install over another plan file's unit, even with --force", plant: map[string]string{unit: "# u\n" + schedule.Marker("/etc/other.toml") + "\n[Timer]\n"}, args: []string{"systemd", "--install", "--force", "--root", "ROOT"}, code: 1,
			want: `/etc/other.toml`},
		{name: "cron install of one plan (would drop the others' lines)", args: []string{"cron", "--install", "--plan", "daily", "--root", "ROOT"}, code: 2,
			want: "install or uninstall them together, without --plan"},
		{name: "cron uninstall of one plan (would remove the others' lines)", args: []string{"cron", "--uninstall", "--plan", "daily", "--root", "ROOT"}, code: 2,
			want: "install or uninstall them together, without --plan"},
		{name: "kubernetes install", args: []string{"kubernetes", "--install"}, code: 2, want: "kubectl apply -f DIR"},
		{name: "install and uninstall", args: []string{"cron", "--install", "--uninstall"}, code: 2, want: "--install or --uninstall, not both"},
		{name: "install into output-dir", args: []string{"cron", "--install", "--output-dir", "ROOT"}, code: 2, want: "--output-dir writes files for you to install"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-"))
			for p, content := range tc.plant {
				os.MkdirAll(filepath.Dir(filepath.Join(root, p)), 0o755)
				os.WriteFile(filepath.Join(root, p), []byte(content), 0o644)
			}
			before := tree(t, root)
			if tc.euid != 0 {
				geteuid = func() int { return tc.euid }
				defer func() { geteuid = os.Geteuid }()
			}
			args := []string{"-c", planPath, "schedule"}
			for _, a := range tc.args {
				args = append(args, strings.ReplaceAll(a, "ROOT", root))
			}
			code, stdout, stderr := runCLI(t, args...)
			if code != tc.code || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, want %d; stderr should say %q:\n%s%s", code, tc.code, tc.want, stdout, stderr)
			}
			if after := tree(t, root); strings.Join(after, " ") != strings.Join(before, " ") {
				t.Errorf("a refusal changed the tree: %v, was %v", after, before)
			}
			for p, content := range tc.plant {
				if b, _ := os.ReadFile(filepath.Join(root, p)); string(b) != content {
					t.Errorf("%s was changed", p)
				}
			}
		})
	}

	// The exact command: the same, as root, with the plan file's path.
	geteuid = func() int { return 1000 }
	defer func() { geteuid = os.Geteuid }()
	_, _, stderr := runCLI(t, "-c", planPath, "schedule", "systemd", "--install", "--plan", "daily")
	if !strings.HasSuffix(strings.TrimSpace(stderr), " --config "+planPath+" schedule systemd --plan daily --install") {
		t.Errorf("not the exact command: %s", stderr)
	}

	// --force writes over a different file.
	root := filepath.Join(dir, "force")
	os.MkdirAll(filepath.Join(root, "/etc/cron.d"), 0o755)
	os.WriteFile(filepath.Join(root, schedule.CronFile), []byte(handmade), 0o644)
	geteuid = os.Geteuid
	if code, stdout, stderr := runCLI(t, "-c", planPath, "schedule", "cron", "--install", "--force", "--root", root); code != 0 || !strings.Contains(stdout, "replaced  "+filepath.Join(root, schedule.CronFile)) {
		t.Errorf("--force: exit %d\n%s%s", code, stdout, stderr)
	}
}

// Kubernetes manifests, one file per object, are the stream's documents.
func TestScheduleKubernetesOutputDir(t *testing.T) {
	dir, planPath := schedulePlan(t)
	_, stream, _ := runCLI(t, "-c", planPath, "schedule", "kubernetes", "--time-zone", "Etc/UTC")
	out := filepath.Join(dir, "manifests")
	code, stdout, stderr := runCLI(t, "-c", planPath, "schedule", "kubernetes", "--time-zone", "Etc/UTC", "--output-dir", out)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	names := []string{"alexandria-backup-plan.yaml", schedule.VolumesFile, "alexandria-backup-daily.yaml", "alexandria-backup-weekly.yaml"}
	var docs []string
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(out, n))
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, string(b))
	}
	if strings.Join(docs, "---\n") != stream {
		t.Errorf("the files are not the stream's documents in order: %v", tree(t, out))
	}
	if len(tree(t, out)) != len(names) {
		t.Errorf("files: %v", tree(t, out))
	}
}
