package borg

import (
	"encoding/json"
	"strings"
)

// PatternsFile is the patterns file Backup would write for files stored
// at paths (as borg create's JSON names them).
func PatternsFile(paths []string) string {
	var b strings.Builder
	for _, p := range paths {
		b.WriteString(borgIncludePattern(p) + "\n")
	}
	return b.String() + writtenExclude + "\n"
}

// ListedPaths are the paths `borg extract --list --log-json` named.
func ListedPaths(stderr []byte) []string {
	var out []string
	for _, l := range strings.Split(string(stderr), "\n") {
		var m struct{ Type, Name, Message string }
		if json.Unmarshal([]byte(l), &m) == nil && m.Name == "borg.output.list" {
			out = append(out, m.Message)
		}
	}
	return out
}
