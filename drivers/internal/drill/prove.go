package drill

// The proof of a recovery: after `recover` put a backup's files in their
// places, every regular file the backup holds is compared with the file
// now at its path, by size and SHA-256 of the content, against what the
// tool reads out of its repository (restic dump's tar stream, borg's own
// SHA-256 of its chunks).

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// ProofMismatch is a file in place that differs from the backup: its
// original path and how.
type ProofMismatch struct {
	Tool   string
	Backup string // the snapshot or archive
	File   string // the original (backed-up) path, "/srv/..."
	Reason string
}

func (e *ProofMismatch) Error() string {
	return fmt.Sprintf("%s: %s differs from %s: %s", e.Tool, e.File, e.Backup, e.Reason)
}

// Prover compares files below Root ("/" for their original places) with
// a backup's record of them.
type Prover struct {
	Tool   string
	Backup string
	Root   string
	// Paths, when set, limits the proof to these backed-up paths and what
	// is below them (a tar stream of more is read through).
	Paths []string
	Files int // regular files proven so far
}

// Wants reports whether the backed-up path recorded (with or without its
// leading "/") is one of p.Paths or below one; every path when none.
func (p *Prover) Wants(recorded string) bool {
	if len(p.Paths) == 0 {
		return true
	}
	name := "/" + strings.TrimLeft(filepath.ToSlash(recorded), "/")
	for _, w := range p.Paths {
		w = strings.TrimRight(filepath.ToSlash(w), "/")
		if name == w || strings.HasPrefix(name, w+"/") {
			return true
		}
	}
	return false
}

func (p *Prover) mismatch(recorded, format string, args ...any) error {
	return &ProofMismatch{Tool: p.Tool, Backup: p.Backup, File: "/" + strings.TrimLeft(filepath.ToSlash(recorded), "/"), Reason: fmt.Sprintf(format, args...)}
}

// place is where a backed-up path is below Root.
func (p *Prover) place(recorded string) (string, error) {
	return underDir(p.Root, recorded)
}

// File checks that the regular file recorded (a backed-up path, absolute
// or relative to /) is in place with size bytes whose SHA-256 is sum
// (lower-case hex). It never follows a symlink in the file's place.
func (p *Prover) File(recorded string, size int64, sum string) error {
	path, err := p.place(recorded)
	if err != nil {
		return err
	}
	got, gotSize, err := hashRegular(path)
	if err != nil {
		return p.mismatch(recorded, "%v", err)
	}
	if gotSize != size {
		return p.mismatch(recorded, "it has %d bytes, the backup %d", gotSize, size)
	}
	if got != sum {
		return p.mismatch(recorded, "its SHA-256 is %s, the backup's %s", got, sum)
	}
	p.Files++
	return nil
}

// InPlace checks that the node recorded is in place as what the backup
// holds, a "file" of size bytes, a "dir" or a "symlink", without reading
// any content: for a restore that checked every file's content itself
// as it wrote it (drivers.RestoreRequest.ContentVerified). A regular file
// counts in p.Files.
func (p *Prover) InPlace(recorded, kind string, size int64) error {
	path, err := p.place(recorded)
	if err != nil {
		return err
	}
	st, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return p.mismatch(recorded, "it is missing")
	}
	if err != nil {
		return p.mismatch(recorded, "%v", err)
	}
	switch {
	case kind == "file" && !st.Mode().IsRegular():
		return p.mismatch(recorded, "it is not a regular file (%s)", st.Mode().Type())
	case kind == "file" && st.Size() != size:
		return p.mismatch(recorded, "it has %d bytes, the backup %d", st.Size(), size)
	case kind == "dir" && !st.IsDir(), kind == "symlink" && st.Mode()&fs.ModeSymlink == 0:
		return p.mismatch(recorded, "it is not the %s the backup holds (%s)", kind, st.Mode().Type())
	}
	if kind == "file" {
		p.Files++
	}
	return nil
}

// Symlink checks that recorded is a symlink to target.
func (p *Prover) Symlink(recorded, target string) error {
	path, err := p.place(recorded)
	if err != nil {
		return err
	}
	got, err := os.Readlink(path)
	if err != nil {
		return p.mismatch(recorded, "it is not the symlink the backup holds: %v", err)
	}
	if got != target {
		return p.mismatch(recorded, "it points to %q, the backup's to %q", got, target)
	}
	return nil
}

// Tar checks every regular file and symlink of a tar stream of the backup
// (entries named by their backed-up path without the leading "/"), each
// regular file by the SHA-256 of its content in the stream.
func (p *Prover) Tar(r io.Reader) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: reading the backup's tar stream: %w", p.Tool, err)
		}
		if !p.Wants(h.Name) {
			continue
		}
		switch h.Typeflag {
		case tar.TypeReg:
			sum := sha256.New()
			n, err := io.Copy(sum, tr)
			if err != nil {
				return fmt.Errorf("%s: reading %s out of %s: %w", p.Tool, h.Name, p.Backup, err)
			}
			if err := p.File(h.Name, n, hex.EncodeToString(sum.Sum(nil))); err != nil {
				return err
			}
		case tar.TypeSymlink:
			if err := p.Symlink(h.Name, h.Linkname); err != nil {
				return err
			}
		}
	}
}

// hashRegular returns the SHA-256 and size of the regular file at path,
// refusing anything else (a symlink is not followed).
func hashRegular(path string) (string, int64, error) {
	st, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", 0, errors.New("it is missing")
	}
	if err != nil {
		return "", 0, err
	}
	if !st.Mode().IsRegular() {
		return "", 0, fmt.Errorf("it is not a regular file (%s)", st.Mode().Type())
	}
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}
