package rclone_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/drivers/rclone"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
)

// rcloneListing is rclone lsjson's answer for one file.
func rcloneListing(path, mtime string) proc.Result {
	if path == "" {
		return proc.Result{Stdout: []byte("[\n]\n")}
	}
	return proc.Result{Stdout: []byte(fmt.Sprintf(`[{"Path":%q,"Name":"x","Size":6,"ModTime":%q,"IsDir":false}]`, path, mtime))}
}

// rcloneDiffers is how rclone check ends when its report holds
// differences.
var rcloneDiffers = proc.Result{ExitCode: 1, Stderr: []byte("ERROR : books/a.epub: md5 differ\n" +
	"NOTICE: Local file system at /mnt/mirror: 1 differences found\n" +
	"NOTICE: Local file system at /mnt/mirror: 1 errors while checking\n" +
	"Failed to check with 1 errors: last error was: 1 differences found\n")}

// What differs between the source and the destination is judged against
// what was sent (the full scope, scripted rclone; the real one in
// verify_integration_test.go): damage fails naming the file, what the
// source changed since the copy passes and is counted.
func TestRcloneVerifyJudgesWhatDiffers(t *testing.T) {
	const sent = "2026-11-20T10:00:00Z"
	sizesOnly := "ERROR : No common hash found - not using a hash for checks\n" +
		"NOTICE: Encrypted drive 'secret:': 0 differences found\n" +
		"NOTICE: Encrypted drive 'secret:': 2 hashes could not be checked\n" +
		"NOTICE: Encrypted drive 'secret:': 2 matching files\n"
	for _, c := range []struct {
		name     string
		settings drivers.Values
		written  []string
		report   string
		check    proc.Result
		features string // backend features' JSON; "" = {"Precision":1}
		src, dst proc.Result
		ran      string
		want     []string // substrings of the error; nil = passes
		detail   string   // substring of the detail when it passes
	}{
		{name: "clean", report: "= books/a.epub\n", ran: "check", detail: "all 1 file by hash"},
		{name: "bytes differ, the source as sent", report: "* books/a.epub\n", check: rcloneDiffers,
			src: rcloneListing("books/a.epub", sent), dst: rcloneListing("books/a.epub", sent),
			ran: "check backend lsjson lsjson", want: []string{"rclone check: the destination is damaged: 1 file differs from what was sent (books/a.epub)"}},
		{name: "the source changed since it was sent", report: "* books/a.epub\n", check: rcloneDiffers,
			src: rcloneListing("books/a.epub", "2026-11-21T10:00:00Z"), dst: rcloneListing("books/a.epub", sent),
			ran: "check backend lsjson lsjson", detail: "1 file changed in the source since sent"},
		{name: "later, by less than the remote's precision", report: "* books/a.epub\n", check: rcloneDiffers, features: `{"Precision":1000000000}`,
			src: rcloneListing("books/a.epub", "2026-11-20T10:00:00.5Z"), dst: rcloneListing("books/a.epub", sent),
			ran: "check backend lsjson lsjson", want: []string{"1 file differs"}},
		{name: "later, by the remote's precision", report: "* books/a.epub\n", check: rcloneDiffers, features: `{"Precision":1000000000}`,
			src: rcloneListing("books/a.epub", "2026-11-20T10:00:01Z"), dst: rcloneListing("books/a.epub", sent),
			ran: "check backend lsjson lsjson", detail: "1 file changed in the source since sent"},
		{name: "the destination is the later one", report: "* books/a.epub\n", check: rcloneDiffers,
			src: rcloneListing("books/a.epub", sent), dst: rcloneListing("books/a.epub", "2026-11-21T10:00:00Z"),
			ran: "check backend lsjson lsjson", want: []string{"1 file differs"}},
		{name: "a remote that keeps no modification times", report: "* books/a.epub\n", check: rcloneDiffers, features: `{"Precision":3153600000000000000}`,
			ran: "check backend", want: []string{"1 file differs"}},
		{name: "the source deleted it since", report: "* books/a.epub\n", check: rcloneDiffers,
			src: rcloneListing("", ""), dst: rcloneListing("books/a.epub", sent),
			ran: "check backend lsjson lsjson", detail: "1 file changed in the source since sent"},
		{name: "whether the source changed cannot be told", report: "* books/a.epub\n", check: rcloneDiffers,
			src: proc.Result{ExitCode: 1, Stderr: []byte("Failed to lsjson: couldn't connect")}, dst: rcloneListing("books/a.epub", sent),
			ran: "check backend lsjson", want: []string{"1 file differ", "cannot be told", "couldn't connect"}},
		{name: "only in the source, not sent by this run", report: "+ snapshots/4f1c\n= books/a.epub\n", check: rcloneDiffers,
			ran: "check", detail: "1 file only in the source (added since, or lost from the destination)"},
		{name: "only in the source, sent by this run", written: []string{"books/a.epub"}, report: "+ books/a.epub\n", check: rcloneDiffers,
			ran: "check", want: []string{"1 file this run sent is missing (books/a.epub)"}},
		{name: "only in the destination", report: "- books/old.epub\n= books/a.epub\n", check: rcloneDiffers,
			ran: "check", detail: "1 file only in the destination (deleted from the source since)"},
		{name: "unreadable", report: "! books/a.epub\n", check: proc.Result{ExitCode: 1, Stderr: []byte("ERROR : books/a.epub: failed to open source object: permission denied\n" +
			"NOTICE: Local file system at /mnt/mirror: 0 differences found\nNOTICE: Local file system at /mnt/mirror: 1 errors while checking\n")},
			ran: "check", want: []string{"rclone check exited 1", "1 errors while checking", "permission denied"}},
		{name: "exit 1 and nothing in the report", check: rcloneDiffers, ran: "check", want: []string{"rclone check exited 1"}},
		{name: "not a difference", check: proc.Result{ExitCode: 3, Stderr: []byte("ERROR : : error reading destination root directory: directory not found\nFailed to check: directory not found\n")},
			ran: "check", want: []string{"directory not found"}},
		{name: "sizes only", report: "= a\n= b\n", check: proc.Result{Stderr: []byte(sizesOnly)}, ran: "check", want: []string{"2 hashes could not be checked", "crypt = true"}},
		{name: "sizes only with cryptcheck", settings: drivers.Values{"crypt": true}, report: "= a\n= b\n", check: proc.Result{Stderr: []byte(sizesOnly)},
			ran: "cryptcheck", want: []string{"rclone cryptcheck compared only sizes", "2 hashes could not be checked", "check_download"}},
		{name: "download needs no hashes", settings: drivers.Values{"check_download": true}, report: "= a\n= b\n", check: proc.Result{Stderr: []byte(sizesOnly)}, ran: "check",
			detail: "all 2 files byte for byte"},
	} {
		t.Run(c.name, func(t *testing.T) {
			tg := rcloneTarget(t, c.settings)
			sub := strings.Fields(c.ran)[0]
			features := c.features
			if features == "" {
				features = `{"Precision":1}`
			}
			f := &rcloneFake{reports: map[string]string{"hashed": c.report}, results: map[string]proc.Result{sub: c.check,
				"backend":                             {Stdout: []byte(features)},
				"lsjson " + tg.Settings.Str("source"): c.src, "lsjson " + tg.Settings.Str("destination"): c.dst}}
			cov, err := rclone.Driver{}.VerifyScoped(context.Background(), f, tg, drivers.Artifact{Written: c.written}, drivers.FullScope)
			if got := strings.Join(f.subcommands(), " "); got != c.ran {
				t.Errorf("ran %q, want %q", got, c.ran)
			}
			if c.want == nil {
				if err != nil || !cov.Full || !strings.Contains(cov.Detail, c.detail) {
					t.Fatalf("want a pass with %q in the detail, got %+v %v", c.detail, cov, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("verify passed: %+v", cov)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// At 100,000 files a scoped verify still runs two processes, the sizes of
// all and the hashes of the scope, with short command lines: the files to
// hash (every file the run sent, and the slice of the others, nothing
// else) go through a private file, which is gone afterwards.
func TestRcloneScopedVerifyAtScale(t *testing.T) {
	const files, sent = 100000, 312
	var report strings.Builder
	var all, written []string
	for i := 0; i < files; i++ {
		p := fmt.Sprintf("books/author-%03d/book %06d.epub", i%977, i)
		all = append(all, p)
		report.WriteString("= " + p + "\n")
		if i%320 == 7 && len(written) < sent {
			written = append(written, p)
		}
	}
	s := drivers.Scope{Slice: 2, Cycle: 30}
	want := slices.Clone(written)
	for _, p := range all {
		if !slices.Contains(written, p) && s.InSlice(p) {
			want = append(want, p)
		}
	}
	tg := rcloneTarget(t, drivers.Values{"exclude": []string{"*.tmp"}})
	before, _ := os.ReadDir(tg.TempDir)
	f := &rcloneFake{reports: map[string]string{"sizes": report.String(), "hashed": report.String()}}
	cov, err := rclone.Driver{}.VerifyScoped(context.Background(), f, tg, drivers.Artifact{Written: written}, s)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(f.subcommands(), " "); got != "check check" {
		t.Fatalf("ran %q, want two checks", got)
	}
	sizes, hashed := f.ran[0], f.ran[1]
	if !slices.Contains(sizes.Args, "--size-only") || !slices.Contains(sizes.Args, "--exclude=*.tmp") || slices.Contains(hashed.Args, "--size-only") {
		t.Errorf("the sizes of all, then the hashes of the scope: %s; %s", sizes, hashed)
	}
	for _, c := range f.ran {
		if line := strings.Join(c.Args, " "); len(line) > 4096 {
			t.Errorf("a command line of %d bytes: %.300s...", len(line), line)
		}
	}
	got := f.lists["scope"]
	if !slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want))) || f.listModes["scope"] != 0o600 {
		t.Errorf("hashed %d files (mode %v), want the %d sent and %d of the others", len(got), f.listModes["scope"], sent, len(want)-sent)
	}
	if cov.Full || cov.Slice != 2 || cov.Cycle != 30 ||
		cov.Detail != fmt.Sprintf("the 312 files this run sent and %s of the 99,688 others by hash, and the sizes of all 100,000", commas(len(want)-sent)) {
		t.Errorf("coverage %+v", cov)
	}
	if after, _ := os.ReadDir(tg.TempDir); len(after) != len(before) {
		t.Errorf("the verify left files in %s: %v", tg.TempDir, after)
	}
}

// commas writes n as rclone's detail does: 3,310.
func commas(n int) string {
	s := fmt.Sprint(n)
	if n >= 1000 {
		s = s[:len(s)-3] + "," + s[len(s)-3:]
	}
	return s
}

// What each scope runs: everything is one check of every file, with the
// excludes; a slice lists all and hashes its files; nothing to hash (no
// file sent, slice 0) lists all and hashes none; without an artifact the
// detail speaks of the slice alone.
func TestRcloneVerifyScopes(t *testing.T) {
	report := "= books/a.epub\n= books/b.epub\n= books/c.epub\n"
	for _, c := range []struct {
		name    string
		a       drivers.Artifact
		s       drivers.Scope
		ran     string
		detail  string
		covFull bool
	}{
		{"full", drivers.Artifact{Written: []string{"books/a.epub"}}, drivers.FullScope, "check", "all 3 files by hash", true},
		{"a cycle of one", drivers.Artifact{Written: []string{"books/a.epub"}}, drivers.Scope{Slice: 1, Cycle: 1}, "check", "all 3 files by hash", true},
		{"what was sent, nothing else", drivers.Artifact{Written: []string{"books/a.epub"}}, drivers.Scope{Cycle: 3}, "check check",
			"the 1 file this run sent and 0 of the 2 others by hash, and the sizes of all 3", false},
		{"nothing sent, nothing else", drivers.Artifact{Written: []string{}}, drivers.Scope{Cycle: 3}, "check",
			"the 0 files this run sent and 0 of the 3 others by hash, and the sizes of all 3", false},
		{"the latest backup, slice 0", drivers.Artifact{}, drivers.Scope{Cycle: 3}, "check",
			"0 of the 3 files by hash, and the sizes of all 3", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			tg := rcloneTarget(t, drivers.Values{"exclude": []string{"*.tmp"}})
			f := &rcloneFake{reports: map[string]string{"sizes": report, "hashed": report}}
			cov, err := rclone.Driver{}.VerifyScoped(context.Background(), f, tg, c.a, c.s)
			if err != nil || cov.Full != c.covFull || cov.Detail != c.detail {
				t.Fatalf("coverage %+v %v, want detail %q", cov, err, c.detail)
			}
			if got := strings.Join(f.subcommands(), " "); got != c.ran {
				t.Fatalf("ran %q, want %q", got, c.ran)
			}
			last := f.ran[len(f.ran)-1]
			if c.covFull && (!slices.Contains(last.Args, "--exclude=*.tmp") || slices.ContainsFunc(last.Args, func(a string) bool { return strings.HasPrefix(a, "--files-from") })) {
				t.Errorf("everything is one check with the excludes: %s", last)
			}
			if c.ran == "check check" && !slices.Equal(f.lists["scope"], c.a.Written) {
				t.Errorf("hashed %q, want %q", f.lists["scope"], c.a.Written)
			}
		})
	}
}
