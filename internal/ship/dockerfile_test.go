package ship

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"regexp"
	"strings"
	"testing"
)

// The rules the Dockerfile keeps; checkDockerfile wraps each of these.
var (
	errUnpinned      = errors.New("base image not pinned by digest")
	errNoTagComment  = errors.New("pinned base image has no comment naming its tag")
	errFinalUser     = errors.New("final stage sets USER (GitHub runs container actions as the image's default user, root)")
	errFinalWorkdir  = errors.New("final stage sets WORKDIR (GitHub sets the working directory to the workspace)")
	errEntrypoint    = errors.New("ENTRYPOINT is not the built binary in exec form")
	errBuildFlags    = errors.New("the binary is not built static, trimmed and stamped")
	errDockerfileBad = errors.New("the Dockerfile does not parse")
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	cmd      string // upper case
	args     string
	line     int
	comments []string // the comment lines directly above it
}

type stage struct {
	from      instruction
	image     string // what FROM names
	name      string // AS name
	body      []instruction
	buildArgs map[string]string // ARG defaults and ENV values, for expanding the RUN lines
}

// parseDockerfile reads the subset of Dockerfile syntax an image like this uses: comments,
// continuation lines, global ARGs and stages.
func parseDockerfile(src string) ([]*stage, error) {
	var (
		stages   []*stage
		comments []string
		global   = map[string]string{}
	)
	lines := strings.Split(src, "\n")
	for i := 0; i < len(lines); i++ {
		line := strings.TrimSpace(lines[i])
		switch {
		case line == "":
			comments = nil
			continue
		case strings.HasPrefix(line, "#"):
			comments = append(comments, strings.TrimSpace(strings.TrimPrefix(line, "#")))
			continue
		}
		start := i + 1
		for strings.HasSuffix(line, `\`) && i+1 < len(lines) {
			i++
			next := strings.TrimSpace(lines[i])
			if strings.HasPrefix(next, "#") {
				continue
			}
			line = strings.TrimSuffix(line, `\`) + " " + next
		}
		cmd, args, _ := strings.Cut(line, " ")
		in := instruction{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args), line: start, comments: comments}
		comments = nil
		if in.cmd == "FROM" {
			st, err := newStage(in, global)
			if err != nil {
				return nil, err
			}
			stages = append(stages, st)
			continue
		}
		if len(stages) == 0 {
			if in.cmd != "ARG" {
				return nil, fmt.Errorf("%w: line %d: %s before the first FROM", errDockerfileBad, in.line, in.cmd)
			}
			setVars(global, in.args)
			continue
		}
		st := stages[len(stages)-1]
		st.body = append(st.body, in)
		if in.cmd == "ARG" || in.cmd == "ENV" {
			setVars(st.buildArgs, in.args)
		}
	}
	if len(stages) == 0 {
		return nil, fmt.Errorf("%w: no FROM", errDockerfileBad)
	}
	return stages, nil
}

func newStage(in instruction, global map[string]string) (*stage, error) {
	var words []string
	for _, w := range strings.Fields(in.args) {
		if !strings.HasPrefix(w, "--") { // --platform=…
			words = append(words, w)
		}
	}
	st := &stage{from: in, buildArgs: map[string]string{}}
	switch {
	case len(words) == 1:
	case len(words) == 3 && strings.EqualFold(words[1], "AS"):
		st.name = words[2]
	default:
		return nil, fmt.Errorf("%w: line %d: FROM %s", errDockerfileBad, in.line, in.args)
	}
	st.image = expand(words[0], global)
	return st, nil
}

// setVars records `ARG a=1 b` / `ENV a=1 b=2` (an ARG without a default is empty).
func setVars(vars map[string]string, args string) {
	for _, w := range strings.Fields(args) {
		k, v, _ := strings.Cut(w, "=")
		vars[k] = v
	}
}

var varRE = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)`)

func expand(s string, vars map[string]string) string {
	return varRE.ReplaceAllStringFunc(s, func(m string) string {
		return vars[strings.Trim(m, "${}")]
	})
}

// shellWords splits one shell command into words as sh would for the forms a RUN line here
// uses: quotes, variable expansion and leading NAME=value assignments. Lists, pipes and
// substitutions are refused: the build RUN is one plain command.
func shellWords(s string, vars map[string]string) ([]string, error) {
	var (
		words []string
		cur   strings.Builder
		inTok bool
		quote rune
	)
	flush := func() {
		if inTok {
			words = append(words, cur.String())
		}
		cur.Reset()
		inTok = false
	}
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case quote == '\'':
			if r == '\'' {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			if quote == r {
				quote = 0
			} else if quote == 0 {
				quote, inTok = r, true
			} else {
				cur.WriteRune(r)
			}
		case r == '$':
			m := varRE.FindStringSubmatch(string(rs[i:]))
			if m == nil || !strings.HasPrefix(string(rs[i:]), m[0]) {
				return nil, fmt.Errorf("unsupported $ expression in %q", s)
			}
			cur.WriteString(vars[m[1]+m[2]])
			inTok = true
			i += len([]rune(m[0])) - 1
		case quote == 0 && (r == ' ' || r == '\t'):
			flush()
		case quote == 0 && strings.ContainsRune(";&|`<>()", r):
			return nil, fmt.Errorf("not a single plain command (%q): %q", r, s)
		default:
			cur.WriteRune(r)
			inTok = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated quote in %q", s)
	}
	flush()
	return words, nil
}

// goBuild is the build stage's `go build`, as the Dockerfile runs it.
type goBuild struct {
	env    []string // the stage's ENV and the command's assignments
	args   []string // after "go build", -o and the package included
	output string   // -o
}

// findGoBuild finds the RUN that builds the binary, expanding variables with the stage's
// ARG defaults overridden by args (as --build-arg does).
func findGoBuild(st *stage, args map[string]string) (*goBuild, error) {
	vars := map[string]string{}
	for k, v := range st.buildArgs {
		vars[k] = v
	}
	for k, v := range args {
		vars[k] = v
	}
	var env []string
	for _, in := range st.body {
		if in.cmd == "ENV" {
			for _, w := range strings.Fields(in.args) {
				env = append(env, expand(w, vars))
			}
		}
		if in.cmd != "RUN" || !strings.Contains(in.args, "go build") {
			continue
		}
		words, err := shellWords(in.args, vars)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", in.line, err)
		}
		for len(words) > 0 && regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`).MatchString(words[0]) {
			env, words = append(env, words[0]), words[1:]
		}
		if len(words) < 2 || words[0] != "go" || words[1] != "build" {
			return nil, fmt.Errorf("line %d: want `go build …`, got %q", in.line, words)
		}
		b := &goBuild{env: env, args: words[2:]}
		b.output = b.value("o")
		return b, nil
	}
	return nil, fmt.Errorf("%w: no RUN with go build in stage %q", errBuildFlags, st.name)
}

// has reports whether the boolean flag -name is set.
func (b *goBuild) has(name string) bool {
	for _, w := range b.args {
		if w == "-"+name || w == "--"+name || w == "-"+name+"=true" {
			return true
		}
	}
	return false
}

// value returns the value of -name, given as `-name value` or `-name=value`.
func (b *goBuild) value(name string) string {
	for i, w := range b.args {
		switch {
		case (w == "-"+name || w == "--"+name) && i+1 < len(b.args):
			return b.args[i+1]
		case strings.HasPrefix(w, "-"+name+"="):
			return strings.TrimPrefix(w, "-"+name+"=")
		}
	}
	return ""
}

func (b *goBuild) envValue(k string) string {
	v := ""
	for _, e := range b.env {
		if name, val, ok := strings.Cut(e, "="); ok && name == k {
			v = val
		}
	}
	return v
}

const versionPkg = "github.com/bom-attest/bom-attest/internal/version"

var (
	digestRefRE = regexp.MustCompile(`^([^@\s]+)@sha256:[0-9a-f]{64}$`)
	tagRE       = regexp.MustCompile(`^(.+?)(?::([\w][\w.-]*))?$`)
)

// checkDockerfile applies the image rules; every broken rule is reported.
func checkDockerfile(stages []*stage) error {
	var errs []error
	names := map[string]bool{}
	for _, st := range stages {
		if names[st.image] {
			names[st.name] = true
			continue // FROM an earlier stage
		}
		names[st.name] = true
		m := digestRefRE.FindStringSubmatch(st.image)
		if m == nil {
			errs = append(errs, fmt.Errorf("%w: line %d: FROM %s", errUnpinned, st.from.line, st.image))
			continue
		}
		repoTag := tagRE.FindStringSubmatch(m[1])
		repo, tag := repoTag[1], repoTag[2]
		want := regexp.MustCompile(regexp.QuoteMeta(repo) + `:[\w][\w.-]*`)
		if tag != "" {
			want = regexp.MustCompile(regexp.QuoteMeta(repo+":"+tag) + `\b`)
		}
		if !want.MatchString(strings.Join(st.from.comments, " ")) {
			errs = append(errs, fmt.Errorf("%w: line %d: the comment above FROM must say %s:<tag>", errNoTagComment, st.from.line, repo))
		}
	}

	final := stages[len(stages)-1]
	copied := map[string]string{} // destination in the final stage -> source in the build stage
	var entrypoint *instruction
	for i, in := range final.body {
		switch in.cmd {
		case "USER":
			errs = append(errs, fmt.Errorf("%w: line %d", errFinalUser, in.line))
		case "WORKDIR":
			errs = append(errs, fmt.Errorf("%w: line %d", errFinalWorkdir, in.line))
		case "COPY":
			f := strings.Fields(in.args)
			if len(f) == 3 && strings.HasPrefix(f[0], "--from=") {
				copied[f[2]] = f[1]
			}
		case "ENTRYPOINT":
			entrypoint = &final.body[i]
		}
	}
	ep, err := execForm(entrypoint)
	if err != nil {
		errs = append(errs, err)
	}

	var build *goBuild
	for _, st := range stages[:len(stages)-1] {
		if b, err := findGoBuild(st, nil); err == nil {
			build = b
		}
	}
	switch {
	case build == nil:
		errs = append(errs, fmt.Errorf("%w: no build stage runs go build", errBuildFlags))
	default:
		errs = append(errs, checkGoBuild(build)...)
		if ep != nil && path.Clean(copied[ep[0]]) != path.Clean(build.output) {
			errs = append(errs, fmt.Errorf("%w: ENTRYPOINT %s is not the go build output %s copied into the final stage", errEntrypoint, ep[0], build.output))
		}
	}
	return errors.Join(errs...)
}

// execForm parses ENTRYPOINT ["/bin", ...]: shell form would run through /bin/sh, which a
// static image has not.
func execForm(in *instruction) ([]string, error) {
	if in == nil {
		return nil, fmt.Errorf("%w: final stage has no ENTRYPOINT", errEntrypoint)
	}
	var ep []string
	if err := json.Unmarshal([]byte(in.args), &ep); err != nil || len(ep) == 0 || !path.IsAbs(ep[0]) {
		return nil, fmt.Errorf("%w: line %d: ENTRYPOINT %s (want [\"/absolute/path\", …])", errEntrypoint, in.line, in.args)
	}
	return ep, nil
}

func checkGoBuild(b *goBuild) []error {
	var errs []error
	if b.envValue("CGO_ENABLED") != "0" {
		errs = append(errs, fmt.Errorf("%w: CGO_ENABLED=0 missing: the final image has no libc", errBuildFlags))
	}
	if !b.has("trimpath") {
		errs = append(errs, fmt.Errorf("%w: -trimpath missing: the binary would carry the builder's paths", errBuildFlags))
	}
	ld := b.value("ldflags")
	f := strings.Fields(ld)
	has := func(w string) bool {
		for _, x := range f {
			if x == w {
				return true
			}
		}
		return false
	}
	if !has("-s") || !has("-w") {
		errs = append(errs, fmt.Errorf("%w: -ldflags %q lacks -s -w", errBuildFlags, ld))
	}
	if !strings.Contains(ld, "-X "+versionPkg+".Version=") {
		errs = append(errs, fmt.Errorf("%w: -ldflags %q does not set %s.Version", errBuildFlags, ld, versionPkg))
	}
	if b.output == "" {
		errs = append(errs, fmt.Errorf("%w: no -o", errBuildFlags))
	}
	return errs
}

func readDockerfile(t *testing.T) []*stage {
	t.Helper()
	src, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	stages, err := parseDockerfile(string(src))
	if err != nil {
		t.Fatal(err)
	}
	return stages
}

func TestDockerfileRules(t *testing.T) {
	stages := readDockerfile(t)
	if err := checkDockerfile(stages); err != nil {
		t.Fatalf("Dockerfile breaks the image rules:\n%v", err)
	}
	for _, st := range stages {
		t.Logf("FROM %s", st.image)
	}
}

// The checker itself: each rule, broken once, is caught and named.
func TestCheckDockerfileCatches(t *testing.T) {
	good, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	src := string(good)
	golang := regexp.MustCompile(`golang:[^@\s]+@sha256:[0-9a-f]{64}`).FindString(src)
	distroless := regexp.MustCompile(`gcr\.io/distroless/[^@\s]+@sha256:[0-9a-f]{64}`).FindString(src)
	if golang == "" || distroless == "" {
		t.Fatal("the Dockerfile no longer names a pinned golang and distroless base; update this test")
	}
	entry := regexp.MustCompile(`(?m)^ENTRYPOINT .*$`).FindString(src)
	for _, tc := range []struct {
		name string
		edit func(string) string
		err  error
	}{
		{"as is", func(s string) string { return s }, nil},
		{"tag instead of digest", func(s string) string {
			return strings.Replace(s, distroless, "gcr.io/distroless/static-debian12:latest", 1)
		}, errUnpinned},
		{"digest without its tag comment", func(s string) string {
			return strings.Replace(s, "Base: golang:1.26.8-bookworm", "Base: the Go image", 1)
		}, errNoTagComment},
		{"USER in the final stage", func(s string) string { return strings.Replace(s, entry, "USER nonroot\n"+entry, 1) }, errFinalUser},
		{"WORKDIR in the final stage", func(s string) string { return strings.Replace(s, entry, "WORKDIR /app\n"+entry, 1) }, errFinalWorkdir},
		{"shell-form ENTRYPOINT", func(s string) string { return strings.Replace(s, entry, "ENTRYPOINT /bom-attest", 1) }, errEntrypoint},
		{"ENTRYPOINT not the built binary", func(s string) string { return strings.Replace(s, entry, `ENTRYPOINT ["/usr/bin/other"]`, 1) }, errEntrypoint},
		{"cgo left on", func(s string) string { return strings.Replace(s, "CGO_ENABLED=0", "CGO_ENABLED=1", 1) }, errBuildFlags},
		{"no -trimpath", func(s string) string { return strings.Replace(s, " -trimpath", "", 1) }, errBuildFlags},
		{"symbols kept", func(s string) string { return strings.Replace(s, `"-s -w `, `"`, 1) }, errBuildFlags},
		{"version not stamped", func(s string) string { return strings.Replace(s, versionPkg+".Version", versionPkg+".Vers", 1) }, errBuildFlags},
	} {
		t.Run(tc.name, func(t *testing.T) {
			edited := tc.edit(src)
			if tc.err != nil && edited == src {
				t.Fatal("the edit changed nothing; update this test to the Dockerfile")
			}
			stages, err := parseDockerfile(edited)
			if err == nil {
				err = checkDockerfile(stages)
			}
			if !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
				t.Errorf("got %v, want %v", err, tc.err)
			}
		})
	}
}
