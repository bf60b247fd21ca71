package main

import (
	"fmt"
	"path/filepath"
	"strings"
)

// A target is measured three times per pair: "run" is `alexandria-backup
// run bench --target NAME` on the plan, "bare" is bash running the tool
// commands that do the same work as that run does by default (its backup,
// its verify, its retention: the commands its --dry-run prints, with the
// same flags), and "backup" is bash running bare's backup command alone
// (issue 11's everyday targets are ratios to it), each on a set of
// repositories and destinations of its own that saw exactly the same
// history. What the run does besides (its preflights, guards, lock reads,
// version probes, manifests, state and report) is not in bare: it is what
// run/bare measures; run/backup adds the verification and the retention.
//
// The bare scripts read their paths from variables (set in bash's
// environment), so the script printed under the tables is the one that
// ran. Keep them in step with the drivers: compare with
// `alexandria-backup run PLAN --target NAME --dry-run` (bench -dry-run
// prints both) and drivers/*/testdata/golden/*.golden.
type target struct {
	name string
	// files: it backs up the library (the scaling run measures these).
	files bool
	// toml is its table in the plan.
	toml string
	// env is bare's environment besides the common one; script is bash.
	env    []string
	script string
	// backupEnv and backup are the backup side's: bare's backup command
	// alone, with bare's flags. backupAfter runs after it, not measured,
	// so that its repository sees the same history as bare's (the same
	// retention: the next backup finds as many snapshots, archives and
	// packs); empty when there is nothing to keep in step.
	backupEnv           []string
	backup, backupAfter string
	// extra is what the run does that bare does not, as its --dry-run
	// says.
	extra string
}

// layout is where everything lives under the work directory.
type layout struct {
	work, library, home, secrets, run, bare, backup, logs string
	resticPass, borgPass, rcloneConf                      string
	plan, fixedPlan, bin                                  string
	dbURL, host                                           string
}

func newLayout(work string) layout {
	j := func(elem ...string) string { return filepath.Join(append([]string{work}, elem...)...) }
	return layout{
		work: work, library: j("library"), home: j("home"), secrets: j("secrets"),
		run: j("run"), bare: j("bare"), backup: j("backup"), logs: j("logs"),
		resticPass: j("secrets", "restic.pass"), borgPass: j("secrets", "borg.pass"),
		rcloneConf: j("secrets", "rclone.conf"),
		plan:       j("alexandria-backup.toml"), fixedPlan: j("fixed.toml"), bin: j("alexandria-backup"),
	}
}

// verifyCycle is the plan's verify_cycle (the product's default, set in the
// plan so that a new default does not part the sides): restic, rsync and
// rclone verify what their backup wrote plus 1/verifyCycle of the rest, a
// different slice each run; the bare scripts do the same, round-robin.
const verifyCycle = 30

var cycleEnv = fmt.Sprintf("CYCLE=%d", verifyCycle)

// retention of the plan, the same on both sides: the README's everyday
// plan (all runs of a benchmark fall on one day, so each run forgets the
// previous run's snapshot).
const (
	resticKeep = "--keep-daily=7 --keep-weekly=4 --keep-monthly=12"
	borgKeep   = "--keep-daily=7 --keep-weekly=4"
	dumpKeep   = 7
)

// targets returns the benchmark's targets, one per driver and pg_dump's
// two ways (into restic, to files).
func targets(l layout) []target {
	q := tomlString
	restic := filepath.Join(l.run, "restic")
	return []target{{
		name:  "restic",
		files: true,
		toml: `driver        = "restic"
repository    = ` + q(restic) + `
password_file = ` + q(l.resticPass) + `
paths         = [` + q(l.library) + `]
keep_daily    = 7
keep_weekly   = 4
keep_monthly  = 12
verify_cycle  = ` + fmt.Sprint(verifyCycle) + `
`,
		env: []string{"RESTIC_REPOSITORY=" + filepath.Join(l.bare, "restic"), "RESTIC_PASSWORD_FILE=" + l.resticPass,
			"SLICE=" + filepath.Join(l.bare, "restic.slice"), cycleEnv},
		script: `t=$(mktemp -d); trap 'rm -rf "$t"' EXIT
packs() { find "$RESTIC_REPOSITORY/data" -type f -regextype egrep -regex '.*/[0-9a-f]{64}' -printf '%P\n' | sort; }
packs > "$t/before"
restic backup --json --quiet --host="$HOST" --tag=alexandria:restic -- "$LIB"
packs > "$t/after"
comm -13 "$t/before" "$t/after" > "$t/new"
if [ -s "$t/new" ] && [ $(( 2 * $(wc -l < "$t/new") )) -ge "$(wc -l < "$t/after")" ]; then
  restic check --read-data   # the backup added half the packs or more: read them all at once
else
  # each pack the backup added hashes to its name; then the next 1/CYCLE of the packs
  (cd "$RESTIC_REPOSITORY/data" && xargs -r sha256sum < "$t/new") |
    awk '{ n = $2; sub(/.*\//, "", n); if ($1 != n) { print "damaged: " $2; bad = 1 } } END { exit bad }'
  k=$(( $(cat "$SLICE" 2>/dev/null || echo 0) % CYCLE + 1 )); echo "$k" > "$SLICE"
  restic check --read-data-subset="$k/$CYCLE"
fi
restic forget --json --host="$HOST" --tag=alexandria:restic --group-by=host ` + resticKeep + ` --prune
`,
		backupEnv: []string{"RESTIC_REPOSITORY=" + filepath.Join(l.backup, "restic"), "RESTIC_PASSWORD_FILE=" + l.resticPass},
		backup: `restic backup --json --quiet --host="$HOST" --tag=alexandria:restic -- "$LIB"
`,
		backupAfter: `restic forget --json --host="$HOST" --tag=alexandria:restic --group-by=host ` + resticKeep + ` --prune
`,
		extra: "reads the repository's locks/ directory first (the stale-lock policy); checks that the paths exist and, from the backup's summary, that they held a file",
	}, {
		name:  "borg",
		files: true,
		toml: `driver          = "borg"
repository      = ` + q(filepath.Join(l.run, "borg")) + `
passphrase_file = ` + q(l.borgPass) + `
encryption      = "repokey-blake2"
paths           = [` + q(l.library) + `]
keep_daily      = 7
keep_weekly     = 4
verify_cycle    = ` + fmt.Sprint(verifyCycle) + `
`,
		env: []string{"BORG_REPO=" + filepath.Join(l.bare, "borg"), "PASSFILE=" + l.borgPass,
			"RATE=" + filepath.Join(l.bare, "borg.rate"), cycleEnv},
		script: `name="borg@$(date +%Y-%m-%dT%H:%M:%S)"
t=$(mktemp -d); trap 'rm -rf "$t"' EXIT
BORG_PASSPHRASE_FD=3 borg create --json --list --filter=AMC --log-json --lock-wait=600 -- "::$name" "$LIB" 3<"$PASSFILE" >"$t/create" 2>"$t/list"
# the files create stored, as exact paths (the driver's regular expressions for odd names aside)
python3 -c 'import json, sys
for l in sys.stdin:
    m = json.loads(l) if l.startswith("{") else {}
    if m.get("type") == "file_status" and m["status"] in "AMC": print("+ pf:" + m["path"].lstrip("/"))' <"$t/list" >"$t/patterns"
if [ -s "$t/patterns" ]; then
  echo "- re:^" >>"$t/patterns"
  BORG_PASSPHRASE_FD=3 borg extract --dry-run --lock-wait=600 --patterns-from="$t/patterns" -- "::$name" 3<"$PASSFILE"
fi
BORG_PASSPHRASE_FD=3 borg check --archives-only --lock-wait=600 -- "::$name" 3<"$PASSFILE"
# the next segments for about 1/CYCLE of the repository's size at the rate the last check read
size=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["cache"]["stats"]["unique_csize"])' <"$t/create")
rate=$(cat "$RATE" 2>/dev/null || echo $((200 << 20)))
BORG_PASSPHRASE_FD=3 borg check --repository-only --max-duration=$(( (size / CYCLE + rate - 1) / rate > 1 ? (size / CYCLE + rate - 1) / rate : 1 )) \
  --debug --log-json --progress --lock-wait=600 3<"$PASSFILE" 2>"$t/check"
python3 -c 'import json, sys
n = total = 0; began = ended = None
for l in sys.stdin:
    m = json.loads(l) if l.startswith("{") else {}
    msg = m.get("message", "")
    total = m.get("total", total) if m.get("msgid") == "repository.check" else total
    n += msg.startswith("checking segment file")
    began = m["time"] if msg.startswith("skipping to segments") else began
    ended = m["time"] if msg.startswith("finished") and "segment" in msg else ended
if n and total and began and ended: print(int(int(sys.argv[1]) * n / total / max(ended - began, 0.01)))' "$size" <"$t/check" >"$t/rate"
[ -s "$t/rate" ] && cp "$t/rate" "$RATE"
BORG_PASSPHRASE_FD=3 borg prune --list --lock-wait=600 '--glob-archives=borg@*' ` + borgKeep + ` 3<"$PASSFILE" 2>"$t/prune"
# compact only when the prune removed an archive
if grep -q '^Pruning archive' "$t/prune"; then BORG_PASSPHRASE_FD=3 borg compact --lock-wait=600 3<"$PASSFILE"; fi
`,
		backupEnv: []string{"BORG_REPO=" + filepath.Join(l.backup, "borg"), "PASSFILE=" + l.borgPass},
		backup: `name="borg@$(date +%Y-%m-%dT%H:%M:%S)"
BORG_PASSPHRASE_FD=3 borg create --json --lock-wait=600 -- "::$name" "$LIB" 3<"$PASSFILE"
`,
		backupAfter: `BORG_PASSPHRASE_FD=3 borg prune --list --lock-wait=600 '--glob-archives=borg@*' ` + borgKeep + ` 3<"$PASSFILE"
BORG_PASSPHRASE_FD=3 borg compact --lock-wait=600 3<"$PASSFILE"
`,
		extra: "checks that the paths exist and, from create's JSON, that the archive holds a file; hands borg the passphrase file as descriptor 3",
	}, {
		name:  "rsync",
		files: true,
		toml: `driver      = "rsync"
source      = ` + q(l.library+"/") + `
destination = ` + q(filepath.Join(l.run, "mirror")+"/") + `
delete      = true
verify_cycle = ` + fmt.Sprint(verifyCycle) + `
`,
		env: []string{"DEST=" + filepath.Join(l.bare, "mirror") + "/", "SLICE=" + filepath.Join(l.bare, "rsync.slice"), cycleEnv},
		script: `t=$(mktemp -d); trap 'rm -rf "$t"' EXIT
# the backup names every file (--info=name2): those it sent, with their checksums, and the unchanged ones
rsync --archive --hard-links --numeric-ids --delete --delete-delay --stats '--out-format=%i %C|%n' --info=name2 -- "$LIB/" "$DEST" > "$t/sent"
awk '/^\.f/ { sub(/^[^|]*\|/, ""); print }' "$t/sent" > "$t/all"
# the mirror's copy of each file sent has the checksum rsync sent it with
awk '/^>f/ { sub(/^[^ ]+ /, ""); print }' "$t/sent" | sort > "$t/sums"
cut -d'|' -f2- "$t/sums" > "$t/names"
mkdir "$t/empty"
rsync --dry-run --checksum --files-from="$t/names" '--out-format=%i %C|%n' -- "$DEST" "$t/empty/" |
  awk '/^>f/ { sub(/^[^ ]+ /, ""); print }' | sort > "$t/got"
cmp -s "$t/sums" "$t/got" || { echo "a file sent differs on the mirror"; exit 1; }
# the next 1/CYCLE of the files by checksum against the source
k=$(( $(cat "$SLICE" 2>/dev/null || echo 0) % CYCLE )); echo $(( k + 1 )) > "$SLICE"
awk -v k="$k" -v n="$CYCLE" 'NR % n == k' "$t/all" > "$t/slice"
diff=$(rsync --archive --hard-links --numeric-ids --dry-run --checksum --no-implied-dirs --ignore-missing-args --files-from="$t/slice" '--out-format=%i %n' -- "$LIB/" "$DEST")
if [ -n "$diff" ]; then echo "$diff" | head; exit 1; fi
`,
		backupEnv: []string{"DEST=" + filepath.Join(l.backup, "mirror") + "/"},
		backup: `rsync --archive --hard-links --numeric-ids --delete --delete-delay --stats '--out-format=%i %C|%n' -- "$LIB/" "$DEST"
`,
		extra: "the mirror guard first: an lstat in the library of each file the last run's record of the mirror lists (rsync's `--dry-run --delete --stats`, one more walk of both trees, only when there is no record or most of its files are gone)",
	}, {
		name:  "rclone",
		files: true,
		toml: `driver      = "rclone"
source      = ` + q(l.library) + `
destination = ` + q(filepath.Join(l.run, "rclone")) + `
mode        = "sync"
config      = ` + q(l.rcloneConf) + `
verify_cycle = ` + fmt.Sprint(verifyCycle) + `
`,
		env: []string{"DEST=" + filepath.Join(l.bare, "rclone"), "CONF=" + l.rcloneConf, "SLICE=" + filepath.Join(l.bare, "rclone.slice"), cycleEnv},
		script: `t=$(mktemp -d); trap 'rm -rf "$t"' EXIT
# the sync names every file (-vv): those it copied, and the unchanged ones
rclone sync --config="$CONF" --ask-password=false --log-format= -vv -- "$LIB" "$DEST" 2> "$t/log"
sed -n 's/^INFO  : \(.*\): \(Multi-thread \)\{0,1\}Copied (.*$/\1/p' "$t/log" > "$t/scope"
sed -n 's/^DEBUG : \(.*\): Unchanged skipping$/\1/p' "$t/log" > "$t/all"
# by hash: the files copied and the next 1/CYCLE of the others, each looked up (both sides local)
k=$(( $(cat "$SLICE" 2>/dev/null || echo 0) % CYCLE )); echo $(( k + 1 )) > "$SLICE"
awk -v k="$k" -v n="$CYCLE" 'NR % n == k' "$t/all" >> "$t/scope"
rclone check --config="$CONF" --ask-password=false --log-format= --combined="$t/hashed" --files-from-raw="$t/scope" --no-traverse -- "$LIB" "$DEST"
`,
		backupEnv: []string{"DEST=" + filepath.Join(l.backup, "rclone"), "CONF=" + l.rcloneConf},
		backup: `rclone sync --config="$CONF" --ask-password=false --log-format= -v --use-json-log -- "$LIB" "$DEST"
`,
		extra: "the mirror guard first: an lstat in the library of each file the last run's record of the mirror lists (`rclone check --size-only --combined=-`, one more walk of both sides, only when there is no record or most of its files are gone); it reads the sync's log as it runs into that record (state_dir/keep), which the verify reads for the others",
	}, {
		name: "db-into-restic",
		toml: `driver    = "pg_dump"
database  = ` + q(l.dbURL) + `
into      = "restic"
keep_last = ` + fmt.Sprint(dumpKeep) + `
`,
		env: []string{"RESTIC_REPOSITORY=" + filepath.Join(l.bare, "restic"), "RESTIC_PASSWORD_FILE=" + l.resticPass},
		script: `pg_dump --format=custom --compress=0 --no-password --dbname="$DB" |
  restic backup --json --quiet --stdin --stdin-filename=db-into-restic.dump --host="$HOST" --tag=alexandria:db-into-restic
restic dump --host="$HOST" --tag=alexandria:db-into-restic -- latest /db-into-restic.dump |
  pg_restore --format=custom --file=/dev/null
restic forget --json --host="$HOST" --tag=alexandria:db-into-restic --group-by=host,paths --keep-last=` + fmt.Sprint(dumpKeep) + ` --prune
`,
		// Issue 11's pg_dump target: the dump into restic and read back
		// whole, as bare does it (into pg_restore, as the run's verify
		// reads it), without the retention.
		backupEnv: []string{"RESTIC_REPOSITORY=" + filepath.Join(l.backup, "restic"), "RESTIC_PASSWORD_FILE=" + l.resticPass},
		backup: `pg_dump --format=custom --compress=0 --no-password --dbname="$DB" |
  restic backup --json --quiet --stdin --stdin-filename=db-into-restic.dump --host="$HOST" --tag=alexandria:db-into-restic
restic dump --host="$HOST" --tag=alexandria:db-into-restic -- latest /db-into-restic.dump |
  pg_restore --format=custom --file=/dev/null
`,
		backupAfter: `restic forget --json --host="$HOST" --tag=alexandria:db-into-restic --group-by=host,paths --keep-last=` + fmt.Sprint(dumpKeep) + ` --prune
`,
		extra: "`pg_dump --version`; reads the restic repository's locks/ directory; connects with pgx, exports a snapshot and counts every table's rows in it; passes the dump through itself for its SHA-256 (one more pipe), and the read-back too; stores the manifest with a second `restic backup` while it reads the dump back",
	}, {
		name: "db-dir",
		toml: `driver    = "pg_dump"
database  = ` + q(l.dbURL) + `
dir       = ` + q(filepath.Join(l.run, "dumps")) + `
keep_last = ` + fmt.Sprint(dumpKeep) + `
`,
		env: []string{"DUMPS=" + filepath.Join(l.bare, "dumps")},
		script: `f="$DUMPS/db-dir-$(date -u +%Y%m%dT%H%M%S%NZ).dump"
pg_dump --format=custom --no-password --file="$f.partial" --dbname="$DB"
pg_restore --format=custom --file=/dev/null "$f.partial"
mv -- "$f.partial" "$f"
ls -1 "$DUMPS"/db-dir-*.dump | sort -r | tail -n +` + fmt.Sprint(dumpKeep+1) + ` | xargs -r rm --
`,
		// One file, replaced each time: nothing to keep in step.
		backupEnv: []string{"DUMPS=" + filepath.Join(l.backup, "dumps")},
		backup: `pg_dump --format=custom --no-password --file="$DUMPS/db-dir.dump" --dbname="$DB"
`,
		extra: "`pg_dump --version`; connects with pgx, exports a snapshot and counts every table's rows in it; reads the dump file once through itself, for its SHA-256, into pg_restore (one more pipe); writes the manifest",
	}}
}

// planTOML is the plan of the run side: every target, in plan "bench".
func planTOML(l layout, ts []target) string {
	var b strings.Builder
	b.WriteString("# written by tools/bench (make bench)\nstate_dir = " + tomlString(filepath.Join(l.run, "state")) + "\n")
	var names []string
	for _, t := range ts {
		fmt.Fprintf(&b, "\n[targets.%s]\n%s", t.name, t.toml)
		names = append(names, tomlString(t.name))
	}
	fmt.Fprintf(&b, "\n[plans.bench]\ntargets = [%s]\n", strings.Join(names, ", "))
	return b.String()
}

// fixedPlanTOML is the plan of the fixed-cost measurement: its only target
// a command target whose command prints "x" (one that writes nothing fails
// the run: "wrote nothing"), kept as one file. Its run does what any run
// does (reads the plan, takes the run lock, writes the state and the
// report) around one exec, a 2-byte file, its read-back and a retention
// that finds nothing to remove: next to fixedBare, what a run costs
// whatever it backs up.
func fixedPlanTOML(l layout) string {
	return "# written by tools/bench (make bench): the fixed cost of a run\nstate_dir = " + tomlString(filepath.Join(l.run, "fixed-state")) + `

[targets.fixed]
driver    = "command"
command   = ["echo", "x"]
dir       = ` + tomlString(filepath.Join(l.run, "fixed")) + `
keep_last = 1

[plans.fixed]
targets = ["fixed"]
`
}

// fixedBare is the other side of the fixed cost: bash running the same
// command into a file (no rename, no read-back: the run's few file
// operations count as its fixed cost). $ECHO is echo's path, so that bash
// execs it as the run does instead of running its builtin.
const fixedBare = `"$ECHO" x > "$FIXED/fixed.backup"
`

// bareInit gives the bare and backup sides the repositories
// `alexandria-backup init` just created, copied while still empty: the same restic key (restic
// calibrates its key's scrypt cost to the machine's speed at init, so two
// inits a minute apart on a busy machine can differ by half in what every
// restic command pays to open the repository), the same chunker
// parameters, the same borg key. Each side has its own HOME, so the
// copies' equal ids never share a cache.
const bareInit = `set -euo pipefail
for side in "$BARE" "$BACKUP"; do
  cp -a -- "$RUN/restic" "$side/restic"
  cp -a -- "$RUN/borg" "$side/borg"
  mkdir -p -- "$side/mirror" "$side/rclone" "$side/dumps"
done
`

// tomlString quotes s as a TOML basic string.
func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
