// Command alexandria-backup backs up an Alexandria library (a PostgreSQL
// database and a tree of book files) by running pg_dump, restic and friends
// from one TOML plan, verifying what they wrote and applying retention.
//
// The command line lives in internal/cli; this file only wires it up.
package main

import (
	"os"

	"github.com/alexandria-backup/alexandria-backup/internal/cli"
)

// version is set at build time with -ldflags "-X main.version=..." (make
// build: git describe). Empty: the version Go recorded in the build.
var version = ""

func main() {
	cli.Version = cli.BuildVersion(version)
	os.Exit(cli.Main(os.Args, os.Stdout, os.Stderr))
}
