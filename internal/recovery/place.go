// Package recovery puts restored files in their places for `recover`: a
// backed-up path is restored into a staging directory created beside its
// place (so on the same filesystem), then renamed into it. Nothing here
// runs a tool.
package recovery

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Place is one backed-up path and where recover puts it.
type Place struct {
	Path string // as backed up, absolute: /srv/alexandria/library
	Dest string // Path itself, or Path below the --root directory
}

// Places maps backed-up paths to their places below root ("/" for the
// original places). A path below another one is left out: it comes back
// with the outer one.
func Places(paths []string, root string) ([]Place, error) {
	var clean []string
	for _, p := range paths {
		if !filepath.IsAbs(p) {
			return nil, fmt.Errorf("backed-up path %q is not absolute", p)
		}
		clean = append(clean, filepath.Clean(p))
	}
	slices.Sort(clean)
	clean = slices.Compact(clean)
	var out []Place
	for _, p := range clean {
		if slices.ContainsFunc(out, func(o Place) bool { return inOrBelow(o.Path, p) }) {
			continue
		}
		out = append(out, Place{Path: p, Dest: filepath.Join(root, p)})
	}
	return out, nil
}

// inOrBelow reports whether path is dir or below it (both clean).
func inOrBelow(dir, path string) bool {
	return path == dir || dir == "/" || strings.HasPrefix(path, dir+"/")
}

// CheckFree refuses, naming it, a place that exists and is not an empty
// directory: recover never overwrites or merges files. An empty directory
// (a fresh mount point) is replaced.
func CheckFree(places []Place) error {
	for _, p := range places {
		st, err := os.Lstat(p.Dest)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		if !st.IsDir() {
			return fmt.Errorf("%s exists (a %s, not an empty directory): recover never overwrites anything; move it aside, or recover below another directory with --root DIR", p.Dest, kind(st.Mode()))
		}
		if !emptyDir(p.Dest) {
			return fmt.Errorf("%s exists and is not empty: recover never overwrites or merges files; move it aside, or recover below another directory with --root DIR", p.Dest)
		}
	}
	return nil
}

func kind(m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "symlink"
	case m.IsRegular():
		return "file"
	}
	return m.Type().String()
}

// emptyDir reports whether dir holds nothing, or only the lost+found a
// fresh ext2/3/4 file system has at its root (a new mount point).
func emptyDir(dir string) bool {
	f, err := os.Open(dir)
	if err != nil {
		return false
	}
	defer f.Close()
	names, err := f.Readdirnames(2)
	if err == io.EOF {
		return true
	}
	return err == nil && len(names) == 1 && names[0] == "lost+found"
}

// isEmptyDir reports whether path is a directory holding nothing.
func isEmptyDir(path string) bool {
	st, err := os.Lstat(path)
	if err != nil || !st.IsDir() {
		return false
	}
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	_, err = f.Readdirnames(1)
	return err == io.EOF
}

// renameNoReplace renames from to to, refusing when to exists (as
// RENAME_NOREPLACE does, atomically), so a file that appeared at a place
// since it was found free is never replaced. A file system without
// RENAME_NOREPLACE gets the same refusal from a check just before.
func renameNoReplace(from, to string) error {
	err := unix.Renameat2(unix.AT_FDCWD, from, unix.AT_FDCWD, to, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
		if _, lerr := os.Lstat(to); lerr == nil {
			return &os.LinkError{Op: "rename", Old: from, New: to, Err: fs.ErrExist}
		}
		return os.Rename(from, to)
	}
	if err != nil {
		return &os.LinkError{Op: "rename", Old: from, New: to, Err: err}
	}
	return nil
}

// Stage creates a private staging directory on the filesystem p.Dest
// will be on, so the rename into place never crosses one: inside p.Dest
// when it is an (empty) directory already, such as a mount point, else
// beside it, creating the directories above it as needed. The caller
// removes it (RemoveStage).
func Stage(p Place) (string, error) {
	parent := filepath.Dir(p.Dest)
	if st, err := os.Lstat(p.Dest); err == nil && st.IsDir() {
		parent = p.Dest
	} else if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", fmt.Errorf("creating %s: %w", parent, err)
	}
	dir, err := os.MkdirTemp(parent, ".alexandria-recover-")
	if err != nil {
		return "", fmt.Errorf("staging directory for %s: %w", p.Dest, err)
	}
	return dir, nil
}

// MoveIntoPlace renames the restored copy of p (the backed-up path below
// staging, as restic and borg lay it out) into p.Dest. When p.Dest is the
// empty directory the staging directory is in (a mount point cannot be
// replaced), what the restored directory holds is renamed into it, and
// it takes the restored directory's owner and mode (the application's
// user must be able to write its library again).
func MoveIntoPlace(staging string, p Place) error {
	from := filepath.Join(staging, p.Path)
	st, err := os.Lstat(from)
	if err != nil {
		return fmt.Errorf("the restore brought back nothing at %s (does the backup hold it?): %w", p.Path, err)
	}
	if filepath.Dir(staging) != p.Dest {
		if err := renameNoReplace(from, p.Dest); err != nil {
			return fmt.Errorf("moving the restored %s into place (recover never overwrites): %w", p.Path, err)
		}
		return nil
	}
	if !st.IsDir() {
		return fmt.Errorf("%s is a directory, but the backup holds a %s there: move the directory aside and recover again", p.Dest, kind(st.Mode()))
	}
	entries, err := os.ReadDir(from)
	if err != nil {
		return err
	}
	var moved []string
	for _, e := range entries {
		if e.Name() == "lost+found" && isEmptyDir(filepath.Join(from, e.Name())) && isEmptyDir(filepath.Join(p.Dest, e.Name())) {
			continue // the backed-up file system's own, and the new one has its own
		}
		if err := renameNoReplace(filepath.Join(from, e.Name()), filepath.Join(p.Dest, e.Name())); err != nil {
			// Some entries may be in place already: name them, or the
			// operator would recover again into a place that is no
			// longer empty and be refused without knowing why (a mount
			// point cannot be moved aside: they must go).
			partly := ""
			if len(moved) > 0 {
				partly = fmt.Sprintf("; %d of the %d restored entries are in %s already (%s), the rest are not: remove those before recovering again, or recover below another directory with --root DIR",
					len(moved), len(entries), p.Dest, strings.Join(moved, ", "))
			}
			return fmt.Errorf("moving the restored %s into place (recover never overwrites): %w%s", filepath.Join(p.Path, e.Name()), err, partly)
		}
		moved = append(moved, e.Name())
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok && os.Geteuid() == 0 {
		if err := os.Lchown(p.Dest, int(sys.Uid), int(sys.Gid)); err != nil {
			return err
		}
	}
	// After the chown, which clears the setuid and setgid bits.
	return os.Chmod(p.Dest, st.Mode()&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky))
}

// RemoveStage removes a staging directory and whatever is left in it.
func RemoveStage(dir string) error {
	return os.RemoveAll(dir)
}
