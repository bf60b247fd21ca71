package rsync

// SentLedgerPath is where Backup records the files it sent for the
// verification that follows, which removes the record: tests that verify
// one backup in many scopes put it back before each.
var SentLedgerPath = sentLedgerPath
