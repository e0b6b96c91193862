package config

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/CycloneDX/cyclonedx-go"

	"github.com/bom-attest/bom-attest/internal/image"
)

const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// env builds a Getenv from INPUT_* style pairs, as the runner would set them.
func env(kv map[string]string) Getenv {
	return func(k string) string { return kv[k] }
}

func TestLoadValid(t *testing.T) {
	c, err := Load(nil, env(map[string]string{
		"INPUT_SUBJECT-NAME":   "GHCR.io/Acme/Voice-Agent",
		"INPUT_SUBJECT-DIGEST": digest,
		"INPUT_PLATFORMS":      "linux/amd64,\nlinux/arm64/v8",
	}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.ImageKind != image.KindRegistry || c.ImageRef != "ghcr.io/acme/voice-agent@"+digest {
		t.Errorf("image = %s %s", c.ImageKind, c.ImageRef)
	}
	if c.SubjectName != "ghcr.io/acme/voice-agent" {
		t.Errorf("subject-name = %q", c.SubjectName)
	}
	if !c.DryRun || !strings.Contains(c.DryRunReason, "ACTIONS_ID_TOKEN_REQUEST_URL") {
		t.Errorf("dry run = %v %q; want auto dry run without a token", c.DryRun, c.DryRunReason)
	}
	if got := strings.Join(c.Platforms, " "); got != "linux/amd64 linux/arm64/v8" {
		t.Errorf("platforms = %q", got)
	}
	if c.SpecVersion != cyclonedx.SpecVersion1_6 || !c.ShowSummary || !c.ScanModels || c.OutputDir != "bom-attest-out" || !c.CreateStorageRecord || c.SubjectVersion != "" {
		t.Errorf("defaults wrong: %+v", c)
	}
	if c.ImageLimits != (image.Limits{MaxBytes: image.DefaultMaxBytes, MaxEntries: image.DefaultMaxEntries}) {
		t.Errorf("image limits = %+v, want the image package's defaults", c.ImageLimits)
	}
}

func TestImageLimits(t *testing.T) {
	for in, want := range map[string]int64{"1": 1, "512 MiB": 512 << 20, "32GiB": 32 << 30, "2TiB": 2 << 40, "100B": 100} {
		c, err := Load(nil, env(map[string]string{"INPUT_IMAGE": "ghcr.io/a/b@" + digest, "INPUT_MAX-IMAGE-BYTES": in, "INPUT_MAX-IMAGE-ENTRIES": "250000"}), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if c.ImageLimits.MaxBytes != want || c.ImageLimits.MaxEntries != 250000 {
			t.Errorf("%s: limits = %+v, want %d bytes", in, c.ImageLimits, want)
		}
	}
}

func TestFlagsOverrideInputs(t *testing.T) {
	dir := t.TempDir()
	c, err := Load([]string{"--image", "oci-dir:" + dir, "--dry-run", "true", "--cyclonedx-version", "1.7"},
		env(map[string]string{"INPUT_CYCLONEDX-VERSION": "1.5", "INPUT_IMAGE": "nope"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.ImageKind != image.KindOCIDir || c.ImageRef != dir || c.SpecVersion != cyclonedx.SpecVersion1_7 || !c.DryRun {
		t.Errorf("got %+v", c)
	}
}

func TestDryRunAutoWithToken(t *testing.T) {
	c, err := Load(nil, env(map[string]string{
		"INPUT_IMAGE": "ghcr.io/acme/app@" + digest, "ACTIONS_ID_TOKEN_REQUEST_URL": "https://token.example/x?a=1",
		"GITHUB_ACTIONS": "true", "RUNNER_TEMP": t.TempDir(), "INPUT_GITHUB-TOKEN": "ghs_test",
	}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.DryRun {
		t.Error("dry run with an OIDC token available")
	}
	if filepath.Base(c.OutputDir) != "bom-attest" {
		t.Errorf("output dir = %q, want $RUNNER_TEMP/bom-attest", c.OutputDir)
	}
}

func TestEventVisibility(t *testing.T) {
	ev := filepath.Join(t.TempDir(), "event.json")
	os.WriteFile(ev, []byte(`{"repository":{"visibility":"public"}}`), 0o644)
	c, err := Load(nil, env(map[string]string{"INPUT_IMAGE": "ghcr.io/acme/app@" + digest, "GITHUB_EVENT_PATH": ev}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.GitHub.Visibility != "public" {
		t.Errorf("visibility = %q", c.GitHub.Visibility)
	}
}

func TestLoadInvalid(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f.txt")
	os.WriteFile(file, []byte("x"), 0o644)
	img := "ghcr.io/acme/app@" + digest
	tests := []struct {
		name  string
		input map[string]string // INPUT_* names without the prefix
		env   map[string]string
		want  string // the input named in the error
		err   error
	}{
		{"nothing to scan", map[string]string{}, nil, "image", ErrInvalid},
		{"name without digest", map[string]string{"SUBJECT-NAME": "ghcr.io/a/b"}, nil, "subject-digest", ErrInvalid},
		{"bad digest", map[string]string{"IMAGE": img, "SUBJECT-DIGEST": "sha256:abc"}, nil, "subject-digest", ErrInvalid},
		{"uppercase digest", map[string]string{"IMAGE": img, "SUBJECT-DIGEST": strings.ToUpper(digest)}, nil, "subject-digest", ErrInvalid},
		{"digest differs from image", map[string]string{"IMAGE": img, "SUBJECT-DIGEST": "sha256:" + strings.Repeat("f", 64)}, nil, "subject-digest", ErrInvalid},
		{"subject-name with tag", map[string]string{"IMAGE": img, "SUBJECT-NAME": "ghcr.io/a/b:1.0"}, nil, "subject-name", ErrInvalid},
		{"image without tag or digest", map[string]string{"IMAGE": "ghcr.io/acme/app"}, nil, "image", ErrInvalid},
		{"image garbage", map[string]string{"IMAGE": "ghcr.io/acme/app@@x"}, nil, "image", ErrInvalid},
		{"oci-dir missing", map[string]string{"IMAGE": "oci-dir:" + filepath.Join(dir, "nope")}, nil, "image", ErrInvalid},
		{"oci-dir is file", map[string]string{"IMAGE": "oci-dir:" + file}, nil, "image", ErrInvalid},
		{"oci-archive is dir", map[string]string{"IMAGE": "oci-archive:" + dir}, nil, "image", ErrInvalid},
		{"oci-archive empty path", map[string]string{"IMAGE": "oci-archive:"}, nil, "image", ErrInvalid},
		{"platform without arch", map[string]string{"IMAGE": img, "PLATFORMS": "linux"}, nil, "platforms", ErrInvalid},
		{"platform twice", map[string]string{"IMAGE": img, "PLATFORMS": "linux/amd64,linux/amd64"}, nil, "platforms", ErrInvalid},
		{"platforms blank", map[string]string{"IMAGE": img, "PLATFORMS": ","}, nil, "platforms", ErrInvalid},
		{"max-image-bytes in GB", map[string]string{"IMAGE": img, "MAX-IMAGE-BYTES": "32GB"}, nil, "max-image-bytes", ErrInvalid},
		{"max-image-bytes zero", map[string]string{"IMAGE": img, "MAX-IMAGE-BYTES": "0"}, nil, "max-image-bytes", ErrInvalid},
		{"max-image-bytes overflows", map[string]string{"IMAGE": img, "MAX-IMAGE-BYTES": "9999999999999999TiB"}, nil, "max-image-bytes", ErrInvalid},
		{"max-image-entries negative", map[string]string{"IMAGE": img, "MAX-IMAGE-ENTRIES": "-1"}, nil, "max-image-entries", ErrInvalid},
		{"max-image-entries 1e6", map[string]string{"IMAGE": img, "MAX-IMAGE-ENTRIES": "1e6"}, nil, "max-image-entries", ErrInvalid},
		{"cyclonedx 1.4", map[string]string{"IMAGE": img, "CYCLONEDX-VERSION": "1.4"}, nil, "cyclonedx-version", ErrInvalid},
		{"dry-run yes", map[string]string{"IMAGE": img, "DRY-RUN": "yes"}, nil, "dry-run", ErrInvalid},
		{"dry-run false without token", map[string]string{"IMAGE": img, "DRY-RUN": "false"}, nil, "dry-run", ErrInvalid},
		{"show-summary True", map[string]string{"IMAGE": img, "SHOW-SUMMARY": "True"}, nil, "show-summary", ErrInvalid},
		{"scan-models 1", map[string]string{"IMAGE": img, "SCAN-MODELS": "1"}, nil, "scan-models", ErrInvalid},
		{"push-to-registry on", map[string]string{"IMAGE": img, "PUSH-TO-REGISTRY": "on"}, nil, "push-to-registry", ErrInvalid},
		{"push local image", map[string]string{"IMAGE": "oci-dir:" + dir, "PUSH-TO-REGISTRY": "true"}, nil, "push-to-registry", ErrInvalid},
		{"unmatched ignore", map[string]string{"IMAGE": img, "UNMATCHED-PATCHES": "ignore"}, nil, "unmatched-patches", ErrInvalid},
		{"namespace space", map[string]string{"IMAGE": img, "PROPERTY-NAMESPACE": "my ns"}, nil, "property-namespace", ErrInvalid},
		{"patches-dir missing", map[string]string{"IMAGE": img, "PATCHES-DIR": filepath.Join(dir, "none")}, nil, "patches-dir", ErrInvalid},
		{"patches-dir is file", map[string]string{"IMAGE": img, "PATCHES-DIR": file}, nil, "patches-dir", ErrInvalid},
		{"base url ftp", map[string]string{"IMAGE": img, "PATCHES-DIR": dir, "PATCHES-BASE-URL": "ftp://x/y"}, nil, "patches-base-url", ErrInvalid},
		{"base url without dir", map[string]string{"IMAGE": img, "PATCHES-BASE-URL": "https://x/y/"}, nil, "patches-base-url", ErrInvalid},
		{"constraints missing", map[string]string{"IMAGE": img, "CONSTRAINT-OVERRIDES": filepath.Join(dir, "c.txt")}, nil, "constraint-overrides", ErrInvalid},
		{"manifest is dir", map[string]string{"IMAGE": img, "MODEL-MANIFEST": dir}, nil, "model-manifest", ErrInvalid},
		{"trusted-root missing", map[string]string{"IMAGE": img, "TRUSTED-ROOT": filepath.Join(dir, "tr.json")}, nil, "trusted-root", ErrInvalid},
		{"attestations unknown", map[string]string{"IMAGE": img, "ATTESTATIONS": "sbom,vex"}, nil, "attestations", ErrInvalid},
		{"sigstore private", map[string]string{"IMAGE": img, "SIGSTORE": "private"}, nil, "sigstore", ErrInvalid},
		{"fulcio not url", map[string]string{"IMAGE": img, "FULCIO-URL": "fulcio.local"}, nil, "fulcio-url", ErrInvalid},
		{"rekor not http", map[string]string{"IMAGE": img, "REKOR-URL": "grpc://rekor"}, nil, "rekor-url", ErrInvalid},
		{"tsa no host", map[string]string{"IMAGE": img, "TSA-URL": "https://"}, nil, "tsa-url", ErrInvalid},
		{"referrers both", map[string]string{"IMAGE": img, "REFERRERS-MODE": "both"}, nil, "referrers-mode", ErrInvalid},
		{"create-storage-record yes", map[string]string{"IMAGE": img, "CREATE-STORAGE-RECORD": "yes"}, nil, "create-storage-record", ErrInvalid},
		{"subject-version two lines", map[string]string{"IMAGE": img, "SUBJECT-VERSION": "v1\n::warning::x"}, nil, "subject-version", ErrInvalid},
		{"predicate type not uri", map[string]string{"IMAGE": img, "MLBOM-PREDICATE-TYPE": "cyclonedx"}, nil, "mlbom-predicate-type", ErrInvalid},
		{"output-dir is file", map[string]string{"IMAGE": img, "OUTPUT-DIR": file}, nil, "output-dir", ErrInvalid},
		{"bad SOURCE_DATE_EPOCH", map[string]string{"IMAGE": img}, map[string]string{"SOURCE_DATE_EPOCH": "yesterday"}, "SOURCE_DATE_EPOCH", ErrInvalid},
		{"vulnerability-scan yes", map[string]string{"IMAGE": img, "VULNERABILITY-SCAN": "yes"}, nil, "vulnerability-scan", ErrInvalid},
		{"max age in days", map[string]string{"IMAGE": img, "VULNERABILITY-SCAN": "true", "GRYPE-DB-MAX-AGE": "5d"}, nil, "grype-db-max-age", ErrInvalid},
		{"max age negative", map[string]string{"IMAGE": img, "VULNERABILITY-SCAN": "true", "GRYPE-DB-MAX-AGE": "-1h"}, nil, "grype-db-max-age", ErrInvalid},
		{"fail-on severe", map[string]string{"IMAGE": img, "VULNERABILITY-SCAN": "true", "FAIL-ON-SEVERITY": "severe"}, nil, "fail-on-severity", ErrInvalid},
		{"gate without scan", map[string]string{"IMAGE": img, "FAIL-ON-SEVERITY": "high"}, nil, "fail-on-severity", ErrInvalid},
		{"only-fixed without scan", map[string]string{"IMAGE": img, "ONLY-FIXED": "true"}, nil, "only-fixed", ErrInvalid},
		{"vex without scan", map[string]string{"IMAGE": img, "VEX": file}, nil, "vex", ErrInvalid},
		{"vex missing", map[string]string{"IMAGE": img, "VULNERABILITY-SCAN": "true", "VEX": filepath.Join(dir, "vex.json")}, nil, "vex", ErrInvalid},
		{"vex glob matches nothing", map[string]string{"IMAGE": img, "VULNERABILITY-SCAN": "true", "VEX": filepath.Join(dir, "*.openvex.json")}, nil, "vex", ErrInvalid},
		{"vex bad glob", map[string]string{"IMAGE": img, "VULNERABILITY-SCAN": "true", "VEX": filepath.Join(dir, "[.json")}, nil, "vex", ErrInvalid},
		{"grype-db-url ftp", map[string]string{"IMAGE": img, "VULNERABILITY-SCAN": "true", "GRYPE-DB-URL": "ftp://mirror/db"}, nil, "grype-db-url", ErrInvalid},
		{"grype-db-dir is file", map[string]string{"IMAGE": img, "VULNERABILITY-SCAN": "true", "GRYPE-DB-DIR": file}, nil, "grype-db-dir", ErrInvalid},
		{"images and image", map[string]string{"IMAGE": img, "IMAGES": img}, nil, "images", ErrInvalid},
		{"images and subject-digest", map[string]string{"SUBJECT-DIGEST": digest, "IMAGES": img}, nil, "images", ErrInvalid},
		{"images entry with a tag", map[string]string{"IMAGES": "ghcr.io/acme/app:1.0@" + digest}, nil, "images", ErrInvalid},
		{"images entry without digest", map[string]string{"IMAGES": "ghcr.io/acme/app:1.0"}, nil, "images", ErrInvalid},
		{"images entry with a short digest", map[string]string{"IMAGES": "ghcr.io/acme/app@sha256:abc"}, nil, "images", ErrInvalid},
		{"images entry local", map[string]string{"IMAGES": "oci-dir:" + dir}, nil, "images", ErrInvalid},
		{"images entry twice", map[string]string{"IMAGES": img + "\nGHCR.io/Acme/App@" + digest}, nil, "images", ErrInvalid},
		{"images too many", map[string]string{"IMAGES": strings.Repeat(img+",", MaxImages+1)}, nil, "images", ErrInvalid},
		{"kyverno-image-glob with several images", map[string]string{"IMAGES": img + ",ghcr.io/acme/worker@" + digest,
			"KYVERNO-POLICY": "image-validating", "KYVERNO-IMAGE-GLOB": "ghcr.io/acme/*"}, nil, "kyverno-image-glob", ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kv := map[string]string{}
			for k, v := range tt.input {
				kv["INPUT_"+k] = v
			}
			for k, v := range tt.env {
				kv[k] = v
			}
			_, err := Load(nil, env(kv), io.Discard)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("err %T is not config.Errors", err)
			}
			found := false
			for _, fe := range errs {
				found = found || fe.Input == tt.want
			}
			if !found || !strings.HasPrefix(err.Error(), tt.want+": ") && !strings.Contains(err.Error(), "\n"+tt.want+": ") {
				t.Errorf("error %q does not name %s", err, tt.want)
			}
		})
	}
}

func TestVulnerabilityInputs(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"b.openvex.json", "a.openvex.json", "c.cdx.json"} {
		os.WriteFile(filepath.Join(dir, n), []byte("{}"), 0o644)
	}
	ws := t.TempDir()
	c, err := Load(nil, env(map[string]string{"INPUT_IMAGE": "ghcr.io/a/b@" + digest, "INPUT_VULNERABILITY-SCAN": "true",
		"INPUT_VEX": filepath.Join(dir, "*.openvex.json") + "\n" + filepath.Join(dir, "c.cdx.json"), "INPUT_FAIL-ON-SEVERITY": "high",
		"INPUT_ONLY-FIXED": "true", "INPUT_GRYPE-DB-MAX-AGE": "48h", "GITHUB_ACTIONS": "true", "GITHUB_WORKSPACE": ws}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(dir, "a.openvex.json"), filepath.Join(dir, "b.openvex.json"), filepath.Join(dir, "c.cdx.json")}
	if strings.Join(c.VEX, " ") != strings.Join(want, " ") {
		t.Errorf("vex = %v, want %v", c.VEX, want)
	}
	if !c.VulnerabilityScan || !c.OnlyFixed || c.FailOnSeverity.String() != "high" || c.GrypeDBMaxAge != 48*time.Hour ||
		c.GrypeDBDir != filepath.Join(ws, ".grype-db") || c.GrypeDBURL != "https://grype.anchore.io/databases" || !c.Wants("vulnerabilities") {
		t.Errorf("got %+v", c)
	}
	c, err = Load(nil, env(map[string]string{"INPUT_IMAGE": "ghcr.io/a/b@" + digest}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.VulnerabilityScan || c.FailOnSeverity.String() != "unknown" || c.GrypeDBDir != ".grype-db" || c.GrypeDBMaxAge != 120*time.Hour {
		t.Errorf("defaults: %+v", c)
	}
}

func TestAllErrorsAtOnce(t *testing.T) {
	_, err := Load(nil, env(map[string]string{"INPUT_IMAGE": "ghcr.io/a/b@" + digest, "INPUT_DRY-RUN": "x", "INPUT_SIGSTORE": "y", "INPUT_CYCLONEDX-VERSION": "2"}), io.Discard)
	var errs Errors
	if !errors.As(err, &errs) || len(errs) != 3 {
		t.Fatalf("want 3 errors at once, got %v", err)
	}
	if errs[0].Input != "cyclonedx-version" {
		t.Errorf("errors not in input order: %v", errs)
	}
}

func TestPermissionsBlockShown(t *testing.T) {
	_, err := Load(nil, env(map[string]string{"INPUT_IMAGE": "ghcr.io/a/b@" + digest, "INPUT_DRY-RUN": "false"}), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "id-token: write") {
		t.Fatalf("error must show the permissions block, got %v", err)
	}
}

func TestUnknownFlag(t *testing.T) {
	_, err := Load([]string{"--imagee", "x"}, env(nil), io.Discard)
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("err = %v", err)
	}
}

// images lists several registry images; each is read by digest and attested under its own
// name, lowercased as subject-name is, and the scalar fields are the first's.
func TestImagesInput(t *testing.T) {
	other := "sha256:" + strings.Repeat("f", 64)
	c, err := Load(nil, env(map[string]string{
		"INPUT_IMAGES":         "GHCR.io/Acme/App@" + digest + ",\n  ghcr.io/acme/worker@" + other + "\n\nlocalhost:5000/acme/app@" + other,
		"INPUT_KYVERNO-POLICY": "image-validating",
	}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := []Image{
		{Kind: image.KindRegistry, Ref: "ghcr.io/acme/app@" + digest, Name: "ghcr.io/acme/app", Digest: digest},
		{Kind: image.KindRegistry, Ref: "ghcr.io/acme/worker@" + other, Name: "ghcr.io/acme/worker", Digest: other},
		{Kind: image.KindRegistry, Ref: "localhost:5000/acme/app@" + other, Name: "localhost:5000/acme/app", Digest: other},
	}
	if len(c.Images) != len(want) {
		t.Fatalf("images = %+v", c.Images)
	}
	for i := range want {
		if c.Images[i] != want[i] {
			t.Errorf("image %d = %+v, want %+v", i, c.Images[i], want[i])
		}
	}
	if c.ImageKind != image.KindRegistry || c.ImageRef != want[0].Ref || c.SubjectName != want[0].Name || c.SubjectDigest != digest {
		t.Errorf("first image = %s %s %s %s", c.ImageKind, c.ImageRef, c.SubjectName, c.SubjectDigest)
	}
	if got := c.Images[2].Reference(); got != want[2].Ref {
		t.Errorf("Reference() = %s", got)
	}

	// One image given the usual way is the one image of the list.
	c, err = Load(nil, env(map[string]string{"INPUT_SUBJECT-NAME": "ghcr.io/acme/app", "INPUT_SUBJECT-DIGEST": digest}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Images) != 1 || c.Images[0] != want[0] {
		t.Errorf("images = %+v, want [%+v]", c.Images, want[0])
	}
	dir := t.TempDir()
	c, err = Load(nil, env(map[string]string{"INPUT_IMAGE": "oci-dir:" + dir}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Images) != 1 || c.Images[0].Reference() != "oci-dir:"+dir {
		t.Errorf("images = %+v", c.Images)
	}
}
