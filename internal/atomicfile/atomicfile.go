// Package atomicfile writes a file so that a reader sees either the old
// contents or the new ones, never half a file, and the new ones survive a
// crash once Write returned.
package atomicfile

import (
	"os"
	"path/filepath"
)

// Write replaces path with data: it writes a temporary file in the same
// directory (so the rename cannot cross file systems), syncs it, sets perm,
// renames it over path and syncs the directory so the rename itself is on
// disk.
//
// The temporary name is "." + base + ".tmp-" + random: hidden, and never
// ending like the final name, so a collector reading "*.prom" or a listing
// of "*.json" never picks up a half-written file.
func Write(path string, data []byte, perm os.FileMode) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, tempPattern(base))
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err = f.Write(data); err != nil {
		return err
	}
	// CreateTemp makes the file 0600; the final mode is set before the
	// rename so the file never appears under its name with the wrong one.
	if err = f.Chmod(perm); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(dir)
}

// tempPattern is the os.CreateTemp pattern of a temporary file for base.
func tempPattern(base string) string { return "." + base + ".tmp-*" }

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
