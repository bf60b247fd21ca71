package plan

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/drivers/restic"
)

// holdsPlan is a restic target whose repository is repo (a `repository`
// line or a `repository_file` line when repo starts with "file:"), extra
// targets, and an rclone target copying source.
func holdsPlan(repo, source, extra string) string {
	repoLine := `repository = "` + repo + `"`
	if f, ok := strings.CutPrefix(repo, "file:"); ok {
		repoLine = `repository_file = "` + f + `"`
	}
	return `[targets.library]
driver = "restic"
` + repoLine + `
password_file = "/etc/ab/restic.pass"
paths = ["/srv/library"]
` + extra + `
[targets.offsite]
driver = "rclone"
source = "` + source + `"
destination = "b2:alexandria/restic"
`
}

// An rclone target holds the repository of every restic target whose
// local repository is its source, however the two paths are spelt; any
// other source holds none.
func TestParseHoldsLinksTheCopiedRepository(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "restic")
	if err := os.Mkdir(real, 0o700); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "via-link")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	const photos = `
[targets.photos]
driver = "restic"
repository = "/srv/restic"
password_file = "/etc/ab/restic.pass"
paths = ["/srv/photos"]
`
	const copyOf = `
[targets.far]
driver = "restic"
repository = "/mnt/far"
password_file = "/etc/ab/far.pass"
copy_from = "library"
`
	for _, tc := range []struct {
		name, repo, source, extra, want string
	}{
		{"the same path", "/srv/restic", "/srv/restic", "", "library"},
		{"a trailing slash", "/srv/restic", "/srv/restic/", "", "library"},
		{"local: in the repository", "local:/srv/restic", "/srv/restic", "", "library"},
		{"dots in the path", "/srv/restic", "/srv/./x/../restic", "", "library"},
		{"a symlink to the repository", real, link, "", "library"},
		{"the repository through a symlink", link, real, "", "library"},
		{"a shared repository", "/srv/restic", "/srv/restic", photos, "library photos"},
		{"a restic copy's repository", "/srv/restic", "/mnt/far", copyOf, "far"},
		{"a directory inside the repository", "/srv/restic", "/srv/restic/data", "", ""},
		{"the directory around it", "/srv/restic", "/srv", "", ""},
		{"another directory", "/srv/restic", "/srv/restic2", "", ""},
		{"a remote source", "/srv/restic", "b2:srv/restic", "", ""},
		{"a remote repository", "sftp:host:/srv/restic", "/srv/restic", "", ""},
		{"a repository_file", "file:/etc/ab/repo", "/etc/ab/repo", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse("plan.toml", []byte(holdsPlan(tc.repo, tc.source, tc.extra)), env(nil))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, h := range p.Targets["offsite"].Holds {
				got = append(got, h.Name)
			}
			if strings.Join(got, " ") != tc.want {
				t.Fatalf("offsite holds %q, want %q", got, tc.want)
			}
			for _, name := range p.Order {
				if name != "offsite" && p.Targets[name].Holds != nil {
					t.Fatalf("%s holds %v: only a copier holds", name, p.Targets[name].Holds)
				}
			}
		})
	}
}

// A copy of a repository holds it while it runs: a backup into that
// repository does not run alongside (it would copy it half-written).
func TestRunCopyOfARepositoryHoldsIt(t *testing.T) {
	names := []string{"library", "offsite"}
	settings := map[string]drivers.Values{}
	for _, n := range names {
		settings[n] = drivers.Values{"sleep": 40 * time.Millisecond}
	}
	p, f := fakePlan(2, names, settings)
	lib, off := p.Targets["library"], p.Targets["offsite"]
	lib.Driver, lib.Impl = "restic", restic.Driver{}
	lib.Settings["repository"] = "/srv/restic"
	off.Holds = []*drivers.Target{lib}
	runFake(t, p, f, RunOptions{})
	pos := map[string]int{}
	for i, e := range f.events {
		pos[e] = i
	}
	first, second := "library", "offsite"
	if pos["backup offsite"] < pos["backup library"] {
		first, second = second, first
	}
	if pos["backup "+second] < pos["prune "+first] {
		t.Fatalf("%s ran while %s held the repository: %v", second, first, f.events)
	}
}
