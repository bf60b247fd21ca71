package drivers

import "strings"

// Facts, not switches: what the other layers (plan, restore, runbook,
// doctor, schedule, the lock sweep) need to know about a tool, each driver
// declares: Facts for what holds for every target of the driver,
// Resources for what one target uses. A layer never compares a driver's
// name (TestNoDriverNameSwitches): a forgotten case compiles and falls to
// its default, a missing method does not compile.

// Role says what a target backs up, where the layers treat them apart.
type Role int

const (
	// RoleFiles: files and directories; restored with --to DIR.
	RoleFiles Role = iota
	// RoleDatabase: a database; restored with --database DSN, drilled into a
	// scratch database.
	RoleDatabase
	// RoleOffsite: a copy of other backups in another place; the runbook
	// brings it back before anything is restored from those.
	RoleOffsite
	// RoleCommand: whatever the operator's own commands back up (the
	// command driver). Its restore_command decides where the data goes,
	// so restore takes neither --to nor --database, and always needs
	// --yes: it may overwrite anything.
	RoleCommand
)

// Program is a program a driver runs, with the Debian package holding it.
type Program struct {
	Name    string
	Package string
}

// Facts are what holds for every target of a driver.
type Facts struct {
	Role Role
	// Programs are the programs the driver runs, the tool itself first.
	Programs []Program
	// PasswordKey is the plan key of the file holding the password of the
	// target's repository or database, for advice; "" for none.
	PasswordKey string
	// DropEnv are the variables the tool must not inherit from
	// alexandria-backup's own environment: the plan names the repository
	// and how the password is read, and an inherited variable would
	// override it (borg reads BORG_PASSPHRASE before the plan's
	// descriptor), conflict with it (restic refuses RESTIC_PASSWORD_FILE
	// with RESTIC_PASSWORD_COMMAND, and RESTIC_REPOSITORY_FILE with
	// RESTIC_REPOSITORY) or send the backup to another repository. The
	// plan's own setting is explicit: the inherited one is dropped, and
	// run says so (InheritedEnv), rather than failing the target.
	DropEnv []string
	// TransientCodes are the tool's exit codes that mean "try again
	// later" (see Transient).
	TransientCodes []int
}

// SecretKind says how a secret file is read, hence checked.
type SecretKind int

const (
	// PasswordFile holds only a password, read whole and refused when
	// empty, by the run and by doctor.
	PasswordFile SecretKind = iota
	// LocationFile holds a location with credentials, read whole by the
	// tool: doctor refuses it empty, the run checks its mode only.
	LocationFile
	// ConfigFile is a config file the tool reads: its mode is checked.
	ConfigFile
	// SSHKey is an ssh identity: ssh checks it when the run uses it;
	// doctor checks it before.
	SSHKey
)

// SecretFile is a file holding a secret that a target's run reads, or
// hands to its tool, named by the plan key that sets it.
type SecretFile struct {
	Key  string
	Path string
	Kind SecretKind
}

// Path is a file or directory a target reads or writes, as the plan names
// it (remote or relative ones included; the reader decides).
type Path struct {
	Path string
	// Write: the target writes there (dumps, a repository, a mirror);
	// otherwise it only reads it (what is backed up).
	Write bool
	// Dumps: dump files are kept there, and partial ones swept.
	Dumps bool
	// Why says which target uses it and how.
	Why string
	// Key is the plan key naming it ("paths", "source"), for messages.
	Key string
	// Source: the target backs it up. doctor wants it present and
	// readable, and warns when it is an empty directory (an unmounted
	// disk looks like this) unless EmptyOK (allow_empty_source).
	Source  bool
	EmptyOK bool
}

// Resources are what one target uses.
type Resources struct {
	// Repository is the target's own restic or borg repository, or "".
	Repository string
	// Database is the database the target connects to, or "".
	Database string
	// SSH: the target reaches its destination over ssh.
	SSH bool
	// SetsOwners: the tool gives what it writes on this machine the
	// owners it had (rsync --archive into a local mirror) when it runs as
	// root, which then needs CAP_CHOWN (a hardened pod drops it).
	SetsOwners bool
	Secrets    []SecretFile
	Paths      []Path
	// ToolPrefix is the argv the target's tools run behind (pg_dump's
	// exec_prefix: inside a container), or nil. Tools are checked once
	// per driver and prefix (ToolsKey): where they run.
	ToolPrefix []string
}

// ToolsKey tells apart the targets whose tools are checked apart: those of
// different drivers, or run behind different ToolPrefixes.
func ToolsKey(t *Target) string {
	return strings.Join(append([]string{t.Driver}, t.Resources().ToolPrefix...), "\x00")
}

// Facts are the facts of the target's driver (none for an unknown one).
func (t *Target) Facts() Facts {
	if t.Impl != nil {
		return t.Impl.Facts()
	}
	return Facts{}
}

// Resources are what the target itself uses (none for an unknown driver);
// a streamed dump's repository is its `into` target's.
func (t *Target) Resources() Resources {
	if t.Impl != nil {
		return t.Impl.Resources(t)
	}
	return Resources{}
}

// WithSecret appends the secret file the plan key names, when it is set.
func WithSecret(out []SecretFile, t *Target, key string, kind SecretKind) []SecretFile {
	if p := t.Settings.Str(key); p != "" {
		out = append(out, SecretFile{Key: key, Path: p, Kind: kind})
	}
	return out
}

// ReadPaths are what a restic or borg target reads: its paths and its
// exclude files.
func ReadPaths(t *Target) []Path {
	var out []Path
	for _, p := range t.Settings.List("paths") {
		out = append(out, SourcePath(t, "paths", p, "backed up by "+t.Name))
	}
	for _, p := range t.Settings.List("exclude_file") {
		out = append(out, Path{Path: p, Key: "exclude_file", Why: "exclude_file of " + t.Name})
	}
	return out
}

// SourcePath is a path the target backs up, named by the plan key.
func SourcePath(t *Target, key, path, why string) Path {
	return Path{Path: path, Key: key, Why: why, Source: true, EmptyOK: t.Settings.Bool("allow_empty_source", false)}
}
