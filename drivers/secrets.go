package drivers

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
	case "pg_dump", "restic":
		add("password_file", true)
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
