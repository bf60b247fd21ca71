// Package testenv holds, in its sub-packages, the real environments the
// tests run against:
//
//   - pgserver: a throw-away PostgreSQL server
//   - sshtest: a throw-away OpenSSH server on 127.0.0.1
//   - rclonetest: `rclone serve sftp` and `rclone serve restic` on loopback
//   - restictest: the stale lock a killed restic leaves in a repository
//   - sandbox: a generated Alexandria schema, data and library tree
//
// They import "testing" and start processes, so production code never
// imports them: only _test.go files and the demo (tools/demo) do, and
// TestNoTestCodeOutsideTestenv in the root package enforces it.
package testenv
