package drivertest

import (
	"context"
	"encoding/json"
	"io"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/drivers/borg"
	"github.com/alexandria-backup/alexandria-backup/drivers/pgdump"
	"github.com/alexandria-backup/alexandria-backup/drivers/restic"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
)

type StreamFixture struct {
	Pg     *PgFixture
	tool   string
	Dir    string
	Into   *drivers.Target // the restic or borg target
	Target *drivers.Target // the pg_dump target streaming into it
	X      *StreamExec
}

// StreamExec runs the real tools, logging every command line as shown, and
// running pg_dump through a shim script when one is set.
type StreamExec struct {
	proc.ProcessExecutor
	mu      sync.Mutex
	log     []string
	pgShim  string // a script run instead of pg_dump for backups ("" = the real one)
	Shimmed bool
	// storeShim is a script run instead of the restic or borg that stores
	// a streamed dump ("" = the real one).
	storeShim string
}

func NewStreamExec() *StreamExec {
	x := &StreamExec{}
	x.ProcessExecutor.Log = func(line string) {
		x.mu.Lock()
		defer x.mu.Unlock()
		x.log = append(x.log, line)
	}
	return x
}

func (x *StreamExec) shim(c proc.Command) proc.Command {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.pgShim != "" && c.Program == "pg_dump" && len(c.Args) > 0 && c.Args[0] != "--version" {
		c.Program = x.pgShim
		x.Shimmed = true
	}
	return c
}

func (x *StreamExec) Run(ctx context.Context, c proc.Command) (proc.Result, error) {
	return x.ProcessExecutor.Run(ctx, x.shim(c))
}

func (x *StreamExec) RunPipe(ctx context.Context, from, to proc.Command, tap io.Writer) (proc.Result, proc.Result, error) {
	x.mu.Lock()
	if x.storeShim != "" && (to.Program == "restic" || to.Program == "borg") {
		to.Program = x.storeShim
	}
	x.mu.Unlock()
	return x.ProcessExecutor.RunPipe(ctx, x.shim(from), x.shim(to), tap)
}

// SetStoreShim makes streamed dumps be stored by script (a shell script;
// $REAL is the real restic or borg) instead of the tool.
func (f *StreamFixture) SetStoreShim(t *testing.T, script string) {
	t.Helper()
	real, err := exec.LookPath(f.tool)
	if err != nil {
		t.Fatal(err)
	}
	path := WriteFile(t, t.TempDir(), f.tool+"-shim", "#!/bin/sh\nREAL="+real+"\n"+script+"\n", 0o755)
	f.X.mu.Lock()
	f.X.storeShim = path
	f.X.mu.Unlock()
	t.Cleanup(func() {
		f.X.mu.Lock()
		f.X.storeShim = ""
		f.X.mu.Unlock()
	})
}

func (x *StreamExec) Lines() string {
	x.mu.Lock()
	defer x.mu.Unlock()
	return strings.Join(x.log, "\n")
}

// SetShim makes backups run script (a shell script; $REAL is the real
// pg_dump) instead of pg_dump.
func (f *StreamFixture) SetShim(t *testing.T, script string) {
	t.Helper()
	real, err := exec.LookPath("pg_dump")
	if err != nil {
		t.Fatal(err)
	}
	path := WriteFile(t, t.TempDir(), "pg_dump-shim", "#!/bin/sh\nREAL="+real+"\n"+script+"\n", 0o755)
	f.X.mu.Lock()
	f.X.pgShim, f.X.Shimmed = path, false
	f.X.mu.Unlock()
	t.Cleanup(func() {
		f.X.mu.Lock()
		f.X.pgShim = ""
		f.X.mu.Unlock()
	})
}

// NewStreamFixture starts a PostgreSQL with the restore fixture's
// database, makes a repository of tool (restic or borg) with its own
// target, and a pg_dump target streaming into it.
func NewStreamFixture(t *testing.T, tool string) *StreamFixture {
	RequireTool(t, tool, "pg_dump", "pg_restore")
	pg := NewPgRestoreFixture(t)
	ctx := context.Background()
	dir := t.TempDir()
	f := &StreamFixture{Pg: pg, tool: tool, Dir: dir, X: NewStreamExec()}
	src := filepath.Join(dir, "library")
	WriteFile(t, src, "book.epub", "a book", 0o644)
	pass := WriteFile(t, dir, "repo.pass", StreamRepoSecret+"\n", 0o600)
	switch tool {
	case "restic":
		f.Into = &drivers.Target{Name: "library", Driver: "restic", Impl: restic.Driver{}, Verify: true, TempDir: dir,
			Settings: drivers.Values{"repository": filepath.Join(dir, "repo"), "password_file": pass, "paths": []string{src}, "host": "test-host"},
			Env:      map[string]string{"RESTIC_CACHE_DIR": filepath.Join(dir, "cache")}}
		if err := (restic.Driver{}).Init(ctx, f.X, f.Into); err != nil {
			t.Fatal(err)
		}
	case "borg":
		f.Into = &drivers.Target{Name: "library", Driver: "borg", Impl: borg.Driver{}, Verify: true, TempDir: dir,
			Settings: drivers.Values{"repository": filepath.Join(dir, "repo"), "passphrase_file": pass, "paths": []string{src}, "lock_wait": 30 * time.Second},
			Env:      map[string]string{"BORG_BASE_DIR": filepath.Join(dir, "borg-base")}}
		if err := (borg.Driver{}).Init(ctx, f.X, f.Into); err != nil {
			t.Fatal(err)
		}
	}
	dbPass := WriteFile(t, dir, "db.pass", StreamDBSecret+"\n", 0o600)
	f.Target = pg.Target(t, drivers.Values{"into": "library", "password_file": dbPass})
	delete(f.Target.Settings, "dir")
	f.Target.Into = f.Into
	if err := (pgdump.Driver{}).Validate(f.Target); err != nil {
		t.Fatal(err)
	}
	return f
}

// toolRun runs restic or borg directly against the repository.
func (f *StreamFixture) toolRun(t *testing.T, args ...string) proc.Result {
	t.Helper()
	c := proc.Command{Program: f.tool, Args: args, StdoutTail: 16 << 20}
	s := f.Into.Settings
	if f.tool == "restic" {
		c.Env = []proc.EnvVar{{Name: "RESTIC_REPOSITORY", Value: s.Str("repository")}, {Name: "RESTIC_PASSWORD_FILE", Value: s.Str("password_file")},
			{Name: "RESTIC_CACHE_DIR", Value: f.Into.Env["RESTIC_CACHE_DIR"]}}
	} else {
		c.Env = []proc.EnvVar{{Name: "BORG_REPO", Value: s.Str("repository")}, {Name: "BORG_PASSPHRASE_FD", Value: "3"},
			{Name: "BORG_BASE_DIR", Value: f.Into.Env["BORG_BASE_DIR"]}}
		c.ExtraFiles = []string{s.Str("passphrase_file")}
	}
	res, err := proc.ProcessExecutor{}.Run(context.Background(), c)
	if err != nil {
		t.Fatalf("%s %v: %v", f.tool, args, err)
	}
	return res
}

// RepoContents lists every snapshot (restic: "id paths tags", sorted) or
// archive (borg, checkpoints included) in the repository, whoever made it.
func (f *StreamFixture) RepoContents(t *testing.T) []string {
	t.Helper()
	var out []string
	if f.tool == "restic" {
		var snaps []struct {
			ShortID string   `json:"short_id"`
			Paths   []string `json:"paths"`
			Tags    []string `json:"tags"`
		}
		if err := json.Unmarshal(f.toolRun(t, "snapshots", "--json").Stdout, &snaps); err != nil {
			t.Fatal(err)
		}
		for _, s := range snaps {
			out = append(out, s.ShortID+" "+strings.Join(s.Paths, ",")+" "+strings.Join(s.Tags, ","))
		}
		sort.Strings(out) // a dump and its manifest have the same time
		return out
	}
	var list struct {
		Archives []struct {
			Name string `json:"name"`
		} `json:"archives"`
	}
	if err := json.Unmarshal(f.toolRun(t, "list", "--json", "--consider-checkpoints").Stdout, &list); err != nil {
		t.Fatal(err)
	}
	for _, a := range list.Archives {
		out = append(out, a.Name)
	}
	return out
}

// StoredManifest reads a dump's manifest straight from the repository.
func (f *StreamFixture) StoredManifest(t *testing.T, id string) *drivers.DumpManifest {
	t.Helper()
	var data []byte
	if f.tool == "restic" {
		var snaps []struct {
			ID string `json:"id"`
		}
		json.Unmarshal(f.toolRun(t, "snapshots", "--json", "--tag", "alexandria-manifest:"+id).Stdout, &snaps)
		if len(snaps) != 1 {
			t.Fatalf("dump %s has %d manifest snapshots", id, len(snaps))
		}
		data = f.toolRun(t, "dump", snaps[0].ID, "/database.manifest.json").Stdout
	} else {
		data = f.toolRun(t, "extract", "--stdout", "::"+id, "database.manifest.json").Stdout
	}
	m, err := drivers.ParseDumpManifest(data)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

const (
	StreamRepoSecret = "correct horse battery staple"
	StreamDBSecret   = "db-s3cret-never-in-argv"
)
