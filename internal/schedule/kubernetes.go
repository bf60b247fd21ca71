package schedule

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/internal/cronexpr"
	"github.com/alexandria-backup/alexandria-backup/internal/planpaths"
)

// Names of the Kubernetes objects the manifests use.
const (
	ConfigMapName = "alexandria-backup-plan"
	SecretName    = "alexandria-backup-secrets" // the plan's secret files, one key each
	EnvSecretName = "alexandria-backup-env"     // optional: values for the plan's ${VAR}
	containerName = "alexandria-backup"
	// podHostname is fixed because restic records the host name in every
	// snapshot and retention groups by it: a pod's random name would make
	// every snapshot a new host that nothing ever prunes.
	podHostname = "alexandria-backup"
	// VolumesFile holds the PersistentVolumeClaims. The dot keeps it apart
	// from every CronJob's file, whose names have none.
	VolumesFile = "alexandria-backup.volumes.yaml"
)

// ImageName is the image the CronJobs run, tagged with the version
// (alexandria-backup:VERSION): what `make image` builds from the
// Containerfile.
const ImageName = "alexandria-backup"

// ImageUID is the user and group of the image (Containerfile: USER
// 10001:10001), and the pods' runAsUser and fsGroup where the plan allows
// a user other than root. It has a passwd entry in the image: ssh refuses
// to run as a user without one.
const ImageUID = 10001

// Kubernetes gives a ConfigMap holding the plan file and one CronJob per
// scheduled plan, each a file named after its object. Secret files come from a Secret the operator creates
// (the command is in the comments: secrets never appear in the output),
// mounted file by file at the paths the plan names.
func Kubernetes(s *Set) (*Output, error) {
	src, err := os.ReadFile(s.Plan.Path)
	if err != nil {
		return nil, err
	}
	secrets := secretKeys(jobSecrets(s, allTargets(s)))
	comments := []string{
		"Kubernetes manifests for the scheduled plans of " + s.Opts.Config + ",",
		"written by `alexandria-backup schedule kubernetes`. Review them, then `kubectl apply -f FILE`.",
		"",
		"Before applying:",
		"- The image (" + s.Opts.Image + ") must hold alexandria-backup and the tools the plan uses:",
		"  `make image` builds " + ImageName + ":VERSION from the Containerfile, with every driver's tools.",
	}
	if len(secrets) > 0 {
		comments = append(comments,
			"- The plan's secret files come from the Secret "+SecretName+", one key per file,",
			"  mounted read-only at the paths the plan names. Create it from the files:",
			"    kubectl create secret generic "+SecretName+" \\")
		for i, sec := range secrets {
			line := "      --from-file=" + sec.key + "=" + sec.Path
			if i < len(secrets)-1 {
				line += " \\"
			}
			comments = append(comments, line)
		}
	}
	comments = append(comments,
		"- Values for the plan's ${VAR} references come from the optional Secret",
		"  "+EnvSecretName+" (kubectl create secret generic "+EnvSecretName+" --from-literal=VAR=value).",
		"- Each local path the plan uses is a PersistentVolumeClaim, in "+VolumesFile+":",
		"  size them, and bind those of data that exists already (the library) to its volume",
		"  (spec.volumeName) rather than create empty ones. state_dir is shared by every plan,",
		"  for the run lock, `status` and the tools' caches (HOME is state_dir/home).",
	)
	if len(s.Plan.Secrets) > 0 || s.Plan.Notify.PingURL != "" || anyEnv(s) {
		// The loader lists the keys whose values are secrets written in
		// the file (ping_url, env, the channels' URLs and headers).
		keys := []string{"ping_url", "env"}
		if len(s.Plan.Secrets) > 0 {
			keys = keys[:0]
			for _, k := range s.Plan.Secrets {
				keys = append(keys, k.Key)
			}
		}
		comments = append(comments,
			"- The plan holds values that are often secrets ("+strings.Join(keys, ", ")+"),",
			"  and anyone who may read ConfigMaps can read it: write those values as ${VAR} and put",
			"  them in "+EnvSecretName+".")
	}
	if t := localDatabase(s); t != "" {
		comments = append(comments,
			"- Target "+t+" reaches its database on localhost or a local socket, which in a",
			"  pod is the pod itself: name the database's Service instead.")
	}
	if t := sshTarget(s); t != "" {
		comments = append(comments,
			"- Target "+t+" uses ssh: it needs its key and a known_hosts file in the Secret",
			"  (ssh -o UserKnownHostsFile=...), as no one can answer ssh's questions in a pod.")
	}
	comments = append(comments, fmt.Sprintf("- Times are in %s (timeZone).", orUTC(s.Opts.TimeZone)))
	for _, name := range s.Skipped {
		comments = append(comments, fmt.Sprintf("Plan %q has no schedule key: no CronJob.", name))
	}
	configKey := filepath.Base(s.Opts.Config)
	o := &Output{Sep: "---\n"}
	var b strings.Builder
	if err := writeYAML(&b, yMap{
		{Key: "apiVersion", Value: "v1", Comment: strings.Join(comments, "\n")},
		{Key: "kind", Value: "ConfigMap"},
		{Key: "metadata", Value: yMap{{Key: "name", Value: ConfigMapName}, {Key: "labels", Value: labels("")}}},
		{Key: "data", Value: yMap{{Key: configKey, Value: yBlock(src)}}},
	}); err != nil {
		return nil, err
	}
	o.Files = append(o.Files, File{Path: ConfigMapName + ".yaml", Content: b.String()})
	// Volumes are worked out over every job at once, so that a path is
	// the same claim in every CronJob that uses it.
	vols := dataVolumes(s.Plan.StateDir, allTargets(s))
	var claims strings.Builder
	for i, d := range vols {
		if i > 0 {
			claims.WriteString("---\n")
		}
		if err := writeYAML(&claims, claim(s.Plan.StateDir, d)); err != nil {
			return nil, err
		}
	}
	o.Files = append(o.Files, File{Path: VolumesFile, Content: claims.String()})
	for _, j := range s.Jobs {
		name, cj, err := cronJob(s, j, secrets, configKey, vols)
		if err != nil {
			return nil, err
		}
		var b strings.Builder
		if err := writeYAML(&b, cj); err != nil {
			return nil, err
		}
		o.Files = append(o.Files, File{Path: name + ".yaml", Content: b.String()})
	}
	return o, nil
}

// allTargets lists the targets of every scheduled plan, once each.
// rootStateDir is root's default state_dir (plan.DefaultStateDir).
const rootStateDir = "/var/lib/alexandria-backup"

// jobSecrets are the secret files a job of targets reads: its targets'
// and, as every run ends with notifications, [notify]'s.
func jobSecrets(s *Set, targets []*drivers.Target) []planpaths.Secret {
	list := planpaths.Secrets(targets)
	for _, f := range s.Plan.Notify.Files() {
		list = append(list, planpaths.Secret{Target: "notify", Key: "notify", Path: f})
	}
	return list
}

func allTargets(s *Set) []*drivers.Target {
	seen := map[string]bool{}
	var out []*drivers.Target
	for _, j := range s.Jobs {
		for _, t := range j.Targets {
			if !seen[t.Name] {
				seen[t.Name] = true
				out = append(out, t)
			}
		}
	}
	return out
}

// cronJob is the CronJob of one plan and its name.
func cronJob(s *Set, j Job, secrets []keyedSecret, configKey string, vols []dataVolume) (string, yMap, error) {
	name := "alexandria-backup-" + strings.ToLower(strings.NewReplacer("_", "-", ".", "-").Replace(j.Plan))
	if len(name) > 52 || !dnsLabelRE.MatchString(name) {
		return "", nil, fmt.Errorf("plan %q: %q is not a valid CronJob name (lower-case letters, digits and '-', at most 52 characters)", j.Plan, name)
	}
	mounts := ySeq{yMap{
		{Key: "name", Value: "plan"},
		{Key: "mountPath", Value: s.Opts.Config},
		{Key: "subPath", Value: configKey},
		{Key: "readOnly", Value: true},
	}}
	volumes := ySeq{yMap{
		{Key: "name", Value: "plan"},
		{Key: "configMap", Value: yMap{{Key: "name", Value: ConfigMapName}}},
	}}
	mine := map[string]bool{}
	for _, sec := range jobSecrets(s, j.Targets) {
		mine[sec.Path] = true
	}
	usesSecrets := false
	for _, sec := range secrets {
		if !mine[sec.Path] {
			continue
		}
		usesSecrets = true
		mounts = append(mounts, yMap{
			{Key: "name", Value: "secrets"},
			{Key: "mountPath", Value: sec.Path},
			{Key: "subPath", Value: sec.key},
			{Key: "readOnly", Value: true},
		})
	}
	if usesSecrets {
		volumes = append(volumes, yMap{
			{Key: "name", Value: "secrets"},
			{Key: "secret", Value: yMap{
				{Key: "secretName", Value: SecretName},
				{Key: "defaultMode", Value: 0o400, Comment: "0400: the tool refuses secret files that group or others may read"},
			}},
		})
	}
	for _, d := range jobVolumes(s.Plan.StateDir, j, vols) {
		m := yMap{{Key: "name", Value: d.name}, {Key: "mountPath", Value: d.Path}}
		if !d.Write {
			m = append(m, yKV{Key: "readOnly", Value: true})
		}
		mounts = append(mounts, m)
		claim := yMap{{Key: "claimName", Value: claimName(d)}}
		if !d.Write {
			// A read-only claim is also spared the kubelet's ownership
			// change for fsGroup: the live library keeps its owners and
			// modes, and no group gains write access to it.
			claim = append(claim, yKV{Key: "readOnly", Value: true})
		}
		volumes = append(volumes, yMap{
			{Key: "name", Value: d.name, Comment: d.Path + ": " + d.Why},
			{Key: "persistentVolumeClaim", Value: claim},
		})
	}
	// The image's file system is read-only: the tools' temporary files
	// (restic's pack files before upload, any other tool's) go to an emptyDir.
	mounts = append(mounts, yMap{{Key: "name", Value: "tmp"}, {Key: "mountPath", Value: "/tmp"}})
	volumes = append(volumes, yMap{{Key: "name", Value: "tmp"}, {Key: "emptyDir", Value: yMap{}}})
	if usesSecrets && s.Plan.StateDirDefault && s.Plan.StateDir != rootStateDir {
		// The pod runs as root (secret files are root's): its default
		// state_dir is not the one this user's default would mount.
		return "", nil, fmt.Errorf("plan %s: set state_dir in the plan: its pods run as root (to read the Secret's files), whose default state_dir is %s, not %s (yours)", j.Plan, rootStateDir, s.Plan.StateDir)
	}
	podSecurity, ctrSecurity, why := securityContexts(j, usesSecrets)
	env := ySeq{yMap{{Key: "name", Value: "HOME"}, {Key: "value", Value: home(s.Plan.StateDir)}}}
	if !usesSecrets && filepath.Base(s.Plan.StateDir) == "alexandria-backup" {
		// A user other than root keeps state_dir, when the plan names
		// none, in $XDG_STATE_HOME/alexandria-backup: the same directory.
		env = append(env, yMap{{Key: "name", Value: "XDG_STATE_HOME"}, {Key: "value", Value: filepath.Dir(s.Plan.StateDir)}})
	}
	args := ySeq{}
	for _, a := range s.args(j) {
		args = append(args, a)
	}
	spec := yMap{
		{Key: "schedule", Value: j.Expr.Source},
	}
	if s.Opts.TimeZone != "" {
		spec = append(spec, yKV{Key: "timeZone", Value: s.Opts.TimeZone})
	}
	spec = append(spec,
		yKV{Key: "concurrencyPolicy", Value: "Forbid", Comment: "A run still going when the next is due: the next one is skipped, never run beside it."},
		yKV{Key: "startingDeadlineSeconds", Value: startingDeadline(j.Expr), Comment: "A start missed by more than this (controller down) is skipped; the next one runs."},
		yKV{Key: "successfulJobsHistoryLimit", Value: 3},
		yKV{Key: "failedJobsHistoryLimit", Value: 3, Comment: "Failed jobs are kept, with their pods' logs."},
		yKV{Key: "jobTemplate", Value: yMap{{Key: "spec", Value: yMap{
			{Key: "backoffLimit", Value: 0, Comment: "A failed run is not retried as a whole: the plan's targets have their own retries."},
			{Key: "activeDeadlineSeconds", Value: int(j.Budget / time.Second), Comment: "A backstop for a hang: the targets' timeouts one after the other (6h for a target\nwithout one; 24h each for verify and drill), the lock wait and 10 minutes."},
			{Key: "podFailurePolicy", Value: yMap{{Key: "rules", Value: ySeq{
				yMap{
					{Key: "action", Value: "Ignore", Comment: "Evicted or preempted: start again (it does not count as a failure)."},
					{Key: "onPodConditions", Value: ySeq{yMap{{Key: "type", Value: "DisruptionTarget"}}}},
				},
				yMap{
					{Key: "action", Value: "FailJob", Comment: "Exit 2, an invalid plan or command line, never gets better by trying again."},
					{Key: "onExitCodes", Value: yMap{
						{Key: "containerName", Value: containerName},
						{Key: "operator", Value: "In"},
						{Key: "values", Value: ySeq{2}},
					}},
				},
			}}}},
			{Key: "template", Value: yMap{
				{Key: "metadata", Value: yMap{{Key: "labels", Value: labels(j.Plan)}}},
				{Key: "spec", Value: yMap{
					{Key: "restartPolicy", Value: "Never"},
					{Key: "hostname", Value: podHostname, Comment: "restic records the host name in snapshots and its retention groups by it."},
					{Key: "securityContext", Value: podSecurity, Comment: why},
					{Key: "containers", Value: ySeq{yMap{
						{Key: "name", Value: containerName},
						{Key: "image", Value: s.Opts.Image},
						{Key: "command", Value: ySeq{"alexandria-backup"}},
						{Key: "args", Value: args},
						{Key: "env", Value: env,
							Comment: "restic's and borg's caches and borg's records of each repository (~/.cache,\n~/.config) outlive the pod in state_dir; the image's own file system is read-only."},
						{Key: "envFrom", Value: ySeq{yMap{{Key: "secretRef", Value: yMap{
							{Key: "name", Value: EnvSecretName},
							{Key: "optional", Value: true},
						}}}}},
						{Key: "resources", Value: yMap{
							{Key: "requests", Value: yMap{{Key: "cpu", Value: "100m"}, {Key: "memory", Value: "256Mi"}}},
							{Key: "limits", Value: yMap{{Key: "memory", Value: "4Gi"}}},
						}, Comment: "restic and borg hold the repository's index in memory: raise the limit for a\nlarge repository (OOMKilled in `kubectl describe pod`). No CPU limit: a backup\nmay use what is idle."},
						{Key: "securityContext", Value: ctrSecurity},
						{Key: "volumeMounts", Value: mounts},
					}}},
					{Key: "volumes", Value: volumes},
				}},
			}},
		}}}},
	)
	return name, yMap{
		{Key: "apiVersion", Value: "batch/v1", Comment: fmt.Sprintf("Plan %q: %s", j.Plan, j.describe())},
		{Key: "kind", Value: "CronJob"},
		{Key: "metadata", Value: yMap{{Key: "name", Value: name}, {Key: "labels", Value: labels(j.Plan)}}},
		{Key: "spec", Value: spec},
	}, nil
}

var dnsLabelRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

func labels(plan string) yMap {
	m := yMap{{Key: "app.kubernetes.io/name", Value: "alexandria-backup"}}
	if plan != "" {
		m = append(m, yKV{Key: "alexandria-backup/plan", Value: plan})
	}
	return m
}

// startingDeadline is half the shortest interval between runs, at most an
// hour, in seconds.
func startingDeadline(e *cronexpr.Expr) int {
	d := e.MinGap() / 2
	if d > time.Hour {
		d = time.Hour
	}
	return int(d / time.Second)
}

type keyedSecret struct {
	planpaths.Secret
	key string // the key in the Secret
}

// secretKeys gives each secret file a key of its own, from its base name.
func secretKeys(list []planpaths.Secret) []keyedSecret {
	var out []keyedSecret
	byPath := map[string]bool{}
	used := map[string]bool{}
	for _, s := range list {
		if byPath[s.Path] {
			continue
		}
		byPath[s.Path] = true
		base := strings.Trim(secretKeyRE.ReplaceAllString(filepath.Base(s.Path), "-"), ".")
		if base == "" {
			base = "secret"
		}
		key := base
		for n := 2; used[key]; n++ {
			key = fmt.Sprintf("%s-%d", base, n)
		}
		used[key] = true
		out = append(out, keyedSecret{Secret: s, key: key})
	}
	return out
}

var secretKeyRE = regexp.MustCompile(`[^-._a-zA-Z0-9]+`)

type dataVolume struct {
	planpaths.Local
	name string
}

// dataVolumes are the targets' local paths as volumes: a path inside
// another one shares its volume.
func dataVolumes(stateDir string, targets []*drivers.Target) []dataVolume {
	var out []dataVolume
	used := map[string]bool{"plan": true, "secrets": true, "tmp": true}
	for _, l := range planpaths.Locals(stateDir, targets) {
		// Sorted by path: an enclosing directory comes first.
		if i := enclosing(out, l.Path); i >= 0 {
			out[i].Write = out[i].Write || l.Write
			out[i].Why += "; " + l.Why
			continue
		}
		base := strings.Trim(volumeNameRE.ReplaceAllString(strings.ToLower(l.Path), "-"), "-")
		if base == "" {
			base = "root"
		}
		if len(base) > 40 {
			base = strings.Trim(base[len(base)-40:], "-")
		}
		name := base
		for n := 2; used[name]; n++ {
			name = fmt.Sprintf("%s-%d", base, n)
		}
		used[name] = true
		out = append(out, dataVolume{Local: l, name: name})
	}
	return out
}

// jobVolumes are the volumes of vols that the job's paths are in, written
// to only where the job writes.
func jobVolumes(stateDir string, j Job, vols []dataVolume) []dataVolume {
	used := map[int]*dataVolume{}
	for _, l := range planpaths.Locals(stateDir, j.Targets) {
		i := enclosing(vols, l.Path)
		if i < 0 {
			continue // cannot happen: vols hold every job's paths
		}
		d, ok := used[i]
		if !ok {
			d = &dataVolume{Local: planpaths.Local{Path: vols[i].Path}, name: vols[i].name}
			used[i] = d
		}
		d.Write = d.Write || l.Write
		if d.Why != "" {
			d.Why += "; "
		}
		d.Why += l.Why
	}
	var out []dataVolume
	for i := range vols {
		if d, ok := used[i]; ok {
			out = append(out, *d)
		}
	}
	return out
}

func claimName(d dataVolume) string { return "alexandria-backup-" + d.name }

// home is HOME in the pods.
func home(stateDir string) string { return filepath.Join(stateDir, "home") }

// claim is the PersistentVolumeClaim of a volume. Its size is a guess the
// comment asks to change: nothing here knows how much a repository holds.
func claim(stateDir string, d dataVolume) yMap {
	size, note := "100Gi", "Size it for what it will hold."
	switch {
	case d.Path == stateDir:
		size, note = "1Gi", "Reports, logs, the run lock and the tools' caches (HOME): a few GiB at most."
	case !d.Write:
		note = "Only read: the data exists already. Bind this claim to its volume (spec.volumeName)\nrather than let it create an empty one."
	}
	return yMap{
		{Key: "apiVersion", Value: "v1", Comment: d.Path + ": " + d.Why + "\n" + note},
		{Key: "kind", Value: "PersistentVolumeClaim"},
		{Key: "metadata", Value: yMap{{Key: "name", Value: claimName(d)}, {Key: "labels", Value: labels("")}}},
		{Key: "spec", Value: yMap{
			{Key: "accessModes", Value: ySeq{"ReadWriteOnce"}, Comment: "ReadWriteMany (ReadOnlyMany for data only read) when pods on other nodes use it too."},
			{Key: "resources", Value: yMap{{Key: "requests", Value: yMap{{Key: "storage", Value: size}}}}},
		}},
	}
}

// securityContexts are the pod's and the container's: no privilege gain,
// every capability dropped, a read-only root file system, the runtime's
// seccomp profile, and a user other than root where the plan allows one.
// It does not when the job mounts secret files: Kubernetes makes them
// root's, and lets another user read them only through fsGroup, which
// makes them group-readable, and the tool (like ssh) refuses a secret
// that others may read. why says which it is, for the comment.
func securityContexts(j Job, secrets bool) (pod, ctr yMap, why string) {
	seccomp := yKV{Key: "seccompProfile", Value: yMap{{Key: "type", Value: "RuntimeDefault"}}}
	caps := yMap{{Key: "drop", Value: ySeq{"ALL"}}}
	if !secrets {
		why = fmt.Sprintf("The image's user (%d), not root: this plan mounts no secret file. What it backs\nup must be readable by that user. fsGroup gives every volume it mounts group %d\n(the library's too) so that it can write there; if that will not do, set runAsUser\nand runAsGroup to the data's owner instead.", ImageUID, ImageUID)
		pod = yMap{
			{Key: "runAsNonRoot", Value: true},
			{Key: "runAsUser", Value: ImageUID},
			{Key: "runAsGroup", Value: ImageUID},
			{Key: "fsGroup", Value: ImageUID},
			{Key: "fsGroupChangePolicy", Value: "OnRootMismatch", Comment: "Once, when a volume's top directory has another group; not at every start."},
			seccomp,
		}
	} else {
		why = "Root, with every capability dropped but what a backup needs: Kubernetes gives\nSecret files to root, and another user could read them only with fsGroup, which\nmakes them group-readable; alexandria-backup and ssh refuse such secret files."
		pod = yMap{{Key: "runAsUser", Value: 0}, seccomp}
		add := yKV{Key: "add", Value: ySeq{"DAC_READ_SEARCH"}, Comment: "Read what it backs up, whoever owns it."}
		for _, t := range j.Targets {
			if t.Resources().SetsOwners {
				add = yKV{Key: "add", Value: ySeq{"CHOWN", "DAC_OVERRIDE", "FOWNER"},
					Comment: "Read what it backs up, whoever owns it, and give target " + t.Name + "'s copies their owners."}
				break
			}
		}
		caps = append(caps, add)
	}
	ctr = yMap{
		{Key: "allowPrivilegeEscalation", Value: false},
		{Key: "readOnlyRootFilesystem", Value: true},
		{Key: "capabilities", Value: caps},
	}
	return pod, ctr, why
}

func enclosing(vols []dataVolume, path string) int {
	for i, v := range vols {
		if planpaths.Within(path, v.Path) {
			return i
		}
	}
	return -1
}

var volumeNameRE = regexp.MustCompile(`[^a-z0-9]+`)

func anyEnv(s *Set) bool {
	for _, t := range allTargets(s) {
		if len(t.Env) > 0 {
			return true
		}
	}
	return false
}

// localDatabase names a pg_dump target whose database is on localhost or
// a Unix socket, or "".
func localDatabase(s *Set) string {
	for _, t := range allTargets(s) {
		if t.Facts().Role != drivers.RoleDatabase {
			continue
		}
		db := t.Resources().Database
		for _, sign := range []string{"localhost", "127.0.0.1", "[::1]", "host=/", ":///", "%2F", "%2f"} {
			if strings.Contains(db, sign) {
				return t.Name
			}
		}
		if !strings.Contains(db, "://") && !strings.Contains(db, "host=") {
			return t.Name // a bare name: the default socket
		}
	}
	return ""
}

// sshTarget names a target that reaches its destination over ssh, or "".
func sshTarget(s *Set) string {
	for _, t := range allTargets(s) {
		if t.Resources().SSH {
			return t.Name
		}
	}
	return ""
}

func orUTC(tz string) string {
	if tz == "" {
		return "the cluster's time zone"
	}
	return tz
}
