// Package planpaths knows which files and directories of this machine a
// plan's targets use: the secret files they read, the data they back up
// and where they write. `doctor` checks them, `schedule` mounts them into
// a CronJob and opens them in a hardened systemd unit.
package planpaths

import (
	"path/filepath"
	"sort"
	"strings"

	"github.com/alexandria-backup/alexandria-backup/drivers"
)

// Secret is a file holding a secret that a target's tool reads.
type Secret struct {
	Target string
	Key    string // the plan key (or env variable) naming it
	Path   string
	// Password: the file holds only a password, read whole by the tool
	// (and refused when empty); otherwise it is a key or config file.
	Password bool
}

// Secrets lists the secret files the targets name, in target order.
func Secrets(targets []*drivers.Target) []Secret {
	var out []Secret
	for _, t := range targets {
		add := func(key, path string, password bool) {
			if path != "" {
				out = append(out, Secret{Target: t.Name, Key: key, Path: path, Password: password})
			}
		}
		switch t.Driver {
		case "pg_dump":
			add("password_file", t.Settings.Str("password_file"), true)
		case "restic":
			add("password_file", t.Settings.Str("password_file"), true)
			// The location, read whole by restic like a password.
			add("repository_file", t.Settings.Str("repository_file"), true)
		case "borg":
			add("passphrase_file", t.Settings.Str("passphrase_file"), true)
		case "rsync":
			for _, id := range sshIdentities(t.Settings.Str("ssh_command")) {
				add("ssh_command", id, false)
			}
		case "rclone":
			// rclone.conf holds the remotes' credentials.
			add("config", t.Settings.Str("config"), false)
			add("config_password_file", t.Settings.Str("config_password_file"), true)
		}
		for _, name := range sortedKeys(t.Env) {
			switch name {
			case "RSYNC_RSH", "BORG_RSH":
				for _, id := range sshIdentities(t.Env[name]) {
					add("env."+name, id, false)
				}
			default:
				if secretFileVars[name] {
					add("env."+name, t.Env[name], false)
				}
			}
		}
	}
	return out
}

// secretFileVars are environment variables of the tools (and the cloud
// libraries they use) that name a file holding credentials.
var secretFileVars = map[string]bool{
	"PGPASSFILE": true, "PGSSLKEY": true,
	"RESTIC_PASSWORD_FILE": true, "BORG_KEY_FILE": true, "RCLONE_CONFIG": true,
	"GOOGLE_APPLICATION_CREDENTIALS": true, "AWS_SHARED_CREDENTIALS_FILE": true,
}

// sshIdentities finds the identity files in an ssh command line: -i FILE,
// -iFILE and -o IdentityFile=FILE.
func sshIdentities(cmd string) []string {
	words := strings.Fields(cmd)
	var out []string
	for i := 0; i < len(words); i++ {
		w := words[i]
		switch {
		case w == "-i" && i+1 < len(words):
			i++
			out = append(out, words[i])
		case strings.HasPrefix(w, "-i") && len(w) > 2:
			out = append(out, w[2:])
		case w == "-o" && i+1 < len(words):
			i++
			if f, ok := identityOption(words[i]); ok {
				out = append(out, f)
			}
		case strings.HasPrefix(w, "-o"):
			if f, ok := identityOption(w[2:]); ok {
				out = append(out, f)
			}
		}
	}
	return out
}

func identityOption(opt string) (string, bool) {
	k, v, ok := strings.Cut(opt, "=")
	if !ok {
		k, v, ok = strings.Cut(opt, " ")
	}
	if ok && strings.EqualFold(strings.TrimSpace(k), "IdentityFile") {
		return strings.TrimSpace(v), true
	}
	return "", false
}

// Local is a directory (or file) on this machine that targets use.
type Local struct {
	Path string
	// Write: a target writes there (dumps, a local repository, a mirror);
	// otherwise it is only read (what is backed up).
	Write bool
	// Dumps: pg_dump keeps its dump files there.
	Dumps bool
	// Why says which target uses it and how, for comments and messages.
	Why string
}

// Locals lists the local paths the targets read and write, plus stateDir,
// each once (writing wins over reading), sorted by path.
func Locals(stateDir string, targets []*drivers.Target) []Local {
	byPath := map[string]*Local{}
	add := func(path string, write, dumps bool, why string) {
		if !filepath.IsAbs(path) {
			return // remote, or relative (tools refuse those)
		}
		path = filepath.Clean(path)
		l, ok := byPath[path]
		if !ok {
			l = &Local{Path: path}
			byPath[path] = l
		}
		l.Write = l.Write || write
		l.Dumps = l.Dumps || dumps
		for _, w := range strings.Split(l.Why, "; ") {
			if w == why {
				return
			}
		}
		if l.Why != "" {
			l.Why += "; "
		}
		l.Why += why
	}
	add(stateDir, true, false, "state_dir")
	for _, t := range targets {
		s := t.Settings
		switch t.Driver {
		case "pg_dump":
			if t.Into == nil {
				add(s.Str("dir"), true, true, "dumps of "+t.Name)
			}
		case "restic", "borg":
			add(strings.TrimPrefix(s.Str("repository"), "local:"), true, false, "repository of "+t.Name)
			for _, p := range s.List("paths") {
				add(p, false, false, "backed up by "+t.Name)
			}
			for _, p := range s.List("exclude_file") {
				add(p, false, false, "exclude_file of "+t.Name)
			}
		case "rsync", "rclone":
			add(s.Str("source"), false, false, "source of "+t.Name)
			add(s.Str("destination"), true, false, "destination of "+t.Name)
		}
	}
	out := make([]Local, 0, len(byPath))
	for _, l := range byPath {
		out = append(out, *l)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// Within reports whether path is dir or inside it.
func Within(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
