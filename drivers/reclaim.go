package drivers

import (
	"time"
)

// Retention in a repository is two steps: forgetting snapshots (restic
// forget, borg prune: cheap, and what retention promises) and reclaiming
// the space they held (restic's --prune, borg compact), which reads the
// repository's index and rewrites partly used packs or segments: on a
// large repository the costly part, and one that can wait. A repository
// target's prune_every spaces the reclaims out; the runner's state says
// when each repository's space was last reclaimed.

// PruneEveryOption is the repository drivers' prune_every key.
func PruneEveryOption(how string) Option {
	return Option{Name: "prune_every", Kind: Duration,
		Help: "Reclaim the space of forgotten backups (" + how + ") at most this often, e.g. \"168h\" for weekly (unset: whenever retention removed something): " +
			"retention still forgets on every run, and the space follows at the first run after this long. " +
			"On a large repository the reclaim is the costly part of retention."}
}

// ReclaimLog says when a repository's space was last reclaimed, by the
// name of the restic or borg target whose repository it is (a pg_dump
// target streaming into it shares its owner's).
type ReclaimLog interface {
	LastReclaim(owner string) time.Time
}

// ReclaimDue reports whether the repository of owner (a restic or borg
// target) may reclaim space now: always without prune_every or without a
// log, otherwise once prune_every has passed since the last reclaim.
func ReclaimDue(t *Target, owner *Target) bool {
	every, _ := owner.Settings["prune_every"].(time.Duration)
	if every <= 0 || t.Reclaims == nil {
		return true
	}
	last := t.Reclaims.LastReclaim(owner.Name)
	return last.IsZero() || Now().Sub(last) >= every
}
