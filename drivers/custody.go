package drivers

// Custody is where a target keeps its backups and whether they are
// encrypted there: what the guide's checklist (`audit`) asks of "an
// offsite copy" and "encryption for every copy that leaves the host".
// Each driver answers for its own targets (Custodian), as with Facts:
// audit never names a driver.
type Custody struct {
	// Offsite: the backups are on another machine or service (a remote
	// repository, an rclone remote, an rsync host:path).
	Offsite Answer
	// Place names where they are, for the evidence ("sftp:host:/srv/repo").
	Place string
	// Encrypted: what is kept there is encrypted at rest.
	Encrypted Answer
	// Why says what Encrypted was judged from ("restic encrypts every
	// repository", "encryption = \"none\"").
	Why string
	// Fix is what makes the copy encrypted, when it is not.
	Fix string
}

// Answer is a yes, a no, or "cannot tell from here".
type Answer int

const (
	Unknown Answer = iota
	Yes
	No
)

// Custodian is implemented by drivers that can say where a target's
// backups are kept and how. It runs nothing; it may read a tool's own
// configuration (rclone.conf, for a remote's type). A driver without it is
// taken as keeping its backups here, unencrypted or not as cannot be told.
type Custodian interface {
	Custody(t *Target) Custody
}

// CustodyOf is what the target's driver says of its backups; a streamed
// dump's are its `into` target's.
func CustodyOf(t *Target) Custody {
	if t.Into != nil {
		return CustodyOf(t.Into)
	}
	if c, ok := t.Impl.(Custodian); ok {
		return c.Custody(t)
	}
	return Custody{Offsite: No, Encrypted: Unknown, Why: "the " + t.Driver + " driver does not say"}
}
