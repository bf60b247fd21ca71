package rclone

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/alexandria-backup/alexandria-backup/drivers"
)

// Custody: a remote destination is offsite. What rclone keeps there is
// encrypted at rest only through a crypt remote (its type in the
// rclone.conf, or in the target's env as RCLONE_CONFIG_<NAME>_TYPE), or
// when what it copies is itself encrypted: a restic repository (Holds).
// An rclone.conf that cannot be read, or is itself encrypted, leaves it
// unknown.
func (Driver) Custody(t *drivers.Target) drivers.Custody {
	dst := t.Settings.Str("destination")
	c := drivers.Custody{Offsite: drivers.No, Place: dst, Encrypted: drivers.Unknown}
	if rcloneIsRemote(dst) {
		c.Offsite = drivers.Yes
	}
	if held := heldEncrypted(t); held != "" {
		c.Encrypted, c.Why = drivers.Yes, held
		return c
	}
	remote, _, _ := strings.Cut(dst, ":")
	if strings.HasPrefix(dst, ":") {
		// An on-the-fly remote (":crypt,...:path" is refused): its type
		// is its name.
		remote, _, _ = strings.Cut(dst[1:], ":")
		c.Encrypted, c.Why = answer(remote == "crypt"), "the destination is an on-the-fly "+remote+" remote"
		return c
	}
	if !rcloneIsRemote(dst) {
		c.Encrypted, c.Why = drivers.No, "rclone copies plain files to "+dst
		return c
	}
	typ, from, err := remoteType(t, remote)
	switch {
	case err != nil:
		c.Why = err.Error()
	case typ == "":
		c.Why = fmt.Sprintf("remote %q has no type in %s", remote, from)
	default:
		c.Encrypted, c.Why = answer(typ == "crypt"), fmt.Sprintf("remote %q: type = %s in %s", remote, typ, from)
	}
	if c.Encrypted != drivers.Yes {
		c.Fix = "copy through an rclone crypt remote (rclone config: type = crypt over " + remote + ":), and set crypt = true"
	}
	return c
}

func answer(b bool) drivers.Answer {
	if b {
		return drivers.Yes
	}
	return drivers.No
}

// heldEncrypted says why the target's copy is encrypted when every
// repository it copies file for file is; "" otherwise.
func heldEncrypted(t *drivers.Target) string {
	if len(t.Holds) == 0 {
		return ""
	}
	var names []string
	for _, h := range t.Holds {
		hc := drivers.CustodyOf(h)
		if hc.Encrypted != drivers.Yes {
			return ""
		}
		names = append(names, h.Name)
	}
	return "a file-for-file copy of the repository of " + strings.Join(names, ", ") + ": " + drivers.CustodyOf(t.Holds[0]).Why
}

// remoteType is the type of the named remote: from the target's env
// (RCLONE_CONFIG_<NAME>_TYPE), else from its rclone.conf (config, else
// RCLONE_CONFIG, else rclone's default place), and where it was read.
func remoteType(t *drivers.Target, remote string) (typ, from string, err error) {
	envKey := "RCLONE_CONFIG_" + strings.ToUpper(strings.ReplaceAll(remote, "-", "_")) + "_TYPE"
	if v, ok := t.Env[envKey]; ok {
		return v, "the target's env " + envKey, nil
	}
	path := t.Settings.Str("config")
	if path == "" {
		path = os.Getenv("RCLONE_CONFIG")
	}
	if path == "" {
		dir, err := os.UserConfigDir()
		if err != nil {
			return "", "", fmt.Errorf("cannot find rclone's config: %v", err)
		}
		path = filepath.Join(dir, "rclone", "rclone.conf")
	}
	f, err := os.Open(path)
	if err != nil {
		return "", "", fmt.Errorf("cannot read %s to find remote %q's type: %v", path, remote, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	in := false
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "RCLONE_ENCRYPT_V"):
			return "", "", fmt.Errorf("%s is encrypted: remote %q's type cannot be read", path, remote)
		case strings.HasPrefix(line, "["):
			in = strings.TrimSuffix(strings.TrimPrefix(line, "["), "]") == remote
		case in:
			if k, v, ok := strings.Cut(line, "="); ok && strings.TrimSpace(k) == "type" {
				return strings.TrimSpace(v), path, nil
			}
		}
	}
	if err := sc.Err(); err != nil {
		return "", "", fmt.Errorf("reading %s: %v", path, err)
	}
	return "", path, nil
}
