package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// listTree lists every path under dir.
func listTree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		out = append(out, p)
		return nil
	})
	return out
}

// A plan name that is a path must not take the run report outside
// state_dir, nor back anything up and then fail to report it: the plan is
// refused at load, exit 2, nothing runs and nothing is written.
func TestHostilePlanNameRunsNothing(t *testing.T) {
	for _, name := range []string{"../../x", "weekly/full", "..", "-x"} {
		t.Run(name, func(t *testing.T) {
			s := newSandbox(t, "\n[plans.\""+name+"\"]\ntargets = [\"library\"]\n")
			marker := shims(t)
			before := listTree(t, s.dir)
			code, stdout, stderr := runCLI(t, "run", "-c", s.plan, "--", name)
			if code != 2 || !strings.Contains(stderr, "plan.toml:22: plans.") || !strings.Contains(stderr, "a plan name may only use") {
				t.Fatalf("exit %d, want 2 and the plan name refused:\n%s%s", code, stdout, stderr)
			}
			if b, err := os.ReadFile(marker); err == nil {
				t.Fatalf("tools ran:\n%s", b)
			}
			if after := listTree(t, s.dir); strings.Join(after, "\n") != strings.Join(before, "\n") {
				t.Fatalf("files were written:\nbefore %q\nafter  %q", before, after)
			}
			if code, _, stderr := runCLI(t, "validate", "-c", s.plan); code != 2 || !strings.Contains(stderr, "a plan name may only use") {
				t.Fatalf("validate: exit %d:\n%s", code, stderr)
			}
		})
	}
}

// A plan file others may read must not hold secrets (env values, the
// ping URL): validate and run refuse it, exit 2, and nothing runs. At
// mode 0600 the same plan validates.
func TestReadablePlanWithSecretsIsRefused(t *testing.T) {
	s := newSandbox(t, "\n[notify]\nping_url = \"http://127.0.0.1:1/ping-token-never-shown\"\n")
	marker := shims(t)
	os.Chmod(s.plan, 0o644)
	for _, args := range [][]string{{"validate"}, {"run", "weekly"}} {
		code, stdout, stderr := runCLI(t, append(args, "-c", s.plan)...)
		if code != 2 || !strings.Contains(stderr, "targets.library.env.AWS_SECRET_ACCESS_KEY: a secret in a plan file that group or others may read (mode 0644)") ||
			!strings.Contains(stderr, "notify.ping_url: a secret in a plan file") {
			t.Errorf("%v: exit %d, want 2 and both secrets named:\n%s%s", args, code, stdout, stderr)
		}
		if strings.Contains(stdout+stderr, "never-shown") {
			t.Errorf("%v: a secret is shown:\n%s%s", args, stdout, stderr)
		}
	}
	if b, err := os.ReadFile(marker); err == nil {
		t.Fatalf("tools ran:\n%s", b)
	}
	if _, err := os.Stat(s.state); err == nil {
		t.Fatal("a refused run created the state dir")
	}
	os.Chmod(s.plan, 0o600)
	if code, stdout, stderr := runCLI(t, "validate", "-c", s.plan); code != 0 {
		t.Fatalf("mode 0600: exit %d:\n%s%s", code, stdout, stderr)
	}
}

// A secret file that run would refuse is refused by validate too, and
// run refuses it before anything runs: both exit 2, naming the key. Every
// driver's secret-file keys, against every shape run refuses.
func TestBadSecretFilesExit2(t *testing.T) {
	dir := t.TempDir()
	marker := shims(t)
	src := filepath.Join(dir, "src")
	os.MkdirAll(src, 0o755)
	targets := map[string]string{ // key -> the target using SECRET for it
		"password_file": `driver = "pg_dump"
database = "alexandria"
dir = "` + dir + `/dumps"
password_file = "SECRET"`,
		"restic password_file": `driver = "restic"
repository = "` + dir + `/repo"
paths = ["` + src + `"]
password_file = "SECRET"`,
		"passphrase_file": `driver = "borg"
repository = "` + dir + `/borg"
paths = ["` + src + `"]
passphrase_file = "SECRET"`,
		"config_password_file": `driver = "rclone"
source = "` + src + `"
destination = "` + dir + `/mirror"
config_password_file = "SECRET"`,
		"config": `driver = "rclone"
source = "` + src + `"
destination = "` + dir + `/mirror"
config = "SECRET"`,
	}
	shapes := map[string]func(path string){
		"mode 0644": func(p string) { os.WriteFile(p, []byte("pw\n"), 0o644); os.Chmod(p, 0o644) },
		"mode 0640": func(p string) { os.WriteFile(p, []byte("pw\n"), 0o640); os.Chmod(p, 0o640) },
		"mode 0604": func(p string) { os.WriteFile(p, []byte("pw\n"), 0o604); os.Chmod(p, 0o604) },
		"missing":   func(p string) {},
		"directory": func(p string) { os.Mkdir(p, 0o700) },
		"fifo":      func(p string) { syscallMkfifo(t, p) },
		"open link": func(p string) {
			os.WriteFile(p+".real", []byte("pw\n"), 0o644)
			os.Chmod(p+".real", 0o644)
			os.Symlink(p+".real", p)
		},
		"empty file": func(p string) { os.WriteFile(p, nil, 0o600) },
	}
	i := 0
	for name, body := range targets {
		key := name[strings.LastIndex(name, " ")+1:]
		for shape, make := range shapes {
			if shape == "empty file" && key == "config" {
				continue // an rclone.conf may be empty
			}
			i++
			secret := filepath.Join(dir, fmt.Sprintf("secret-%d", i))
			make(secret)
			plan := filepath.Join(dir, fmt.Sprintf("plan-%d.toml", i))
			os.WriteFile(plan, []byte("state_dir = \""+dir+"/state\"\n[targets.t]\n"+strings.Replace(body, "SECRET", secret, 1)+"\n[plans.p]\ntargets = [\"t\"]\n"), 0o600)
			for _, args := range [][]string{{"validate"}, {"run", "p"}} {
				code, stdout, stderr := runCLI(t, append(args, "-c", plan)...)
				if code != 2 || !strings.Contains(stderr, "targets.t."+key+": ") {
					t.Errorf("%s, %s: %v: exit %d, want 2 naming targets.t.%s:\n%s%s", name, shape, args, code, key, stdout, stderr)
				}
			}
		}
	}
	if b, err := os.ReadFile(marker); err == nil {
		t.Fatalf("tools ran:\n%s", b)
	}
	// The run lock is taken (and /start pinged) before the targets are
	// known, as for an unknown plan name; no report is written.
	if _, err := os.Stat(filepath.Join(dir, "state", "reports")); err == nil {
		t.Fatal("a refused run wrote a report")
	}
}

func syscallMkfifo(t *testing.T, path string) {
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
}

// A password or repository variable inherited by alexandria-backup is not
// passed on to restic or borg (the plan's own setting is explicit), and
// run and validate say so by name, never by value.
func TestInheritedSecretsAreNamedNotShown(t *testing.T) {
	s := newSandbox(t, "")
	t.Setenv("RESTIC_PASSWORD", "inherited-secret-never-shown")
	t.Setenv("RESTIC_REPOSITORY", "/somewhere/else")
	for _, args := range [][]string{{"validate"}, {"run", "weekly", "--dry-run"}} {
		code, stdout, stderr := runCLI(t, append(args, "-c", s.plan)...)
		if code != 0 || !strings.Contains(stderr, "target=library") || !strings.Contains(stderr, "RESTIC_PASSWORD,RESTIC_REPOSITORY") {
			t.Errorf("%v: exit %d, want 0 and a warning naming both:\n%s%s", args, code, stdout, stderr)
		}
		if strings.Contains(stdout+stderr, "never-shown") {
			t.Errorf("%v: the inherited secret is shown:\n%s%s", args, stdout, stderr)
		}
	}
}
