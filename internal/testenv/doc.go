// Package testenv holds, in its sub-packages, the real environments the
// tests run against:
//
//   - pgserver: a throw-away PostgreSQL server
//   - sshtest: a throw-away OpenSSH server on 127.0.0.1
//   - rclonetest: `rclone serve sftp` and `rclone serve restic` on loopback
//   - restictest: the stale lock a killed restic leaves in a repository
//   - sandbox: a generated Alexandria schema, data and library tree
//   - benchdata: the benchmark's library of small files and database of a
//     given size, and the changes between two everyday runs
//
// They import "testing" and start processes, so production code never
// imports them: only _test.go files, the demo (tools/demo) and the
// benchmark (tools/bench) do, and TestNoTestCodeOutsideTestenv
// (internal/archtest) enforces it.
package testenv
