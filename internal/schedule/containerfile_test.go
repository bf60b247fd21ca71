package schedule

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/alexandria-backup/alexandria-backup/drivers/all"
)

// The Containerfile at the repository's root builds the image the
// CronJobs run. No container runtime runs here: these tests read it.
const containerfilePath = "../../Containerfile"

// neededPackages are the Debian packages the image must install: each
// driver's programs', ssh for what is reached over ssh, CA certificates
// for https.
func neededPackages() []string {
	need := []string{"ca-certificates", "openssh-client"}
	for _, d := range all.Drivers() {
		for _, p := range d.Facts().Programs {
			if !slices.Contains(need, p.Package) {
				need = append(need, p.Package)
			}
		}
	}
	return need
}

// instruction is one Containerfile instruction, continuation lines joined.
type instruction struct {
	cmd  string // upper case: FROM, RUN, USER...
	args string
}

// stages splits a Containerfile into its stages' instructions (comments
// and blank lines dropped), ARGs before the first FROM left out.
func stages(src string) [][]instruction {
	var out [][]instruction
	var cur strings.Builder
	flush := func() {
		line := strings.TrimSpace(cur.String())
		cur.Reset()
		if line == "" {
			return
		}
		cmd, args, _ := strings.Cut(line, " ")
		in := instruction{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)}
		if in.cmd == "FROM" {
			out = append(out, nil)
		}
		if len(out) > 0 {
			out[len(out)-1] = append(out[len(out)-1], in)
		}
	}
	for _, line := range strings.Split(src, "\n") {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "#") {
			continue // a comment, also between continuation lines
		}
		if strings.HasSuffix(t, "\\") {
			cur.WriteString(strings.TrimSuffix(t, "\\") + " ")
			continue
		}
		cur.WriteString(t)
		flush()
	}
	flush()
	return out
}

// aptInstalled lists the packages the stage's RUN instructions leave
// installed: those of `apt-get install`, less those removed or purged
// after.
func aptInstalled(stage []instruction) (pkgs []string, noRecommends bool) {
	for _, in := range stage {
		if in.cmd != "RUN" {
			continue
		}
		for _, cmd := range regexp.MustCompile(`&&|;|\|\|`).Split(in.args, -1) {
			words := strings.Fields(cmd)
			if len(words) < 2 || words[0] != "apt-get" {
				continue
			}
			verb := slices.IndexFunc(words, func(w string) bool { return !strings.HasPrefix(w, "-") && w != "apt-get" })
			if verb < 0 {
				continue
			}
			for _, w := range words[verb+1:] {
				switch {
				case w == "--no-install-recommends":
					noRecommends = noRecommends || words[verb] == "install"
				case strings.HasPrefix(w, "-"):
				case words[verb] == "install":
					pkgs = append(pkgs, w)
				case words[verb] == "remove" || words[verb] == "purge":
					pkgs = slices.DeleteFunc(pkgs, func(p string) bool { return p == w })
				}
			}
		}
	}
	return pkgs, noRecommends
}

// containerfileProblems says what keeps src from building the image the
// CronJobs expect.
func containerfileProblems(src string, need []string) []string {
	var probs []string
	st := stages(src)
	if len(st) < 2 {
		return []string{fmt.Sprintf("%d stages, want a build stage and the image", len(st))}
	}
	build, final := st[0], st[len(st)-1]
	if !regexp.MustCompile(`^\S*golang:\S*bookworm\s+AS\s+\w+`).MatchString(build[0].args) {
		probs = append(probs, "the build stage is not golang on bookworm: "+build[0].args)
	}
	stamped := false
	for _, in := range build {
		stamped = stamped || in.cmd == "RUN" && strings.Contains(in.args, "go build") && strings.Contains(in.args, "-X main.version=${VERSION}")
	}
	if !stamped {
		probs = append(probs, "the build stage does not stamp main.version")
	}
	if !regexp.MustCompile(`^\S*debian:12(-slim)?$`).MatchString(final[0].args) {
		probs = append(probs, "the image is not Debian 12: "+final[0].args)
	}
	pkgs, noRecommends := aptInstalled(final)
	for _, p := range need {
		if !slices.Contains(pkgs, p) {
			probs = append(probs, "the image does not install "+p)
		}
	}
	if !noRecommends {
		probs = append(probs, "apt-get install without --no-install-recommends")
	}
	var user, entry, copied string
	userAdded := false
	uid := strconv.Itoa(ImageUID)
	for _, in := range final {
		switch in.cmd {
		case "USER":
			user = in.args
		case "ENTRYPOINT":
			entry = in.args
		case "COPY":
			if strings.Contains(in.args, "--from=") {
				copied = in.args
			}
		case "RUN":
			userAdded = userAdded || regexp.MustCompile(`useradd .*--uid `+uid+`\b`).MatchString(in.args)
		}
	}
	// Numeric: Kubernetes can tell a numeric user is not root
	// (runAsNonRoot), not a named one.
	if user != uid && user != uid+":"+uid {
		probs = append(probs, fmt.Sprintf("USER %q, want %s (schedule.ImageUID)", user, uid))
	}
	if !userAdded {
		probs = append(probs, "no passwd entry for uid "+uid+" (useradd --uid): ssh refuses to run without one")
	}
	// The CronJobs' command is "alexandria-backup", found on PATH.
	if !strings.HasSuffix(copied, " /usr/local/bin/alexandria-backup") {
		probs = append(probs, "the program is not copied to /usr/local/bin/alexandria-backup: "+copied)
	}
	if entry != `["/usr/local/bin/alexandria-backup"]` {
		probs = append(probs, "ENTRYPOINT "+entry)
	}
	return probs
}

func TestContainerfile(t *testing.T) {
	b, err := os.ReadFile(containerfilePath)
	if err != nil {
		t.Fatal(err)
	}
	src := string(b)
	need := neededPackages()
	if len(need) < 7 {
		t.Fatalf("packages needed: %q; the drivers declare fewer programs than expected", need)
	}
	if probs := containerfileProblems(src, need); len(probs) > 0 {
		t.Fatalf("%s:\n%s", containerfilePath, strings.Join(probs, "\n"))
	}

	// The check itself, on the Containerfile changed in each way that
	// breaks the image.
	for name, change := range map[string]func(string) string{
		"a package missing":         func(s string) string { return strings.Replace(s, "      borgbackup \\\n", "", 1) },
		"a package commented out":   func(s string) string { return strings.Replace(s, "      rclone \\\n", "#      rclone \\\n", 1) },
		"a package only when built": func(s string) string { return moveToBuildStage(s, "restic") },
		"removed after": func(s string) string {
			return strings.Replace(s, "USER 10001", "RUN apt-get purge -y rsync\nUSER 10001", 1)
		},
		"root":             func(s string) string { return strings.Replace(s, "USER 10001:10001", "USER root", 1) },
		"a named user":     func(s string) string { return strings.Replace(s, "USER 10001:10001", "USER alexandria", 1) },
		"another uid":      func(s string) string { return strings.ReplaceAll(s, "10001", "1000") },
		"no passwd entry":  func(s string) string { return strings.Replace(s, "useradd --uid 10001", "true --uid 10001", 1) },
		"Debian 11":        func(s string) string { return strings.Replace(s, "debian:12-slim", "debian:11-slim", 1) },
		"no version stamp": func(s string) string { return strings.Replace(s, " -X main.version=${VERSION}", "", 1) },
		"another entrypoint": func(s string) string {
			return strings.Replace(s, `ENTRYPOINT ["/usr/local/bin/alexandria-backup"]`, `ENTRYPOINT ["/bin/sh"]`, 1)
		},
		"off PATH": func(s string) string {
			return strings.Replace(s, "/out/alexandria-backup /usr/local/bin/alexandria-backup", "/out/alexandria-backup /opt/ab", 1)
		},
		"recommends": func(s string) string { return strings.Replace(s, "--no-install-recommends", "", 1) },
	} {
		changed := change(src)
		if changed == src {
			t.Errorf("%s: the change did not apply", name)
			continue
		}
		probs := containerfileProblems(changed, need)
		if len(probs) == 0 {
			t.Errorf("%s: not found wrong", name)
		}
		t.Logf("%s: %s", name, strings.Join(probs, "; "))
	}
}

// moveToBuildStage takes pkg out of the image's install and installs it in
// the build stage instead.
func moveToBuildStage(s, pkg string) string {
	s = strings.Replace(s, "      "+pkg+" \\\n", "", 1)
	return strings.Replace(s, "RUN go mod download", "RUN apt-get update && apt-get install -y --no-install-recommends "+pkg+" && go mod download", 1)
}

// The image `make image` tags is the one the CronJobs name by default.
func TestImageNameAgrees(t *testing.T) {
	b, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^IMAGE\s*\?=\s*(\S+):\$\(or \$\(VERSION\),dev\)$`).FindSubmatch(b)
	if m == nil || string(m[1]) != ImageName {
		t.Fatalf("the Makefile's IMAGE is not %s:VERSION (found %q)", ImageName, m)
	}
}
