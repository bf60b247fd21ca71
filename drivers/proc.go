package drivers

import "github.com/alexandria-backup/alexandria-backup/internal/proc"

// Transitional (issue 10): running a process moved to internal/proc. These
// aliases keep the names the drivers are written in, so the move did not
// rewrite every driver file at once; they go when each tool moves into its
// own package, which imports proc directly. New code uses proc.
type (
	Command         = proc.Command
	EnvVar          = proc.EnvVar
	ExitCodes       = proc.ExitCodes
	Class           = proc.Class
	Result          = proc.Result
	Executor        = proc.Executor
	ProcessExecutor = proc.ProcessExecutor
	ToolError       = proc.ToolError
	Progress        = proc.Progress
	ProgressReader  = proc.ProgressReader
)

// Transitional (issue 10): see above.
const (
	ClassOK      = proc.ClassOK
	ClassWarning = proc.ClassWarning
	ClassError   = proc.ClassError
)

// LastLines is proc.LastLines. Transitional (issue 10): see above.
func LastLines(b []byte, n int) string { return proc.LastLines(b, n) }
