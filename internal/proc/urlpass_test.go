package proc

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// MaskURLPasswords hides the password of every URL in free text (a tool's
// message), leaving everything else as it was.
func TestMaskURLPasswords(t *testing.T) {
	for in, want := range map[string]string{
		"":                             "",
		"nothing here":                 "nothing here",
		"ssh://user@host/repo":         "ssh://user@host/repo",
		"ssh://host:22/path@x:y":       "ssh://host:22/path@x:y",
		"ssh://[::1]/x@y:z":            "ssh://[::1]/x@y:z",
		"https://host/?next=a:b@c":     "https://host/?next=a:b@c",
		"ssh://user:S3cr3t@host/repo":  "ssh://user:***@host/repo",
		"ssh://user:@host/repo":        "ssh://user:***@host/repo",
		"ssh://user:p%40ss@host/":      "ssh://user:***@host/",
		"ssh://user:pa/ss@host/r":      "ssh://user:***@host/r",
		"ssh://u:p@ss@host/r":          "ssh://u:***@host/r",
		"ssh://user:S3cr3t@[::1]:22/p": "ssh://user:***@[::1]:22/p",
		"Fatal: unable to open repository at sftp://user:S3cr3t@127.0.0.1:1//x: EOF": "Fatal: unable to open repository at sftp://user:***@127.0.0.1:1//x: EOF",
		`Invalid location format: "ssh://user:S3cr3t@host/repo"`:                     `Invalid location format: "ssh://user:***@host/repo"`,
		"rest:http://user:S3cr3t@host:8000/ and http://b:Zz9@h2/":                    "rest:http://user:***@host:8000/ and http://b:***@h2/",
		"RESTIC_REPOSITORY=rest:https://u:S3cr3t@h/":                                 "RESTIC_REPOSITORY=rest:https://u:***@h/",
	} {
		if got := MaskURLPasswords(in); got != want {
			t.Errorf("MaskURLPasswords(%q)\n got  %q\n want %q", in, got, want)
		}
	}
}

// A command is shown with the password of any URL in it masked, whether
// it is in the environment or in argv.
func TestCommandStringMasksURLPasswords(t *testing.T) {
	c := Command{Program: "borg", Args: []string{"list", "--", "ssh://u:S3cr3t@h/other"},
		Env: []EnvVar{{Name: "BORG_REPO", Value: "ssh://u:S3cr3t@h/repo"}}}
	got := c.String()
	want := "'BORG_REPO=ssh://u:***@h/repo' borg list -- 'ssh://u:***@h/other'"
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

// What a tool says on stderr is masked before it becomes a result, an
// error or a log line.
func TestToolOutputMasksURLPasswords(t *testing.T) {
	c := Command{Program: "sh", Args: []string{"-c", `echo 'error: "ssh://user:S3cr3t@host/repo"' >&2; exit 2`}}
	res, err := ProcessExecutor{}.Run(context.Background(), c)
	var te *ToolError
	if !errors.As(err, &te) {
		t.Fatalf("want a tool error, got %v", err)
	}
	for _, shown := range []string{err.Error(), string(res.Stderr), res.Command} {
		if strings.Contains(shown, "S3cr3t") {
			t.Errorf("the password shows: %s", shown)
		}
	}
	if !strings.Contains(err.Error(), `"ssh://user:***@host/repo"`) {
		t.Errorf("the message lost more than the password: %v", err)
	}
}
