package plan

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
)

// fakeStore is a fake driver whose repository keeps the plan: it records
// every plan stored, and fails to store while failStore is set.
type fakeStore struct {
	*fakeDriver
	stored    []*drivers.PlanCopy
	into      []string // the targets whose repositories it stored into
	failStore bool
}

func (f *fakeStore) Resources(*drivers.Target) drivers.Resources {
	return drivers.Resources{Repository: "/fake/repository"}
}
func (f *fakeStore) StorePlan(_ context.Context, _ proc.Executor, t *drivers.Target, pc *drivers.PlanCopy) error {
	if f.failStore {
		return errors.New("the repository said no")
	}
	f.stored, f.into = append(f.stored, pc), append(f.into, t.Name)
	return nil
}
func (f *fakeStore) StorePlanSteps(*drivers.Target, *drivers.PlanCopy) []drivers.Step { return nil }
func (f *fakeStore) Recognizes(string) bool                                           { return false }
func (f *fakeStore) FetchPlan(context.Context, proc.Executor, drivers.PlanSource) ([]byte, error) {
	return nil, nil
}

// A run stores the plan after a successful backup, only when it changed
// since the last one stored in that repository; a failure to store it is
// a warning and the backup stands, and the next run tries again.
func TestRunStoresThePlanOncePerChange(t *testing.T) {
	p, fd := fakePlan(1, []string{"files"}, nil)
	f := &fakeStore{fakeDriver: fd}
	keep := t.TempDir()
	p.Targets["files"].Impl, p.Targets["files"].KeepDir = f, keep
	p.src = []byte("[targets.files]\nenv = { KEY = \"s3cret\" }\n")
	run := func() *Report {
		t.Helper()
		p.Targets["files"].TempDir = t.TempDir()
		rep, err := p.Run(context.Background(), "weekly", RunOptions{}, Runtime{Driver: func(string) (drivers.Driver, bool) { return f, true }})
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}

	f.failStore = true
	rep := run()
	if r := rep.Targets[0]; r.Status != StatusWarning || r.Artifact == nil || len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0], "the plan was not stored") {
		t.Fatalf("a failed store: %s %+v", statuses(rep), r)
	}
	f.failStore = false
	rep = run()
	if len(f.stored) != 1 || rep.Targets[0].Status != StatusOK || f.stored[0].Point != rep.Point || strings.Contains(string(f.stored[0].Text), "s3cret") {
		t.Fatalf("stored %d plans (status %s)", len(f.stored), statuses(rep))
	}
	run()
	if len(f.stored) != 1 {
		t.Fatalf("an unchanged plan was stored again: %d", len(f.stored))
	}
	p.src = []byte("[targets.files]\nenv = { KEY = \"${CHANGED}\" }\n")
	run()
	if len(f.stored) != 2 || !strings.Contains(string(f.stored[1].Text), "${CHANGED}") {
		t.Fatalf("a changed plan was not stored again: %d", len(f.stored))
	}
	// What is remembered is the plan's sum, per repository, in KeepDir.
	files, _ := filepath.Glob(filepath.Join(keep, "plan-stored-*.sha256"))
	if len(files) != 1 {
		t.Fatalf("remembered in %q", files)
	}
	if b, _ := os.ReadFile(files[0]); strings.TrimSpace(string(b)) != f.stored[1].Sum {
		t.Errorf("remembered %q, stored %s", b, f.stored[1].Sum)
	}
}

// Which driver a repository location belongs to: a local directory by
// its layout, a remote one by its scheme; none or both asks for
// --repository-driver.
func TestRepositoryDriver(t *testing.T) {
	dir := t.TempDir()
	resticRepo, borgRepo, other := filepath.Join(dir, "restic"), filepath.Join(dir, "borg"), filepath.Join(dir, "other")
	os.MkdirAll(filepath.Join(resticRepo, "keys"), 0o700)
	os.WriteFile(filepath.Join(resticRepo, "config"), []byte("\x00encrypted"), 0o600)
	os.MkdirAll(borgRepo, 0o700)
	os.WriteFile(filepath.Join(borgRepo, "config"), []byte("[repository]\nversion = 1\n"), 0o600)
	os.MkdirAll(other, 0o700)
	os.WriteFile(filepath.Join(other, "config"), []byte("[core]\n"), 0o600)
	for _, tc := range []struct{ location, forced, want string }{
		{resticRepo, "", "restic"},
		{"local:" + resticRepo, "", "restic"},
		{borgRepo, "", "borg"},
		{"sftp:user@host:/srv/restic", "", "restic"},
		{"rest:https://user@host:8000/", "", "restic"},
		{"s3:s3.amazonaws.com/bucket", "", "restic"},
		{"ssh://user@host:22/srv/borg", "", "borg"},
		{"user@host:/srv/borg", "", "borg"},
		{"host:/srv/borg", "", ""}, // scp without a user: either
		{other, "", ""},            // a directory of something else
		{dir + "/missing", "", ""}, // nothing there
		{"relative/path", "", ""},  // never guessed
		{"host:/srv/x", "borg", "borg"},
		{"host:/srv/x", "rsync", ""}, // keeps no plan
		{"host:/srv/x", "nonesuch", ""},
	} {
		_, name, err := RepositoryDriver(tc.location, tc.forced)
		var ue *UsageError
		switch {
		case tc.want == "" && (err == nil || !errors.As(err, &ue)):
			t.Errorf("%q (--repository-driver %q): %s, %v; want a usage error", tc.location, tc.forced, name, err)
		case tc.want != "" && name != tc.want:
			t.Errorf("%q (--repository-driver %q): %s, %v; want %s", tc.location, tc.forced, name, err, tc.want)
		}
	}
}

// A dump streamed into a repository (`into`) stores the plan there, in
// the repository of the target it streams into, through that driver.
func TestStreamedDumpStoresThePlanInItsRepository(t *testing.T) {
	p, fd := fakePlan(1, []string{"db"}, nil)
	f := &fakeStore{fakeDriver: fd}
	repo := &drivers.Target{Name: "library", Driver: "fake", Impl: f, KeepDir: t.TempDir(), Settings: drivers.Values{}}
	db := p.Targets["db"]
	db.Driver, db.Into, db.TempDir = "fake-dump", repo, t.TempDir()
	p.src = []byte("[targets.db]\n")
	lookup := func(name string) (drivers.Driver, bool) {
		if name == "fake-dump" {
			return fd, true // keeps no plan itself
		}
		return f, true
	}
	if _, err := p.Run(context.Background(), "weekly", RunOptions{}, Runtime{Driver: lookup}); err != nil {
		t.Fatal(err)
	}
	if strings.Join(f.into, ",") != "library" {
		t.Fatalf("stored into %q, want the repository of library", f.into)
	}
}

// repoAt is a fake driver whose repository is wherever its target says.
type repoAt struct{ *fakeStore }

func (repoAt) Resources(t *drivers.Target) drivers.Resources {
	return drivers.Resources{Repository: t.Settings.Str("repository")}
}

// One repository, however spelt, is remembered once: a second target
// writing the same plan there in the same run must not store it again
// (borg would refuse the archive name the first one took).
func TestStoredPlanIsRememberedPerRepositoryHoweverSpelt(t *testing.T) {
	keep := t.TempDir()
	at := func(repo string) string {
		tg := &drivers.Target{Name: "t", Impl: repoAt{}, KeepDir: keep, Settings: drivers.Values{"repository": repo}}
		return planSumFile(tg)
	}
	if a, b, c := at("/srv/borg"), at("/srv/borg/"), at("/srv//borg/."); a == "" || a != b || a != c {
		t.Errorf("one repository, three files: %q %q %q", a, b, c)
	}
	if at("/srv/borg") == at("/srv/borg2") {
		t.Error("two repositories, one file")
	}
}
