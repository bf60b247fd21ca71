package sandbox

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"time"
)

// GenerateLibrary writes the library tree for books books under dir and
// returns how many files and bytes it wrote:
//
//	books/<author-slug>/<title-slug>.{epub,pdf,mobi}   2–60 KiB each
//	books/<author-slug>/<title-slug> (1).<ext>         byte-identical duplicates (1 in 100 books)
//	covers/<book-id>.jpg                               1–8 KiB
//	.returns/…                                         returned uploads awaiting review
//	cache/…                                            thumbnails and a search index
//
// .returns and cache are what a backup plan typically excludes. Contents
// are pseudo-random (incompressible, like real EPUBs and JPEGs) and, like
// the file and directory mtimes, fully determined by seed. Existing files
// with the same names are overwritten; other files in dir are left alone.
func GenerateLibrary(dir string, books int, seed int64) (files int, bytes int64, err error) {
	c := newCatalog(books, seed)
	all := c.libraryFiles()

	// Directories get the mtime of their newest entry, set after all
	// writes (writing into a directory updates its mtime).
	dirTimes := map[string]time.Time{}
	for _, f := range all {
		for d := path.Dir(f.Path); d != "."; d = path.Dir(d) {
			if f.MTime.After(dirTimes[d]) {
				dirTimes[d] = f.MTime
			}
		}
	}

	for _, f := range all {
		p := filepath.Join(dir, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return files, bytes, err
		}
		if err := os.WriteFile(p, f.content(seed), 0o644); err != nil {
			return files, bytes, err
		}
		if err := os.Chtimes(p, f.MTime, f.MTime); err != nil {
			return files, bytes, err
		}
		files++
		bytes += int64(f.Size)
	}

	dirs := make([]string, 0, len(dirTimes))
	for d := range dirTimes {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs)
	for _, d := range dirs {
		t := dirTimes[d]
		if err := os.Chtimes(filepath.Join(dir, filepath.FromSlash(d)), t, t); err != nil {
			return files, bytes, err
		}
	}
	return files, bytes, nil
}

// libraryFiles lists every file of the tree: the catalogue's book files
// and covers plus the clutter a live installation accumulates.
func (c *catalog) libraryFiles() []libFile {
	var all []libFile
	for _, b := range c.Books {
		all = append(all, b.Files...)
		if b.Cover != nil {
			all = append(all, *b.Cover)
		}
	}

	r := newRand(c.Seed, 3)
	last := epoch.Add(historySpan)
	for i := range 2 {
		all = append(all, libFile{
			Path:  fmt.Sprintf(".returns/upload-%04d.epub", 17+i*311),
			Kind:  kindEPUB,
			Size:  2<<10 + r.IntN(30<<10),
			Key:   fmt.Sprintf("returns/%d", i),
			MTime: last.Add(-time.Duration(r.IntN(72)) * time.Hour),
		})
	}
	for i := range min(len(c.Books), 8) {
		all = append(all, libFile{
			Path:  fmt.Sprintf("cache/thumbnails/%d-128.jpg", i+1),
			Kind:  kindJPEG,
			Size:  512 + r.IntN(1024),
			Key:   fmt.Sprintf("cache/thumb/%d", i),
			MTime: last.Add(-time.Duration(r.IntN(72)) * time.Hour),
		})
	}
	all = append(all, libFile{
		Path:  "cache/search-index.bin",
		Kind:  kindBin,
		Size:  16<<10 + r.IntN(16<<10),
		Key:   "cache/search-index",
		MTime: last,
	})
	return all
}
