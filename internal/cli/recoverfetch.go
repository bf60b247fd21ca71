package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
	"github.com/alexandria-backup/alexandria-backup/plan"
)

// fetchPlan is `recover --from-repository REPO`'s first part, on a
// machine that has no plan: it fetches the plan a run stored in REPO
// (drivers.PlanStore), writes it where the command reads its plan (never
// over a file), and stops with exit 2 listing what the operator must
// set again (masked values, missing secret files) before recover can use
// it. It returns nil when recover can go on with the plan as written.
func fetchPlan(c *cli.Context) error {
	repo := c.String("from-repository")
	if repo == "" {
		for _, f := range []string{"password-file", "repository-driver"} {
			if c.IsSet(f) {
				return usage("--%s goes with --from-repository", f)
			}
		}
		return nil
	}
	path, err := plan.Find(c.String("config"))
	if err != nil {
		path = plan.DefaultPath // no plan anywhere: where root's plan goes
	}
	if _, err := os.Lstat(path); err == nil {
		return usage("recover --from-repository: the plan file %s exists, and the fetched plan is never written over it: run `%s` to recover with it, or move it away first; nothing was changed", path, recoverAgain(c, path))
	} else if !errors.Is(err, os.ErrNotExist) {
		return usage("recover --from-repository: %v", err)
	}
	store, driver, err := plan.RepositoryDriver(repo, c.String("repository-driver"))
	if err != nil {
		return err
	}
	from := drivers.PlanSource{Repository: repo}
	if f := c.String("password-file"); f != "" {
		if from.PasswordFile, err = filepath.Abs(f); err != nil {
			return usage("--password-file: %v", err)
		}
		if _, err := drivers.ReadSecretFile(from.PasswordFile); err != nil {
			return usage("--password-file: %v", err)
		}
	}
	log, err := newLogger(c, c.App.ErrWriter)
	if err != nil {
		return err
	}
	exec := proc.ProcessExecutor{Log: func(cmdline string) { log.Debug("exec", "command", cmdline) }}
	shown := proc.MaskURLPasswords(repo)
	text, err := store.FetchPlan(c.Context, exec, from)
	if errors.Is(err, drivers.ErrNoStoredPlan) {
		return &exitError{code: exitFailed, err: fmt.Errorf("recover --from-repository: %s repository %s: %w; nothing was changed", driver, shown, drivers.ErrNoStoredPlan)}
	}
	if err != nil {
		return &exitError{code: exitFailed, err: fmt.Errorf("recover --from-repository: reading the stored plan from %s repository %s: %v; nothing was changed", driver, shown, err)}
	}
	if len(strings.TrimSpace(string(text))) == 0 {
		return &exitError{code: exitFailed, err: fmt.Errorf("recover --from-repository: the plan stored in %s is empty; nothing was changed", shown)}
	}
	if err := plan.WriteNew(path, text); err != nil {
		return &exitError{code: exitFailed, err: fmt.Errorf("recover --from-repository: writing the plan: %v", err)}
	}
	if !c.Bool("json") {
		fmt.Fprintf(c.App.Writer, "the plan stored in %s repository %s is now %s (mode 0600)\n", driver, shown, path)
	}
	return checkFetchedPlan(c, path, repo)
}

// checkFetchedPlan stops, naming each, at what a plan fetched from a
// repository still lacks on this machine: secrets masked when it was
// stored, secret files its targets read that do not exist, and a
// repository it names that is not the one fetched from (the lost
// server's disk: recover would fail on it without saying why).
func checkFetchedPlan(c *cli.Context, path, repo string) error {
	src, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var todo []string
	masked, err := plan.MaskedKeys(src, os.LookupEnv)
	if err != nil {
		return usage("the fetched plan %s: %v", path, err)
	}
	for _, k := range masked {
		todo = append(todo, fmt.Sprintf("%s: masked when the plan was stored (%s): write its value in %s again, or write it as ${VAR} and set VAR", k, plan.MaskedValue, path))
	}
	p, loadErr := plan.Load(path)
	if loadErr == nil {
		if todoRepo := repositoryTodo(p, repo); todoRepo != "" {
			todo = append(todo, todoRepo)
		}
		seen := map[string]bool{}
		for _, t := range p.AllTargets() {
			for _, f := range t.Resources().Secrets {
				if f.Kind == drivers.SSHKey || seen[f.Path] {
					continue
				}
				seen[f.Path] = true
				if _, err := os.Stat(f.Path); errors.Is(err, os.ErrNotExist) {
					todo = append(todo, fmt.Sprintf("targets.%s.%s: %s", t.Name, f.Key, secretFileAdvice(f)))
				}
			}
		}
	}
	if len(todo) == 0 {
		if loadErr != nil {
			return loadErr
		}
		return nil
	}
	msg := "the plan fetched from the repository is " + path + ", but before recover can use it:\n  - " + strings.Join(todo, "\n  - ")
	if loadErr != nil {
		msg += "\n  - and then fix what keeps it from loading:\n" + loadErr.Error()
	}
	return usage("%s\nthen run `%s` again", msg, recoverAgain(c, path))
}

// repositoryTodo says what to do when no target of p keeps its backups in
// repo, the repository the plan was fetched from: "" when one does.
func repositoryTodo(p *plan.Plan, repo string) string {
	var named []string
	for _, t := range p.AllTargets() {
		r := t.Repository()
		if r == "" {
			continue
		}
		if drivers.SamePlace(r, repo) {
			return ""
		}
		named = append(named, fmt.Sprintf("targets.%s.repository = %s", t.Name, proc.MaskURLPasswords(r)))
	}
	if len(named) == 0 {
		return ""
	}
	slices.Sort(named)
	named = slices.Compact(named)
	return fmt.Sprintf("the plan keeps its backups in %s, not in %s, which it was fetched from: copy the repository back to where the plan says, or set that target's repository to %s",
		strings.Join(named, "; "), proc.MaskURLPasswords(repo), proc.MaskURLPasswords(repo))
}

func secretFileAdvice(f drivers.SecretFile) string {
	switch f.Kind {
	case drivers.PasswordFile:
		return "write the password to " + f.Path + " (mode 0600)"
	case drivers.LocationFile:
		return "write the repository location to " + f.Path + " (mode 0600)"
	}
	return "put the file " + f.Path + " back (mode 0600)"
}

// recoverAgain is the recover command line that uses the plan at path.
func recoverAgain(c *cli.Context, path string) string {
	if c.String("config") != "" {
		return "alexandria-backup recover --config " + proc.ShellQuote(path)
	}
	return "alexandria-backup recover"
}
