package drivers

import (
	"fmt"
	"os"
	"sort"
	"strings"
)

// InheritedEnv lists the variables of our own environment that the
// target's tools (and those of the target its dump streams into) do not
// get, sorted: for a warning.
func InheritedEnv(t *Target) []string {
	var out []string
	for ; t != nil; t = t.Into {
		for _, name := range t.Facts().DropEnv {
			if _, set := os.LookupEnv(name); set && !containsString(out, name) {
				out = append(out, name)
			}
		}
	}
	sort.Strings(out)
	return out
}

// CheckSecrets applies to each secret file the target names the check its
// run applies before any tool starts (ReadSecretFile, CheckSecretMode): it
// exists, is a regular file, gives group and others no access, and a
// password file is not empty. `validate` and `run` call it before anything
// runs, so what a run would refuse half-way is refused at once.
func CheckSecrets(t *Target) error {
	for _, f := range t.Resources().Secrets {
		var err error
		switch f.Kind {
		case PasswordFile:
			_, err = ReadSecretFile(f.Path)
		case LocationFile, ConfigFile:
			err = CheckSecretMode(f.Path)
		case SSHKey:
			// ssh checks its keys itself.
		}
		if err != nil {
			return KeyErr(f.Key, "%v", err)
		}
	}
	return nil
}

// SSHIdentities finds the identity files in an ssh command line: -i FILE,
// -iFILE and -o IdentityFile=FILE.
func SSHIdentities(cmd string) []string {
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

// ReadSecretFile reads a password file, refusing one that group or others
// can read (as ssh refuses such keys). A trailing newline is dropped.
func ReadSecretFile(path string) (string, error) {
	if err := CheckSecretMode(path); err != nil {
		return "", err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	s := strings.TrimRight(string(b), "\r\n")
	if s == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return s, nil
}

// CheckSecretMode refuses a secret file group or others can read. An empty
// path is fine (the secret comes another way).
func CheckSecretMode(path string) error {
	if path == "" {
		return nil
	}
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		// A directory cannot be read; a FIFO or device would block or
		// hand over whatever writes to it.
		return fmt.Errorf("%s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("%s has mode %04o: a secret file must not be accessible by group or others (chmod 600 %s)", path, perm, path)
	}
	return nil
}
