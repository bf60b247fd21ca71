package drivers

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/alexandria-backup/alexandria-backup/internal/proc"
)

// Transient reports whether a failed backup is worth trying again: the
// repository was locked by another process, the network or the server
// was briefly unavailable. A wrong password, a missing repository, a
// missing source or a setting the plan got wrong are never transient:
// retrying them only delays the alert.
func Transient(d Driver, err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var se *SettingsError
	if errors.As(err, &se) {
		return false
	}
	msg := strings.ToLower(err.Error())
	for _, never := range permanentSigns {
		if strings.Contains(msg, never) {
			return false
		}
	}
	var te *proc.ToolError
	if errors.As(err, &te) {
		if d != nil && slices.Contains(d.Facts().TransientCodes, te.ExitCode) {
			return true
		}
	}
	for _, sign := range transientSigns {
		if strings.Contains(msg, sign) {
			return true
		}
	}
	return false
}

// transientSigns are messages of the tools (on the versions this project
// supports) that mean a lock or the network got in the way.
var transientSigns = []string{
	"unable to create lock", "repository is already locked", // restic
	"failed to create/acquire the lock", // borg
	"connection refused", "connection reset", "connection timed out", "i/o timeout", "no route to host",
	"temporary failure in name resolution", "tls handshake timeout", "broken pipe",
	"connection closed by remote host", "connection unexpectedly closed",
	"the database system is starting up", "the database system is shutting down", "too many connections",
	"could not connect to server", "timeout expired",
	"503 service unavailable", "502 bad gateway", "429 too many requests",
}

// permanentSigns win over everything: no retry can fix them.
var permanentSigns = []string{
	"wrong password", "password authentication failed", "no password supplied", "incorrect",
	"is there a repository at the following location", "does not exist", "not a valid repository",
	"permission denied", "no such file or directory", "(401", "(403",
}
