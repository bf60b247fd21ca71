package statuspage

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alexandria-backup/alexandria-backup/plan"
)

// requireChromium skips without Chromium, except under CI, where
// scripts/deps.sh has installed it and its absence is a failure.
func requireChromium(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: skipping the test in headless Chromium")
	}
	path, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("chromium is not installed (scripts/deps.sh installs it)")
		}
		t.Skip("chromium is not installed: sudo apt-get install chromium")
	}
	return path
}

// chromium renders the file page in headless Chromium with every host name
// resolving to nowhere, and returns what mode asks for: the DOM after
// rendering (--dump-dom) or a screenshot's path. netLog, when not "",
// receives Chromium's network log.
func chromium(t *testing.T, bin, page, mode, netLog string) []byte {
	t.Helper()
	dir := t.TempDir()
	shot := filepath.Join(dir, "shot.png")
	args := []string{"--headless", "--disable-gpu", "--no-sandbox", "--user-data-dir=" + filepath.Join(dir, "profile"),
		"--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--host-resolver-rules=MAP * ~NOTFOUND",
		// One CSS pixel per pixel, colours as written: the bars' colours
		// are looked for exactly.
		"--force-color-profile=srgb", "--force-device-scale-factor=1", "--hide-scrollbars",
		// Narrow: each chart on its own rows of pixels.
		"--window-size=600,2400"}
	if netLog != "" {
		args = append(args, "--log-net-log="+netLog)
	}
	switch mode {
	case "dom":
		args = append(args, "--dump-dom")
	case "screenshot":
		args = append(args, "--screenshot="+shot)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append(args, "file://"+page)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Env = append(os.Environ(), "HOME="+dir)
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, stderr.String())
	}
	if mode == "screenshot" {
		data, err := os.ReadFile(shot)
		if err != nil {
			t.Fatalf("no screenshot: %v\n%s", err, stderr.String())
		}
		return data
	}
	return stdout.Bytes()
}

// pageRequests is every URL the page itself asked for, from Chromium's
// network log: requests whose isolation key is the file:// page's
// (Chromium's own background requests have none).
func pageRequests(t *testing.T, netLog string) []string {
	t.Helper()
	data, err := os.ReadFile(netLog)
	if err != nil {
		t.Fatal(err)
	}
	var log struct {
		Events []struct {
			Params map[string]any `json:"params"`
		} `json:"events"`
	}
	if err := json.Unmarshal(data, &log); err != nil {
		t.Fatalf("net log: %v", err)
	}
	var urls []string
	for _, e := range log.Events {
		key, _ := e.Params["network_isolation_key"].(string)
		url, _ := e.Params["url"].(string)
		if url != "" && strings.HasPrefix(key, "file://") {
			urls = append(urls, url)
		}
	}
	return urls
}

// The page in a browser: drawn without the network, hostile names as
// text, and the bars where and of the colour they should be.
func TestRenderedInChromium(t *testing.T) {
	bin := requireChromium(t)
	dir := t.TempDir()
	const hostile = `<script>document.body.innerHTML=""</script>`
	mib := func(n int64) plan.TargetReport { return okRun(n<<20, float64(n)) }
	writeRuns(t, dir, "daily", []map[string]plan.TargetReport{
		{"steady": mib(1), hostile: mib(1)},
		{"steady": mib(2), hostile: mib(2)},
		{"steady": mib(3), hostile: mib(4)},
		{"steady": mib(4), hostile: failedRun(2, "pg_dump: connection refused")},
		{"steady": mib(5), hostile: failedRun(4, "pg_dump: connection refused")},
	})
	sum := summary("steady", hostile)
	sum.Targets[1].Status = plan.StatusFailed
	page := filepath.Join(dir, "status.html")
	if err := newPage(t, sum, dir).WriteFile(page); err != nil {
		t.Fatal(err)
	}

	// The DOM after rendering: the hostile name is a heading's text, no
	// script ran or exists, every bar is there.
	dom := string(chromium(t, bin, page, "dom", ""))
	if strings.Contains(dom, "<script") || !strings.Contains(dom, "&lt;script&gt;document.body.innerHTML") {
		t.Errorf("the hostile name is not text in the DOM:\n%s", dom)
	}
	if n := strings.Count(dom, "<rect "); n != 20 {
		t.Errorf("%d bars in the DOM, want 20 (2 targets × 2 charts × 5 runs)", n)
	}

	// The screenshot, with the page's own requests logged.
	netLog := filepath.Join(dir, "net.json")
	img, err := png.Decode(bytes.NewReader(chromium(t, bin, page, "screenshot", netLog)))
	if err != nil {
		t.Fatal(err)
	}
	if urls := pageRequests(t, netLog); len(urls) > 0 {
		t.Errorf("the page asked the network for %v", urls)
	}
	charts := barsIn(img)
	if len(charts) != 4 {
		t.Fatalf("%d charts drawn, want 4 (size and duration of 2 targets): %v", len(charts), charts)
	}
	// Heights in pixels, each ±1: a full bar is ChartHeight (60).
	for i, want := range []string{
		"green12 green24 green36 green48 green60", // steady's size: 1..5 MiB
		"green12 green24 green36 green48 green60", // steady's duration: 1..5 s
		"green15 green30 green60 red2 red2",       // the hostile target's size: no backup when failed
		"green15 green30 green60 red30 red60",     // and its duration: the failures took 2 s and 4 s
	} {
		if !sameBars(charts[i], want) {
			t.Errorf("chart %d: drawn %v, want %s", i, charts[i], want)
		}
	}
}

// The network check can fail: a page that loads an image and a
// stylesheet is caught, even with every name resolving nowhere.
func TestChromiumSeesPageRequests(t *testing.T) {
	bin := requireChromium(t)
	dir := t.TempDir()
	page := filepath.Join(dir, "fetching.html")
	os.WriteFile(page, []byte(`<!DOCTYPE html><img src="http://example.invalid/x.png"><link rel="stylesheet" href="https://fonts.example.invalid/a.css">`), 0o644)
	netLog := filepath.Join(dir, "net.json")
	chromium(t, bin, page, "screenshot", netLog)
	if urls := pageRequests(t, netLog); len(urls) < 2 {
		t.Errorf("page requests seen: %v, want the image and the stylesheet", urls)
	}
}

// drawnBar is one bar found in a screenshot: its colour and height.
type drawnBar struct {
	colour string
	height int
}

func (b drawnBar) String() string { return fmt.Sprintf("%s%d", b.colour, b.height) }

// barsIn finds the bars of the page's colours in a screenshot: each chart
// is a band of rows holding bar pixels, each bar a run of columns in it.
func barsIn(img image.Image) [][]drawnBar {
	colours := map[string][3]uint8{"green": rgb(ColourOK), "red": rgb(ColourFailed), "amber": rgb(ColourWarning), "grey": rgb(ColourSkipped)}
	b := img.Bounds()
	at := func(x, y int) string {
		r, g, bl, _ := img.At(x, y).RGBA()
		for name, c := range colours {
			if near(r>>8, c[0]) && near(g>>8, c[1]) && near(bl>>8, c[2]) {
				return name
			}
		}
		return ""
	}
	var charts [][]drawnBar
	for y := b.Min.Y; y < b.Max.Y; {
		if !rowHasBar(b, y, at) {
			y++
			continue
		}
		top := y
		for y < b.Max.Y && rowHasBar(b, y, at) {
			y++
		}
		// Columns of the band [top, y): count each column's bar pixels.
		var bars []drawnBar
		for x := b.Min.X; x < b.Max.X; {
			colour, _ := column(top, y, x, at)
			if colour == "" {
				x++
				continue
			}
			bar := drawnBar{colour: colour}
			for ; x < b.Max.X; x++ {
				c, h := column(top, y, x, at)
				if c == "" {
					break
				}
				bar.height = max(bar.height, h)
			}
			bars = append(bars, bar)
		}
		charts = append(charts, bars)
	}
	return charts
}

func rowHasBar(b image.Rectangle, y int, at func(x, y int) string) bool {
	for x := b.Min.X; x < b.Max.X; x++ {
		if at(x, y) != "" {
			return true
		}
	}
	return false
}

// column is the colour and count of the bar pixels of column x in rows
// [top, bottom).
func column(top, bottom, x int, at func(x, y int) string) (string, int) {
	colour, n := "", 0
	for y := top; y < bottom; y++ {
		if c := at(x, y); c != "" {
			colour, n = c, n+1
		}
	}
	return colour, n
}

func rgb(hex string) [3]uint8 {
	var c [3]uint8
	fmt.Sscanf(hex, "#%02x%02x%02x", &c[0], &c[1], &c[2])
	return c
}

func near(a uint32, b uint8) bool { return int(a)-int(b) <= 2 && int(b)-int(a) <= 2 }

// sameBars: the bars drawn are want's ("green12 red60"), heights ±1 pixel.
func sameBars(got []drawnBar, want string) bool {
	w := strings.Fields(want)
	if len(got) != len(w) {
		return false
	}
	for i, b := range got {
		var colour string
		var h int
		j := strings.IndexAny(w[i], "0123456789")
		colour = w[i][:j]
		fmt.Sscan(w[i][j:], &h)
		if b.colour != colour || b.height < h-1 || b.height > h+1 {
			return false
		}
	}
	return true
}
