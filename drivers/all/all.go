// Package all is the registry: the one list of every driver. Adding a
// driver is one line here and its own package under drivers/.
package all

import (
	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/drivers/borg"
	"github.com/alexandria-backup/alexandria-backup/drivers/command"
	"github.com/alexandria-backup/alexandria-backup/drivers/pgdump"
	"github.com/alexandria-backup/alexandria-backup/drivers/rclone"
	"github.com/alexandria-backup/alexandria-backup/drivers/restic"
	"github.com/alexandria-backup/alexandria-backup/drivers/rsync"
)

// Drivers lists every driver, in the order docs list them.
func Drivers() []drivers.Driver {
	return []drivers.Driver{
		pgdump.Driver{},
		restic.Driver{},
		borg.Driver{},
		rsync.Driver{},
		rclone.Driver{},
		command.Driver{},
	}
}

// Lookup finds a driver by name.
func Lookup(name string) (drivers.Driver, bool) {
	for _, d := range Drivers() {
		if d.Name() == name {
			return d, true
		}
	}
	return nil, false
}

// Names lists the known driver names.
func Names() []string {
	var out []string
	for _, d := range Drivers() {
		out = append(out, d.Name())
	}
	return out
}
