package ship

import (
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// ignoreRule is one .dockerignore line.
type ignoreRule struct {
	re     *regexp.Regexp
	negate bool
}

// parseDockerignore follows Docker's documented rules: one pattern a line, # comments,
// a leading ! re-includes, the last matching line wins, ** matches any number of directories,
// and a pattern that matches a directory matches everything under it.
func parseDockerignore(src string) []ignoreRule {
	var rules []ignoreRule
	for _, line := range strings.Split(src, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		r := ignoreRule{}
		if strings.HasPrefix(line, "!") {
			r.negate, line = true, strings.TrimSpace(line[1:])
		}
		line = strings.TrimPrefix(path.Clean(line), "/")
		var re strings.Builder
		re.WriteString("^")
		for i := 0; i < len(line); i++ {
			switch c := line[i]; {
			case strings.HasPrefix(line[i:], "**/"):
				re.WriteString("(.*/)?")
				i += 2
			case strings.HasPrefix(line[i:], "**"):
				re.WriteString(".*")
				i++
			case c == '*':
				re.WriteString("[^/]*")
			case c == '?':
				re.WriteString("[^/]")
			default:
				re.WriteString(regexp.QuoteMeta(string(c)))
			}
		}
		re.WriteString("$")
		r.re = regexp.MustCompile(re.String())
		rules = append(rules, r)
	}
	return rules
}

// excluded reports whether the context leaves out the file at rel (slash-separated).
func excluded(rules []ignoreRule, rel string) bool {
	out := false
	for _, r := range rules {
		for p := rel; p != "." && p != "/"; p = path.Dir(p) {
			if r.re.MatchString(p) {
				out = !r.negate
				break
			}
		}
	}
	return out
}

func TestDockerignoreMatcher(t *testing.T) {
	rules := parseDockerignore("*\n!internal\n**/testdata\n**/*_test.go\n!keep/**/x.go\n")
	for rel, want := range map[string]bool{
		"README.md": true, "internal/run/run.go": false, "internal/run/run_test.go": true,
		"internal/check/schema/bom-1.6.schema.json": false, "internal/mlbom/testdata/a/b.json": true,
		"keep/a/b/x.go": false, ".git/HEAD": true,
	} {
		if got := excluded(rules, rel); got != want {
			t.Errorf("excluded(%s) = %v, want %v", rel, got, want)
		}
	}
}

// The build context holds every file `go build` reads for both release platforms, and little
// else: no tests, no test data, no git history, no local output.
func TestDockerignoreKeepsBuildInputs(t *testing.T) {
	src, err := os.ReadFile("../../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	rules := parseDockerignore(string(src))
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}

	needed := map[string]bool{"go.mod": true, "go.sum": true}
	for _, arch := range []string{"amd64", "arm64"} {
		cmd := exec.Command("go", "list", "-deps", "-f",
			`{{if .Module}}{{if .Module.Main}}{{$d := .Dir}}{{range .GoFiles}}{{$d}}/{{.}}{{"\n"}}{{end}}{{range .EmbedFiles}}{{$d}}/{{.}}{{"\n"}}{{end}}{{end}}{{end}}`, ".")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local", "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list: %v", err)
		}
		for _, f := range strings.Fields(string(out)) {
			rel, err := filepath.Rel(root, f)
			if err != nil {
				t.Fatal(err)
			}
			needed[filepath.ToSlash(rel)] = true
		}
	}
	if len(needed) < 20 {
		t.Fatalf("go list named only %d files; the listing is broken", len(needed))
	}
	for f := range needed {
		if excluded(rules, f) {
			t.Errorf(".dockerignore leaves out %s, which go build reads", f)
		}
	}

	var size, files int64
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		if rel == "." || d.IsDir() || excluded(rules, rel) {
			return nil
		}
		for _, bad := range []string{".git/", "testdata/", "bom-attest-out/", "bench/"} {
			if strings.HasPrefix(rel, bad) || strings.Contains(rel, "/"+bad) {
				t.Errorf("the build context holds %s", rel)
			}
		}
		if strings.HasSuffix(rel, "_test.go") {
			t.Errorf("the build context holds the test %s", rel)
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		size += info.Size()
		files++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("build context: %d files, %d KiB", files, size>>10)
}
