package run_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/bom-attest/bom-attest/internal/run"
)

// TestLocalRun is README's first command, in process: flags instead of INPUT_*, no runner
// files, so outputs go to stdout and the summary into output-dir.
func TestLocalRun(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	var stdout, stderr bytes.Buffer
	code := run.Main(context.Background(), run.Env{
		Args:   []string{"--image", "oci-dir:../../testdata/sample-image", "--dry-run", "true", "--output-dir", out},
		Getenv: func(string) string { return "" },
		Stdout: &stdout, Stderr: &stderr,
	})
	if code != run.ExitOK {
		t.Fatalf("exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
	for _, want := range []string{"==> scan linux/amd64", "dry-run=true\n", "sbom-path=" + filepath.Join(out, "sbom.cdx.json"), "summary: "} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout.String())
		}
	}
	if strings.Contains(stdout.String(), "::") {
		t.Errorf("a local run printed workflow commands:\n%s", stdout.String())
	}
	summary, err := os.ReadFile(filepath.Join(out, "summary.md"))
	if err != nil || !strings.Contains(string(summary), "**Dry run**") {
		t.Errorf("summary.md: %v\n%s", err, summary)
	}

	// The attested SBOM leaves Syft's guessed CPE candidates and further locations out; the
	// full one, next to it, has them, and the summary says so and where it is.
	attested, err := os.ReadFile(filepath.Join(out, "sbom.cdx.json"))
	if err != nil {
		t.Fatal(err)
	}
	full, err := os.ReadFile(filepath.Join(out, "sbom.full.cdx.json"))
	if err != nil {
		t.Fatalf("no full SBOM next to the attested one: %v", err)
	}
	if strings.Contains(string(attested), `"syft:cpe23"`) || !strings.Contains(string(full), `"syft:cpe23"`) || len(full) <= len(attested) {
		t.Errorf("attested (%d bytes) and full (%d bytes) SBOMs: the guessed CPEs are not where they belong", len(attested), len(full))
	}
	raw, err := os.ReadFile(filepath.Join(out, "sbom.intoto.json"))
	if err != nil {
		t.Fatal(err)
	}
	var st struct{ Predicate any }
	var want any
	if err := json.Unmarshal(raw, &st); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(attested, &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(st.Predicate, want) {
		t.Error("the statement's predicate is not the attested SBOM")
	}
	for _, want := range []string{"leaves out", "guessed CPE candidates", "`" + filepath.Join(out, "sbom.full.cdx.json") + "`"} {
		if !strings.Contains(string(summary), want) {
			t.Errorf("summary.md lacks %q:\n%s", want, summary)
		}
	}
}

func TestHelpAndBadFlag(t *testing.T) {
	var stdout, stderr bytes.Buffer
	env := run.Env{Getenv: func(string) string { return "" }, Stdout: &stdout, Stderr: &stderr}
	env.Args = []string{"--help"}
	if code := run.Main(context.Background(), env); code != run.ExitOK || !strings.Contains(stderr.String(), "-subject-digest") {
		t.Errorf("--help: exit %d\n%s", code, stderr.String())
	}
	env.Args = []string{"--no-such-input", "x"}
	if code := run.Main(context.Background(), env); code != run.ExitFailed {
		t.Errorf("unknown flag: exit %d", code)
	}
	env.Args = []string{"verify", "--help"}
	if code := run.Main(context.Background(), env); code != run.ExitOK || !strings.Contains(stderr.String(), "--from-registry") {
		t.Errorf("verify --help: exit %d\n%s", code, stderr.String())
	}
}
