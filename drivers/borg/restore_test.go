package borg

import (
	"strings"
	"testing"
)

func TestBorgUnsafe(t *testing.T) {
	for _, tc := range []struct {
		name  string
		items []borgItem
		want  string
	}{
		{"plain", []borgItem{{Type: "d", Path: "srv"}, {Type: "-", Path: "srv/a"}, {Type: "l", Path: "srv/l"}}, ""},
		{"hard link inside", []borgItem{{Type: "-", Path: "srv/a"}, {Type: "-", Path: "srv/b", Source: "srv/a"}}, ""},
		{"below a symlink", []borgItem{{Type: "l", Path: "srv/l"}, {Type: "-", Path: "srv/l/x/o.txt"}}, "srv/l/x/o.txt below srv/l"},
		{"below a later symlink", []borgItem{{Type: "-", Path: "srv/l/o.txt"}, {Type: "l", Path: "srv/l"}}, "below srv/l"},
		{"hard link source below a symlink", []borgItem{{Type: "l", Path: "l"}, {Type: "-", Path: "b", Source: "l/a"}}, "l/a below l"},
		{"dot-dot", []borgItem{{Type: "-", Path: "../etc/passwd"}}, "outside"},
		{"absolute", []borgItem{{Type: "-", Path: "/etc/passwd"}}, "outside"},
	} {
		err := borgUnsafe("A", tc.items)
		if (err == nil) != (tc.want == "") || err != nil && !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestBorgSaid(t *testing.T) {
	for _, tc := range []struct{ stderr, want string }{
		{"Include pattern 'x' never matched.\n", "Include pattern 'x' never matched."},
		{"Local Exception\nTraceback (most recent call last):\n  File \"a\", line 1\n    x()\nborg.crypto.low_level.IntegrityError: MAC Authentication failed\n\nPlatform: Linux\n",
			"Local Exception | borg.crypto.low_level.IntegrityError: MAC Authentication failed"},
		{"Data integrity error: bad\nTraceback (most recent call last):\n  File \"a\"\nborg.helpers.errors.IntegrityError: Data integrity error: bad\n\nPlatform: x\n",
			"Data integrity error: bad"},
	} {
		if got := borgSaid([]byte(tc.stderr)); got != tc.want {
			t.Errorf("borgSaid = %q, want %q", got, tc.want)
		}
	}
}
