package cli

import (
	"runtime/debug"
	"strings"
)

// BuildVersion is the version --version shows, given the one the build
// stamped (main.version, -ldflags "-X main.version=..."), or "".
func BuildVersion(stamped string) string {
	info, _ := debug.ReadBuildInfo()
	return versionOf(stamped, info)
}

// versionOf is the version --version shows: the one the build stamped, or
// else what Go recorded: the module's version (go install ...@v1.2.0, or
// a pseudo-version naming the commit of a checkout), or the commit itself,
// "-dirty" when the tree had changes. "dev" when nothing is known (no VCS, -buildvcs=false).
// It doubles as the default image tag of `schedule kubernetes`, so it
// uses only what a tag may hold.
func versionOf(stamped string, info *debug.BuildInfo) string {
	if stamped != "" {
		return stamped
	}
	if info == nil {
		return "dev"
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		// Go 1.24 and later stamp a checkout's build too, as a
		// pseudo-version: v0.0.0-20261207150757-678fd86c03dd+dirty. An
		// image tag cannot hold "+".
		return strings.ReplaceAll(v, "+", "-")
	}
	var rev string
	dirty := false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "dev"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	v := "dev-" + rev
	if dirty {
		v += "-dirty"
	}
	return v
}
