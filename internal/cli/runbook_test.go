package cli

import (
	"context"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// runbookStep is one "  - " step of a runbook section: its text, its
// alexandria-backup command lines and the plain shell lines of its
// "# without alexandria-backup" block (comments dropped), as the legend
// (runbookLegend) says to read them.
type runbookStep struct {
	text  string
	cmds  []string
	plain []string
}

// parseRunbook splits runbook output into its sections ("1", "2", ...).
// A command line that is neither alexandria-backup nor inside a plain
// block breaks the convention and fails the test.
func parseRunbook(t *testing.T, out string) map[string][]runbookStep {
	t.Helper()
	sections := map[string][]runbookStep{}
	section, inPlain := "", false
	for _, line := range strings.Split(out, "\n") {
		steps := sections[section]
		switch {
		case strings.HasPrefix(line, "## "):
			section, _, _ = strings.Cut(strings.TrimPrefix(line, "## "), ".")
		case strings.HasPrefix(line, "  - "):
			sections[section] = append(steps, runbookStep{text: strings.TrimPrefix(line, "  - ")})
			inPlain = false
		case strings.HasPrefix(line, "    "):
			cmd := strings.TrimPrefix(line, "    ")
			if len(steps) == 0 {
				t.Fatalf("a command outside a step: %q", line)
			}
			s := &steps[len(steps)-1]
			switch {
			case strings.HasPrefix(cmd, "# without alexandria-backup"):
				inPlain = true
			case strings.HasPrefix(cmd, "#"):
			case strings.HasPrefix(cmd, "alexandria-backup "):
				s.cmds = append(s.cmds, cmd)
				inPlain = false
			case inPlain:
				s.plain = append(s.plain, cmd)
			default:
				t.Fatalf("a command line that is neither alexandria-backup nor in a plain block: %q", line)
			}
		}
	}
	return sections
}

// shellWords splits a line the way a POSIX shell splits what
// proc.ShellQuote writes: words separated by spaces, 'single quotes'
// (a quote inside one is closed, escaped, reopened) and backslash
// escapes.
func shellWords(line string) []string {
	var words []string
	var word strings.Builder
	inWord, quoted := false, false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quoted && c == '\'':
			quoted = false
		case quoted:
			word.WriteByte(c)
		case c == '\'':
			quoted, inWord = true, true
		case c == '\\' && i+1 < len(line):
			i++
			word.WriteByte(line[i])
			inWord = true
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, word.String())
				word.Reset()
				inWord = false
			}
		default:
			word.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, word.String())
	}
	return words
}

func TestShellWords(t *testing.T) {
	for line, want := range map[string][]string{
		"alexandria-backup --config plan.toml restore db --yes": {"alexandria-backup", "--config", "plan.toml", "restore", "db", "--yes"},
		"a '/tmp/my plan.toml' 'it'\\''s' ''":                   {"a", "/tmp/my plan.toml", "it's", ""},
		`a\ b  c`:                                               {"a b", "c"},
	} {
		if got := shellWords(line); !slices.Equal(got, want) {
			t.Errorf("shellWords(%q) = %q, want %q", line, got, want)
		}
	}
}

// runRunbookCommands runs alexandria-backup command lines in-process, in
// order; each must exit 0.
func runRunbookCommands(t *testing.T, lines []string) {
	t.Helper()
	for _, line := range lines {
		words := shellWords(line)
		code, stdout, stderr := runCLI(t, words[1:]...)
		if code != 0 {
			t.Fatalf("%s: exit %d\n%s%s", line, code, stdout, stderr)
		}
	}
}

// runPlainBlock runs a plain block as the legend says: one shell session,
// stopping at the first failure.
func runPlainBlock(t *testing.T, lines []string) {
	t.Helper()
	script := "set -euo pipefail\n" + strings.Join(lines, "\n") + "\n"
	out, err := exec.Command("bash", "-c", script).CombinedOutput()
	if err != nil {
		t.Fatalf("plain block failed: %v\n%s\n--- script:\n%s", err, out, script)
	}
}

// tableCounts is every table's row count in a database.
func tableCounts(t *testing.T, ctx context.Context, url string) map[string]int64 {
	t.Helper()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, "SELECT quote_ident(table_schema) || '.' || quote_ident(table_name) FROM information_schema.tables WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')")
	if err != nil {
		t.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, n := range names {
		var c int64
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+n).Scan(&c); err != nil {
			t.Fatal(err)
		}
		out[n] = c
	}
	return out
}

// The runbook is true: each procedure it prints, executed command by
// command on a sandbox damaged as its scenario says, brings back what
// was backed up. The plan has two database targets (a dump directory, a
// dump streamed into restic) and two files targets (borg, listed first,
// and restic): each procedure restores ONE of each, the ones recover
// chooses (the first database target in plan order, restic before borg),
// so nothing is restored twice (the second database restore would be
// refused: "already has N tables").
//
//   - 1, database corruption: a table dropped and rows deleted; the
//     printed `restore --clean --yes` brings every table's rows back.
//   - 2, server loss: the database dropped, the library and state_dir
//     deleted; the printed `recover --yes` brings back both; then again
//     with the printed plain-tool block (bash), for the restic target, and
//     for a plan whose only files target is borg.
//   - 3, migration: the old server's commands (a fresh `run`) after a
//     change, the server lost, the new server's (`recover`, `drill`): the
//     change is there.
func TestRunbookIsTrue(t *testing.T) {
	for _, tool := range []string{"restic", "borg", "pg_dump", "createdb", "rsync"} {
		requireTool(t, tool)
	}
	srv, dir, lib := recoverySandbox(t)
	ctx := t.Context()
	state := filepath.Join(dir, "state")
	os.WriteFile(filepath.Join(lib, "books", "it's mine.epub"), []byte("a quote in a name"), 0o600)
	// In the environment, not the plan's env: the runbook masks a
	// target's env values, and the plain blocks run with this one.
	t.Setenv("BORG_BASE_DIR", filepath.Join(dir, "borg-base"))
	db := `[targets.db]
driver   = "pg_dump"
database = "` + srv.URL("alexandria") + `"
dir      = "` + filepath.Join(dir, "dumps") + `"
`
	books := `
[targets.books]
driver = "borg"
repository = "` + filepath.Join(dir, "borg") + `"
passphrase_file = "` + filepath.Join(dir, "borg.pass") + `"
paths = ["` + lib + `"]
`
	planFile := filepath.Join(dir, "plan.toml")
	os.WriteFile(planFile, []byte(`state_dir = "`+state+`"
`+db+`
[targets.db-stream]
driver   = "pg_dump"
database = "`+srv.URL("alexandria")+`"
into     = "files"
`+books+`
[targets.files]
driver = "restic"
repository = "`+filepath.Join(dir, "restic")+`"
password_file = "`+filepath.Join(dir, "restic.pass")+`"
paths = ["`+lib+`"]
host = "test"

[plans.nightly]
targets = ["db", "db-stream", "books", "files"]
`), 0o600)
	// The same backups, through a plan whose only files target is borg.
	borgPlan := filepath.Join(dir, "borg-plan.toml")
	os.WriteFile(borgPlan, []byte(`state_dir = "`+filepath.Join(dir, "borg-state")+`"
`+db+books+`
[plans.nightly]
targets = ["db", "books"]
`), 0o600)

	// And through a plan whose only files target is an rsync mirror.
	mirrorPlan := filepath.Join(dir, "mirror-plan.toml")
	os.WriteFile(mirrorPlan, []byte(`state_dir = "`+filepath.Join(dir, "mirror-state")+`"
`+db+`
[targets.mirror]
driver = "rsync"
source = "`+lib+`/"
destination = "`+filepath.Join(dir, "mirror")+`"
delete = true

[plans.nightly]
targets = ["db", "mirror"]
`), 0o600)

	for _, p := range []string{planFile, mirrorPlan} {
		if code, _, stderr := runCLI(t, "init", "--plan", "nightly", "-c", p); code != 0 {
			t.Fatalf("init: exit %d\n%s", code, stderr)
		}
		if code, stdout, stderr := runCLI(t, "run", "nightly", "-c", p); code != 0 {
			t.Fatalf("run: exit %d\n%s%s", code, stdout, stderr)
		}
	}
	wantCounts, wantLib := tableCounts(t, ctx, srv.URL("alexandria")), readLibrary(t, lib)
	runbook := func(plan string) map[string][]runbookStep {
		t.Helper()
		code, stdout, stderr := runCLI(t, "runbook", "-c", plan)
		if code != 0 {
			t.Fatalf("runbook: exit %d\n%s", code, stderr)
		}
		return parseRunbook(t, stdout)
	}
	commands := func(steps []runbookStep) []string {
		var out []string
		for _, s := range steps {
			out = append(out, s.cmds...)
		}
		return out
	}
	hasStep := func(steps []runbookStep, prefix string) int {
		t.Helper()
		for i, s := range steps {
			if strings.HasPrefix(s.text, prefix) {
				return i
			}
		}
		t.Fatalf("no step %q in %+v", prefix, steps)
		return -1
	}
	checkBack := func(what string) {
		t.Helper()
		if got := tableCounts(t, ctx, srv.URL("alexandria")); !maps.Equal(got, wantCounts) {
			t.Errorf("%s: the tables hold %v, the backup %v", what, got, wantCounts)
		}
		if got := readLibrary(t, lib); !maps.Equal(got, wantLib) {
			t.Errorf("%s: the library is %q, the backup %q", what, got, wantLib)
		}
	}
	loseTheServer := func() {
		t.Helper()
		if err := srv.Exec(ctx, "postgres", "DROP DATABASE alexandria WITH (FORCE)"); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{filepath.Join(dir, "srv"), state} {
			if err := os.RemoveAll(p); err != nil {
				t.Fatal(err)
			}
		}
	}
	rb := runbook(planFile)

	t.Run("1 database corruption", func(t *testing.T) {
		steps := rb["1"]
		stop, start := hasStep(steps, "Stop Alexandria"), hasStep(steps, "Start Alexandria again")
		cmds := commands(steps)
		if len(cmds) != 1 || !strings.HasSuffix(cmds[0], " restore db --clean --yes") || stop > start {
			t.Fatalf("section 1: stop, ONE restore of db (the first database target) with --clean, start; got %+v", steps)
		}
		if err := srv.Exec(ctx, "alexandria", "DROP TABLE public.book_tags; DELETE FROM public.reading_progress; DELETE FROM public.publishers WHERE id NOT IN (SELECT publisher_id FROM public.books WHERE publisher_id IS NOT NULL)"); err != nil {
			t.Fatal(err)
		}
		if maps.Equal(tableCounts(t, ctx, srv.URL("alexandria")), wantCounts) {
			t.Fatal("the damage changed nothing")
		}
		runRunbookCommands(t, cmds)
		checkBack("after section 1")
	})

	t.Run("2 server loss", func(t *testing.T) {
		steps := rb["2"]
		hasStep(steps, "Install Alexandria")
		hasStep(steps, "Start the services")
		cmds := commands(steps)
		if len(cmds) != 1 || !strings.HasSuffix(cmds[0], " recover --yes") {
			t.Fatalf("section 2: ONE recover command; got %q", cmds)
		}
		loseTheServer()
		runRunbookCommands(t, cmds)
		checkBack("after section 2's recover")
	})

	t.Run("2 server loss by hand", func(t *testing.T) {
		for _, tc := range []struct {
			plan, tool, not string
		}{{planFile, "restic restore", "borg"}, {borgPlan, "borg extract", "restic"}, {mirrorPlan, "rsync --archive", "restic"}} {
			var plain []string
			for _, s := range runbook(tc.plan)["2"] {
				plain = append(plain, s.plain...)
			}
			script := strings.Join(plain, "\n")
			if !strings.Contains(script, tc.tool) || strings.Contains(script, tc.not) || strings.Count(script, "pg_restore") != 1 {
				t.Fatalf("%s: section 2's plain block should restore the dump once and the files from %s only:\n%s", tc.plan, tc.tool, script)
			}
			loseTheServer()
			runPlainBlock(t, plain)
			checkBack("after section 2's plain block with " + tc.tool)
		}
	})

	t.Run("3 migration", func(t *testing.T) {
		steps := rb["3"]
		stop, backup, newServer := hasStep(steps, "On the old server, stop Alexandria first"), hasStep(steps, "Still on the old server, take fresh backups"), hasStep(steps, "On the new server")
		if !(stop < backup && backup < newServer) {
			t.Fatalf("section 3: stop, then back up, then the new server; got %+v", steps)
		}
		oldServer, onNew := commands(steps[:newServer]), commands(steps[newServer:])
		if len(oldServer) != 1 || !strings.HasSuffix(oldServer[0], " run nightly") || len(onNew) != 2 ||
			!strings.HasSuffix(onNew[0], " recover --yes") || !strings.HasSuffix(onNew[1], " drill") {
			t.Fatalf("section 3: run on the old server, recover and drill on the new; got %q then %q", oldServer, onNew)
		}
		// What changed since the last backup must arrive on the new server.
		os.WriteFile(filepath.Join(lib, "books", "moved.epub"), []byte("written just before the move"), 0o644)
		if err := srv.Exec(ctx, "alexandria", "INSERT INTO public.tags (name) VALUES ('moved')"); err != nil {
			t.Fatal(err)
		}
		runRunbookCommands(t, oldServer)
		wantCounts, wantLib = tableCounts(t, ctx, srv.URL("alexandria")), readLibrary(t, lib)
		loseTheServer()
		runRunbookCommands(t, onNew)
		checkBack("on the new server")
		if wantLib["books/moved.epub"] == "" {
			t.Error("the change before the move was not in the library")
		}
	})
}
