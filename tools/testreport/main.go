// Command testreport reads `go test -json` on stdin and prints what a
// person (or CI) needs: each package's result, the full output of every
// failed test, the skipped tests with their reasons, and one closing line
// "N passed, N failed, N skipped". It exits 1 when anything failed.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
)

type event struct {
	Action  string
	Package string
	Test    string
	Output  string
	Elapsed float64
}

func main() {
	output := map[string][]string{} // package/test → its output lines
	var passed, failed, skipped int
	var failures, skips []string
	badPackages := 0
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 16<<20)
	for in.Scan() {
		var e event
		if err := json.Unmarshal(in.Bytes(), &e); err != nil {
			fmt.Println(in.Text()) // build errors and other plain lines
			continue
		}
		key := e.Package + " " + e.Test
		switch e.Action {
		case "output", "build-output":
			output[key] = append(output[key], e.Output)
		case "pass":
			if e.Test == "" {
				fmt.Printf("ok    %s %.1fs\n", e.Package, e.Elapsed)
			} else if !strings.Contains(e.Test, "/") {
				passed++
			}
		case "skip":
			if e.Test == "" {
				fmt.Printf("--    %s (no tests)\n", e.Package)
			} else {
				skipped++
				reason := ""
				for _, l := range output[key] {
					if s := strings.TrimSpace(l); strings.Contains(s, ".go:") {
						reason = s
					}
				}
				skips = append(skips, fmt.Sprintf("%s %s: %s", e.Package, e.Test, reason))
			}
		case "fail":
			if e.Test == "" {
				badPackages++
				fmt.Printf("FAIL  %s %.1fs\n", e.Package, e.Elapsed)
				if len(output[key]) > 0 {
					failures = append(failures, "=== "+e.Package+"\n"+strings.Join(output[key], ""))
				}
			} else {
				if !strings.Contains(e.Test, "/") {
					failed++
				}
				failures = append(failures, "=== "+e.Package+" "+e.Test+"\n"+strings.Join(output[key], ""))
			}
		}
	}
	sort.Strings(skips)
	if len(skips) > 0 {
		fmt.Println("\nskipped:")
		for _, s := range skips {
			fmt.Println("  " + s)
		}
	}
	if len(failures) > 0 {
		fmt.Println("\nfailures:")
		for _, f := range failures {
			fmt.Print(f)
		}
	}
	fmt.Printf("\n%d passed, %d failed, %d skipped\n", passed, failed, skipped)
	if failed > 0 || badPackages > 0 {
		os.Exit(1)
	}
}
