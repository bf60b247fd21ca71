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
		for _, f := range t.Resources().Secrets {
			// A location file (restic's repository_file) is read whole
			// like a password.
			add(f.Key, f.Path, f.Kind == drivers.PasswordFile || f.Kind == drivers.LocationFile)
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

// sshIdentities finds the identity files in an ssh command line.
func sshIdentities(cmd string) []string { return drivers.SSHIdentities(cmd) }

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
		for _, p := range t.Resources().Paths {
			add(p.Path, p.Write, p.Dumps, p.Why)
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
