package cli

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strings"
	"testing"
)

func TestVersionOf(t *testing.T) {
	vcs := func(rev, modified string) []debug.BuildSetting {
		return []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: modified}}
	}
	const rev = "678fd86c03dddc3e3cccfcf4bdf62800fe543ab9"
	for _, tc := range []struct {
		stamped string
		info    *debug.BuildInfo
		want    string
	}{
		{"v1.2.0-3-g678fd86-dirty", &debug.BuildInfo{Main: debug.Module{Version: "v9.9.9"}}, "v1.2.0-3-g678fd86-dirty"},
		{"", nil, "dev"},
		{"", &debug.BuildInfo{}, "dev"},
		{"", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "dev"},
		{"", &debug.BuildInfo{Main: debug.Module{Version: "v1.2.0"}}, "v1.2.0"},
		{"", &debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20261207150757-678fd86c03dd+dirty"}, Settings: vcs(rev, "true")}, "v0.0.0-20261207150757-678fd86c03dd-dirty"},
		{"", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: vcs(rev, "false")}, "dev-678fd86c03dd"},
		{"", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: vcs(rev, "true")}, "dev-678fd86c03dd-dirty"},
		{"", &debug.BuildInfo{Settings: vcs("abc", "true")}, "dev-abc-dirty"},
	} {
		got := versionOf(tc.stamped, tc.info)
		if got != tc.want {
			t.Errorf("versionOf(%q, %+v) = %q, want %q", tc.stamped, tc.info, got, tc.want)
		}
		// It is also the default image tag of `schedule kubernetes`.
		if !imageTagRE.MatchString(got) {
			t.Errorf("%q cannot tag an image", got)
		}
	}
}

var imageTagRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)

// The version a build shows: without -ldflags, what Go recorded from git
// (a commit, and "dirty" after a change); with make, git describe. Then
// make install puts everything under DESTDIR+PREFIX, and uninstall takes
// it away. Built in a git repository of its own holding this tree as it
// is (Go records nothing in a git worktree, whose .git is a file).
func TestBuildVersionAndInstall(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds the program three times")
	}
	for _, p := range []string{"git", "make", "go", "install"} {
		if _, err := exec.LookPath(p); err != nil {
			t.Skipf("%s is not installed", p)
		}
	}
	src := t.TempDir()
	copyTree(t, "../..", src)
	git := func(args ...string) string {
		t.Helper()
		return strings.TrimSpace(runIn(t, src, "git", append([]string{"-c", "user.name=test", "-c", "user.email=test@example.org", "-c", "commit.gpgsign=false"}, args...)...))
	}
	git("init", "-q")
	git("add", "-A")
	git("commit", "-qm", "the tree under test")
	head := git("rev-parse", "HEAD")

	// go build, no ldflags: the command-line flag beats a GOFLAGS of
	// -buildvcs=false.
	bin := filepath.Join(t.TempDir(), "alexandria-backup")
	version := func() string {
		t.Helper()
		return strings.TrimSpace(runIn(t, src, bin, "--version"))
	}
	runIn(t, src, "go", "build", "-buildvcs=true", "-o", bin, ".")
	if v := version(); !strings.HasPrefix(v, "alexandria-backup version ") || !strings.Contains(v, head[:12]) || strings.Contains(v, "dirty") {
		t.Errorf("without ldflags: %q, want the commit %s", v, head[:12])
	}
	if err := os.WriteFile(filepath.Join(src, "README.md"), []byte("changed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	runIn(t, src, "go", "build", "-buildvcs=true", "-o", bin, ".")
	if v := version(); !strings.Contains(v, head[:12]) || !strings.HasSuffix(v, "-dirty") {
		t.Errorf("without ldflags, after a change: %q, want %s and -dirty", v, head[:12])
	}
	git("checkout", "-q", "README.md")
	git("tag", "v1.2.3")

	// make install: stamped with git describe through -ldflags.
	dest, out := t.TempDir(), t.TempDir()
	runIn(t, src, "make", "install", "DESTDIR="+dest, "PREFIX=/opt/ab", "OUT="+out)
	installed := map[string]os.FileMode{
		"bin/alexandria-backup":                                  0o755,
		"share/man/man1/alexandria-backup.1":                     0o644,
		"share/bash-completion/completions/alexandria-backup":    0o644,
		"share/zsh/site-functions/_alexandria-backup":            0o644,
		"share/fish/vendor_completions.d/alexandria-backup.fish": 0o644,
	}
	for rel, mode := range installed {
		fi, err := os.Stat(filepath.Join(dest, "opt/ab", rel))
		if err != nil {
			t.Errorf("make install: %v", err)
			continue
		}
		if fi.Mode().Perm() != mode || fi.Size() == 0 {
			t.Errorf("%s: mode %v, %d bytes", rel, fi.Mode(), fi.Size())
		}
	}
	bin = filepath.Join(dest, "opt/ab/bin/alexandria-backup")
	if v := version(); v != "alexandria-backup version v1.2.3" {
		t.Errorf("make install: %q, want v1.2.3 from git describe", v)
	}
	if man, _ := os.ReadFile(filepath.Join(dest, "opt/ab/share/man/man1/alexandria-backup.1")); !bytes.Contains(man, []byte(".TH")) {
		t.Errorf("the man page is not one:\n%.200s", man)
	}
	runIn(t, src, "make", "uninstall", "DESTDIR="+dest, "PREFIX=/opt/ab")
	for rel := range installed {
		if _, err := os.Stat(filepath.Join(dest, "opt/ab", rel)); !os.IsNotExist(err) {
			t.Errorf("make uninstall left %s", rel)
		}
	}
}

// copyTree copies the files git knows of in the tree at root (tracked,
// changed or new, not ignored) into dir, as they are on disk now.
func copyTree(t *testing.T, root, dir string) {
	t.Helper()
	list := runIn(t, root, "git", "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	for _, rel := range strings.Split(strings.TrimRight(list, "\x00"), "\x00") {
		data, err := os.ReadFile(filepath.Join(root, rel))
		if os.IsNotExist(err) {
			continue // deleted, not yet committed
		}
		if err != nil {
			t.Fatal(err)
		}
		fi, _ := os.Stat(filepath.Join(root, rel))
		dst := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, data, fi.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
}

func runIn(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out)
}
