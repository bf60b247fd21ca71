// Package sandbox fabricates a plausible Alexandria installation: a
// PostgreSQL schema with data (LoadSchema) and a tree of library files
// (GenerateLibrary). Everything derives from a seed, so two runs with the
// same seed produce the same rows and byte-identical files, which is what
// backup/restore tests and the demo need.
//
// Both functions build the same catalogue from (books, seed), so the
// book_files rows LoadSchema writes (path, size, sha256) describe exactly
// the files GenerateLibrary writes for the same arguments.
package sandbox

import (
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// epoch is the start of the library's fabricated history. All timestamps
// and file mtimes fall between epoch and epoch+historySpan, safely in the
// past and independent of the clock.
var epoch = time.Date(2019, 1, 1, 0, 0, 0, 0, time.UTC)

const historySpan = 6 * 365 * 24 * time.Hour

// File kinds; the book formats double as book_files.format values.
const (
	kindEPUB = "epub"
	kindPDF  = "pdf"
	kindMOBI = "mobi"
	kindJPEG = "jpg"
	kindBin  = "bin"
)

type author struct {
	ID        int64
	Name      string
	SortName  string
	Slug      string
	BirthYear int // 0: unknown
	Created   time.Time
}

type publisher struct {
	ID      int64
	Name    string
	Country string
	Founded int
}

type series struct {
	ID   int64
	Name string
}

// libFile is one file of the library tree. Files with the same key have
// the same content (the deliberate duplicates).
type libFile struct {
	Path  string // relative to the library root, slash-separated
	Kind  string
	Size  int
	Key   string
	MTime time.Time
}

type book struct {
	ID          int64
	Title       string
	Slug        string
	AuthorIDs   []int64 // first is the primary author (directory name)
	PublisherID int64
	SeriesID    int64   // 0: not part of a series
	SeriesIndex float64 // meaningful when SeriesID != 0
	Language    string
	Published   time.Time
	Pages       int
	ISBN        string // "" for books without one
	Added       time.Time
	Updated     time.Time
	TagIDs      []int64
	Files       []libFile // book files, including duplicate copies
	Cover       *libFile  // nil when the book has no cover
}

// catalog is the deterministic core shared by LoadSchema and
// GenerateLibrary.
type catalog struct {
	Seed       int64
	Authors    []author
	Publishers []publisher
	Series     []series
	Tags       []string // tag id = index+1
	Books      []book
}

// newRand returns the random stream number stream for seed. Separate
// streams keep the catalogue identical no matter what else draws numbers.
func newRand(seed int64, stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(seed), stream))
}

// newCatalog builds the catalogue for n books.
func newCatalog(n int, seed int64) *catalog {
	r := newRand(seed, 1)
	c := &catalog{Seed: seed, Tags: tagNames}

	authorSlugs := map[string]bool{}
	for i := range max(1, n/3) {
		first := pick(r, firstNames)
		last := pick(r, lastNames)
		name := first + " " + last
		if r.IntN(4) == 0 { // a middle initial now and then widens the name space
			name = fmt.Sprintf("%s %c. %s", first, 'A'+rune(r.IntN(26)), last)
		}
		slug := uniqueSlug(authorSlugs, slugify(name))
		a := author{
			ID:       int64(i + 1),
			Name:     name,
			SortName: sortName(name, last),
			Slug:     slug,
			Created:  randTime(r, 0, historySpan/2),
		}
		if r.IntN(5) != 0 {
			a.BirthYear = 1800 + r.IntN(196)
		}
		c.Authors = append(c.Authors, a)
	}

	pubNames := map[string]bool{}
	for i := range max(3, n/100) {
		name := pick(r, publisherWords) + " " + pick(r, publisherSuffixes)
		for pubNames[name] {
			name = fmt.Sprintf("%s %s %d", pick(r, publisherWords), pick(r, publisherSuffixes), r.IntN(100))
		}
		pubNames[name] = true
		c.Publishers = append(c.Publishers, publisher{
			ID: int64(i + 1), Name: name, Country: pick(r, countries), Founded: 1820 + r.IntN(200),
		})
	}

	seriesNames := map[string]bool{}
	for i := range n / 15 {
		name := "The " + pick(r, adjectives) + " " + pick(r, nouns) + " " + pick(r, seriesWords)
		for seriesNames[name] {
			name += " II"
		}
		seriesNames[name] = true
		c.Series = append(c.Series, series{ID: int64(i + 1), Name: name})
	}

	seriesNext := make([]float64, len(c.Series)+1)
	bookSlugs := map[string]bool{} // "author-slug/title-slug"
	for i := range n {
		id := int64(i + 1)
		b := book{
			ID:          id,
			Title:       randomTitle(r),
			PublisherID: int64(1 + r.IntN(len(c.Publishers))),
			Language:    pickWeighted(r, languages),
			Pages:       80 + r.IntN(900),
			Added:       randTime(r, 0, historySpan),
		}
		b.Updated = b.Added.Add(time.Duration(r.Int64N(int64(90 * 24 * time.Hour))))

		// A few prolific authors write many books: squaring a uniform
		// number skews the choice towards low ids.
		nAuthors := 1
		if x := r.IntN(20); x == 0 {
			nAuthors = 3
		} else if x < 4 {
			nAuthors = 2
		}
		for len(b.AuthorIDs) < min(nAuthors, len(c.Authors)) {
			u := r.Float64()
			aid := int64(1 + int(u*u*float64(len(c.Authors))))
			if !containsID(b.AuthorIDs, aid) {
				b.AuthorIDs = append(b.AuthorIDs, aid)
			}
		}
		dir := "books/" + c.Authors[b.AuthorIDs[0]-1].Slug
		b.Slug = strings.TrimPrefix(uniqueSlug(bookSlugs, dir+"/"+slugify(b.Title)), dir+"/")

		if len(c.Series) > 0 && r.IntN(10) < 3 {
			b.SeriesID = int64(1 + r.IntN(len(c.Series)))
			seriesNext[b.SeriesID]++
			b.SeriesIndex = seriesNext[b.SeriesID]
			if r.IntN(20) == 0 { // the occasional novella between volumes
				b.SeriesIndex -= 0.5
			}
		}
		year := 2024 - int(float64(175)*r.Float64()*r.Float64()) // mostly recent
		b.Published = time.Date(year, time.Month(1+r.IntN(12)), 1+r.IntN(28), 0, 0, 0, 0, time.UTC)
		if r.IntN(10) != 0 {
			b.ISBN = isbn13(uint64(id)*7919 + uint64(seed)%1_000_000_000)
		}
		for range 1 + r.IntN(5) {
			tid := int64(1 + r.IntN(len(c.Tags)))
			if !containsID(b.TagIDs, tid) {
				b.TagIDs = append(b.TagIDs, tid)
			}
		}

		// Formats: most books have an EPUB, some also (or only) PDF/MOBI.
		var formats []string
		if r.IntN(10) != 0 {
			formats = append(formats, kindEPUB)
		}
		if r.IntN(10) < 3 || len(formats) == 0 {
			formats = append(formats, kindPDF)
		}
		if r.IntN(100) < 15 {
			formats = append(formats, kindMOBI)
		}
		for _, f := range formats {
			b.Files = append(b.Files, libFile{
				Path:  dir + "/" + b.Slug + "." + f,
				Kind:  f,
				Size:  2<<10 + r.IntN(58<<10+1), // 2–60 KiB
				Key:   fmt.Sprintf("book/%d/%s", id, f),
				MTime: b.Added.Add(time.Duration(r.IntN(3600)) * time.Second),
			})
		}
		// Every hundredth book was uploaded twice: same bytes, another
		// name. Backup tools should store it once.
		if i%100 == 0 {
			dup := b.Files[0]
			dup.Path = dir + "/" + b.Slug + " (1)." + dup.Kind
			dup.MTime = dup.MTime.Add(24 * time.Hour)
			b.Files = append(b.Files, dup)
		}
		if r.IntN(20) != 0 {
			b.Cover = &libFile{
				Path:  fmt.Sprintf("covers/%d.jpg", id),
				Kind:  kindJPEG,
				Size:  1<<10 + r.IntN(7<<10+1), // 1–8 KiB
				Key:   fmt.Sprintf("cover/%d", id),
				MTime: b.Added,
			}
		}
		c.Books = append(c.Books, b)
	}
	return c
}

// content returns the file's bytes: a format-typical header (so `file`
// and MIME sniffers recognise it) and pseudo-random, incompressible
// filler. The same key always yields the same bytes.
func (f libFile) content(seed int64) []byte {
	key := sha256.Sum256(fmt.Appendf(nil, "alexandria-sandbox/%d/%s", seed, f.Key))
	b := make([]byte, f.Size)
	_, _ = rand.NewChaCha8(key).Read(b) // never fails
	var head, trailer string
	switch f.Kind {
	case kindEPUB:
		head = "PK\x03\x04\x14\x00\x00\x00\x00\x00\x00\x00\x00\x00mimetypeapplication/epub+zip"
	case kindPDF:
		head, trailer = "%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "\n%%EOF\n"
	case kindMOBI:
		head = strings.Repeat("\x00", 60) + "BOOKMOBI"
	case kindJPEG:
		head, trailer = "\xff\xd8\xff\xe0\x00\x10JFIF\x00", "\xff\xd9"
	}
	copy(b, head)
	copy(b[len(b)-len(trailer):], trailer)
	return b
}

func pick(r *rand.Rand, list []string) string { return list[r.IntN(len(list))] }

// pickWeighted picks a value with probability proportional to its weight.
func pickWeighted(r *rand.Rand, list []weighted) string {
	total := 0
	for _, w := range list {
		total += w.weight
	}
	x := r.IntN(total)
	for _, w := range list {
		if x < w.weight {
			return w.value
		}
		x -= w.weight
	}
	return list[len(list)-1].value
}

type weighted struct {
	value  string
	weight int
}

// randTime returns a time in [epoch+from, epoch+to), whole seconds.
func randTime(r *rand.Rand, from, to time.Duration) time.Time {
	d := from + time.Duration(r.Int64N(int64(to-from)))
	return epoch.Add(d.Truncate(time.Second))
}

func containsID(ids []int64, id int64) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

func randomTitle(r *rand.Rand) string {
	switch r.IntN(6) {
	case 0:
		return "The " + pick(r, adjectives) + " " + pick(r, nouns)
	case 1:
		return pick(r, nouns) + " of " + pick(r, nouns) + "s"
	case 2:
		return "A " + pick(r, nouns) + " for the " + pick(r, adjectives) + " " + pick(r, nouns)
	case 3:
		return "The " + pick(r, nouns) + "'s " + pick(r, nouns)
	case 4:
		return pick(r, adjectives) + " " + pick(r, nouns) + "s"
	default:
		return "Beyond the " + pick(r, adjectives) + " " + pick(r, nouns)
	}
}

// sortName turns "Ursula K. Le Guin" (last name "Le Guin") into
// "Le Guin, Ursula K.".
func sortName(name, last string) string {
	return last + ", " + strings.TrimSpace(strings.TrimSuffix(name, last))
}

// isbn13 returns a valid ISBN-13 (978 prefix, correct check digit) for n;
// distinct n below 10^9 give distinct ISBNs.
func isbn13(n uint64) string {
	digits := fmt.Sprintf("978%09d", n%1_000_000_000)
	sum := 0
	for i, d := range digits {
		w := 1
		if i%2 == 1 {
			w = 3
		}
		sum += int(d-'0') * w
	}
	return digits + fmt.Sprint((10-sum%10)%10)
}

// slugify lowercases s, transliterates the few accented letters the name
// lists use, and joins runs of anything else with single dashes.
func slugify(s string) string {
	var b strings.Builder
	dash := false
	for _, c := range strings.ToLower(s) {
		if t, ok := translit[c]; ok {
			c = t
		}
		if (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			b.WriteRune(c)
			dash = false
		} else if c != '\'' { // "o'brien" -> "obrien"
			dash = true
		}
	}
	return b.String()
}

var translit = map[rune]rune{
	'á': 'a', 'à': 'a', 'å': 'a', 'ä': 'a', 'ç': 'c', 'é': 'e', 'è': 'e', 'ë': 'e',
	'í': 'i', 'ï': 'i', 'ñ': 'n', 'ó': 'o', 'ö': 'o', 'ø': 'o', 'ú': 'u', 'ü': 'u', 'ł': 'l',
}

// uniqueSlug returns slug, or slug-2, slug-3, … if taken, and records it.
func uniqueSlug(taken map[string]bool, slug string) string {
	s := slug
	for i := 2; taken[s]; i++ {
		s = fmt.Sprintf("%s-%d", slug, i)
	}
	taken[s] = true
	return s
}
