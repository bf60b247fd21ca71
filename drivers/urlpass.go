package drivers

import (
	"errors"
	"regexp"

	"github.com/alexandria-backup/alexandria-backup/internal/proc"
)

// Plan checks refuse a password in a repository or remote location: it
// would sit in a process's environment or argv, the report and the state
// file. What a password in a URL looks like is proc's to know (it masks
// one wherever a command or a tool's output is shown); the scp-like
// user:password@host:path the tools also accept is known here.

// scpPasswordRE is user:password@host: at the start of an scp-like
// location (borg's and rsync's user@host:path, restic's sftp:user@host:path).
// The password may not hold a '/': "host:dir/user@x:y" is a path.
var scpPasswordRE = regexp.MustCompile(`^[^/:@\s]+:[^/@\s]*@([^/:@\s\[]+|\[[0-9A-Fa-f:.]+\]):`)

// HasPassword reports a URL with a password anywhere in s, or, when scp
// is set, an scp-like location starting user:password@host:.
func HasPassword(s string, scp bool) bool {
	return proc.HasURLPassword(s) || scp && scpPasswordRE.MatchString(s)
}

// PasswordErr is the error of a value holding a password. It never repeats
// the value; advice says where the secret belongs instead.
func PasswordErr(advice string) error {
	return errors.New("contains a password; " + advice + ", so it never appears in a process list, a log or a report")
}

// NoPassword returns an Option.Check refusing a value holding a password
// (in a URL, or, with scp, as user:password@host:path).
func NoPassword(scp bool, advice string) func(v any) error {
	return func(v any) error {
		if HasPassword(v.(string), scp) {
			return PasswordErr(advice)
		}
		return nil
	}
}
