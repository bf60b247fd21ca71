package plan

import (
	"fmt"
	"strings"

	"github.com/alexandria-backup/alexandria-backup/drivers"
)

// Action is what a [plans.NAME] table does when it runs: back up its
// targets, or check what they already hold. A check is a plan of its own
// so that it gets its own schedule (a weekly drill beside daily backups).
type Action string

const (
	// ActionBackup is `run PLAN`: backup, verify, retention (the default).
	ActionBackup Action = "backup"
	// ActionVerify is `verify --plan PLAN`: the latest backup of each
	// target and the next 1/verify_cycle of everything it keeps. The
	// rotation is verify_cycle's own (restic check --read-data-subset=n/t,
	// borg's and the file drivers' slices): a check plan does not add a
	// second one.
	ActionVerify Action = "verify"
	// ActionVerifyFull is `verify --full --plan PLAN`: everything each
	// target keeps (restic check --read-data, borg check of everything).
	ActionVerifyFull Action = "verify-full"
	// ActionDrill is `drill --plan PLAN`: restore the latest backup into
	// scratch space and compare it with what was backed up.
	ActionDrill Action = "drill"
)

// Actions are the values plans.NAME.action takes.
var Actions = []Action{ActionBackup, ActionVerify, ActionVerifyFull, ActionDrill}

// Args is the command line (after the global flags) that does the plan's
// action, with flags (such as --wait) before the plan's name. Backup plans
// run as `run PLAN`; checks select the plan's targets with --plan.
func (g *Group) Args(flags ...string) []string {
	var a []string
	switch g.action() {
	case ActionVerify:
		a = []string{"verify"}
	case ActionVerifyFull:
		a = []string{"verify", "--full"}
	case ActionDrill:
		a = []string{"drill"}
	default:
		return append(append([]string{"run"}, flags...), g.Name)
	}
	return append(append(a, flags...), "--plan", g.Name)
}

// action is the plan's action, backup when the key is absent.
func (g *Group) action() Action {
	if g.Action == "" {
		return ActionBackup
	}
	return g.Action
}

// IsCheck reports whether the plan checks backups instead of making them.
func (g *Group) IsCheck() bool { return g.action() != ActionBackup }

// checkAction reads plans.NAME.action.
func (l *loader) checkAction(kp []string, v any, g *Group) {
	s, _ := v.(string)
	a := Action(s)
	known := false
	for _, x := range Actions {
		known = known || x == a
	}
	if !known {
		names := make([]string, len(Actions))
		for i, x := range Actions {
			names[i] = string(x)
		}
		l.problem(kp, "must be one of %s, not %q%s", strings.Join(names, ", "), fmt.Sprint(v), suggest(fmt.Sprint(v), names))
		return
	}
	g.Action = a
}

// checkDrillable is run once the plan's targets are known: a drill plan
// whose target cannot be drilled would fail on every scheduled run.
func (l *loader) checkDrillable(g *Group, targets map[string]*drivers.Target) {
	if g.Action != ActionDrill {
		return
	}
	for _, name := range g.Targets {
		t := targets[name]
		if t == nil {
			continue // its own problem is reported already
		}
		if _, ok := t.Impl.(drivers.Driller); !ok {
			l.problem([]string{"plans", g.Name, "action"}, "target %q (driver %s) cannot be drilled: take it out of this plan, or use action = \"verify\" for it in a plan of its own", name, t.Driver)
		}
	}
}

// Check is one scheduled integrity check: a plan with a schedule that
// reads back what its targets hold.
type Check struct {
	Plan     string
	Action   Action
	Schedule string
	// Targets are the targets the check reads. For a backup plan, only
	// those with verify = true: each of its runs reads the new backup and
	// the next 1/verify_cycle of the rest, so every verify_cycle runs
	// read everything.
	Targets []string
}

// Checks lists the scheduled integrity checks, by plan name: check plans
// (verify, verify-full, drill) and backup plans whose runs verify. This is
// what the guide's checklist item "integrity checks scheduled" reads;
// whether the schedule is installed on the host is another question.
func (p *Plan) Checks() []Check {
	var out []Check
	for _, name := range sortedKeys(toAny(p.Plans)) {
		g := p.Plans[name]
		if g.Schedule == "" {
			continue
		}
		c := Check{Plan: name, Action: g.action(), Schedule: g.Schedule}
		for _, tn := range g.Targets {
			if t := p.Targets[tn]; t != nil && (g.IsCheck() || t.Verify) {
				c.Targets = append(c.Targets, tn)
			}
		}
		if len(c.Targets) > 0 {
			out = append(out, c)
		}
	}
	return out
}

// Unchecked lists, in the plan's order, the targets no scheduled check
// reads: the fix for each is a check plan, or verify = true on a
// scheduled backup plan's target.
func (p *Plan) Unchecked() []string {
	checked := map[string]bool{}
	for _, c := range p.Checks() {
		for _, t := range c.Targets {
			checked[t] = true
		}
	}
	var out []string
	for _, name := range p.Order {
		if _, ok := p.Targets[name]; ok && !checked[name] {
			out = append(out, name)
		}
	}
	return out
}
