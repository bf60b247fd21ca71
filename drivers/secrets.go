package drivers

import (
	"os"
	"sort"
)

// dropEnv are, per driver, the variables a tool must not inherit from
// alexandria-backup's own environment: the plan names the repository and
// how the password is read, and an inherited variable would override it
// (borg reads BORG_PASSPHRASE before the plan's descriptor), conflict with
// it (restic refuses RESTIC_PASSWORD_FILE with RESTIC_PASSWORD_COMMAND, and
// RESTIC_REPOSITORY_FILE with RESTIC_REPOSITORY) or send the backup to
// another repository. The plan's own setting is explicit: the inherited
// one is dropped, and run says so, rather than failing the target.
var dropEnv = map[string][]string{
	"restic": {"RESTIC_PASSWORD", "RESTIC_PASSWORD_COMMAND", "RESTIC_PASSWORD_FILE", "RESTIC_REPOSITORY", "RESTIC_REPOSITORY_FILE"},
	"borg":   {"BORG_NEW_PASSPHRASE", "BORG_PASSCOMMAND", "BORG_PASSPHRASE", "BORG_PASSPHRASE_FD", "BORG_REPO"},
}

// InheritedEnv lists the variables of our own environment that the
// target's tools (and those of the target its dump streams into) do not
// get, sorted: for a warning.
func InheritedEnv(t *Target) []string {
	var out []string
	for ; t != nil; t = t.Into {
		for _, name := range dropEnv[t.Driver] {
			if _, set := os.LookupEnv(name); set && !containsString(out, name) {
				out = append(out, name)
			}
		}
	}
	sort.Strings(out)
	return out
}

// secretFile is a file holding a secret that a target's run reads, or
// hands to its tool, named by the plan key that sets it.
type secretFile struct {
	key  string
	path string
	// password: the file holds only a password, read whole and refused
	// when empty; otherwise it is a config file the tool reads.
	password bool
}

// secretFiles lists the target's secret files, as its run checks them.
func secretFiles(t *Target) []secretFile {
	var out []secretFile
	add := func(key string, password bool) {
		if p := t.Settings.Str(key); p != "" {
			out = append(out, secretFile{key: key, path: p, password: password})
		}
	}
	switch t.Driver {
	case "pg_dump":
		add("password_file", true)
	case "restic":
		add("password_file", true)
		add("repository_file", false)
	case "borg":
		add("passphrase_file", true)
	case "rclone":
		add("config", false)
		add("config_password_file", true)
	}
	return out
}

// CheckSecrets applies to each secret file the target names the check its
// run applies before any tool starts (ReadSecretFile, checkSecretMode): it
// exists, is a regular file, gives group and others no access, and a
// password file is not empty. `validate` and `run` call it before anything
// runs, so what a run would refuse half-way is refused at once.
func CheckSecrets(t *Target) error {
	for _, f := range secretFiles(t) {
		var err error
		if f.password {
			_, err = ReadSecretFile(f.path)
		} else {
			err = checkSecretMode(f.path)
		}
		if err != nil {
			return keyErr(f.key, "%v", err)
		}
	}
	return nil
}
