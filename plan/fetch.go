package plan

import (
	"strings"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/drivers/all"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
)

// PlanStoreNames lists the drivers whose repositories keep the plan.
func PlanStoreNames() []string {
	var out []string
	for _, d := range all.Drivers() {
		if _, ok := d.(drivers.PlanStore); ok {
			out = append(out, d.Name())
		}
	}
	return out
}

// RepositoryDriver finds which driver's repository location is: the one
// named by driverName (--repository-driver) when set, else the one
// driver that recognises it (a local directory's layout, a URL scheme);
// none or several is a UsageError asking for --repository-driver.
func RepositoryDriver(location, driverName string) (drivers.PlanStore, string, error) {
	names := strings.Join(PlanStoreNames(), " or ")
	if driverName != "" {
		d, ok := all.Lookup(driverName)
		ps, isStore := d.(drivers.PlanStore)
		if !ok || !isStore {
			return nil, "", usageErr("--repository-driver %q: the plan is stored only in %s repositories", driverName, names)
		}
		return ps, driverName, nil
	}
	var found []string
	var store drivers.PlanStore
	for _, d := range all.Drivers() {
		if ps, ok := d.(drivers.PlanStore); ok && ps.Recognizes(location) {
			found, store = append(found, d.Name()), ps
		}
	}
	switch len(found) {
	case 1:
		return store, found[0], nil
	case 0:
		return nil, "", usageErr("--from-repository %s: not recognised as a %s repository (a local one must exist; a remote one is named by its URL scheme); say which with --repository-driver %s",
			proc.MaskURLPasswords(location), names, strings.Join(PlanStoreNames(), "|"))
	}
	return nil, "", usageErr("--from-repository %s could be a repository of %s: say which with --repository-driver", proc.MaskURLPasswords(location), strings.Join(found, " or "))
}
