package run_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/bom-attest/bom-attest/internal/testserver"
	"github.com/bom-attest/bom-attest/internal/testserver/grypedbtest"
)

// sampleVEX says CVE-2099-1001 does not affect the sample image's libssl3.
const sampleVEX = `{
  "@context": "https://openvex.dev/ns/v0.2.0",
  "@id": "https://example.com/vex/1", "author": "acme", "timestamp": "2026-01-02T00:00:00Z",
  "statements": [{"vulnerability": {"name": "CVE-2099-1001"}, "products": [{"@id": "pkg:deb/debian/libssl3"}],
    "status": "not_affected", "justification": "vulnerable_code_not_in_execute_path",
    "impact_statement": "TLS is terminated by the proxy."}]
}`

// TestVulnerabilityGateFailsAfterWriting: a pull request's dry run with the scan and a gate at
// high: the made-up critical advisory fails it, so the step exits 2 — after the SBOM, the
// report, their unsigned statements, the outputs and the summary are all written. VEX takes
// the high one out. A second run finds the database current and downloads nothing.
func TestVulnerabilityGateFailsAfterWriting(t *testing.T) {
	db := grypedbtest.Start(t, grypedbtest.Options{Built: time.Now().Add(-3 * time.Hour)})
	r := newRunner(t)
	sample, _ := filepath.Abs("../../testdata/sample-image")
	vexFile := filepath.Join(r.workspace, ".vex", "libssl3.openvex.json")
	os.MkdirAll(filepath.Dir(vexFile), 0o755)
	os.WriteFile(vexFile, []byte(sampleVEX), 0o644)
	with := map[string]string{"image": "oci-dir:" + sample, "vulnerability-scan": "true", "grype-db-url": db.URL,
		"fail-on-severity": "high", "vex": ".vex/*.openvex.json"}
	res := r.run(with)
	if res.code != 2 {
		t.Fatalf("exit %d, want 2 (gate)\n%s", res.code, res.stdout)
	}
	out := filepath.Join(r.temp, "bom-attest")
	for _, f := range []string{"sbom.cdx.json", "vulnerabilities.cdx.json", "sbom.intoto.json", "vulnerabilities.intoto.json"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("%s not written before the gate failed: %v", f, err)
		}
	}
	rep := readBOM(t, filepath.Join(out, "vulnerabilities.cdx.json"))
	if n := len(rep["vulnerabilities"].([]any)); n != 5 {
		t.Errorf("report has %d vulnerabilities, want 5", n)
	}
	if grype := rep["metadata"].(map[string]any)["tools"].(map[string]any)["components"].([]any)[1].(map[string]any); grype["name"] != "grype" || grype["version"] != "v0.115.0" {
		t.Errorf("report names the matcher %v, want the Grype library that ran", grype)
	}
	var st struct {
		PredicateType string `json:"predicateType"`
		Subject       []struct{ Digest map[string]string }
	}
	b, _ := os.ReadFile(filepath.Join(out, "vulnerabilities.intoto.json"))
	json.Unmarshal(b, &st)
	if st.PredicateType != "https://cyclonedx.org/vex" || len(st.Subject) != 1 || !strings.HasPrefix(res.outputs["subject-digest"], "sha256:"+st.Subject[0].Digest["sha256"]) {
		t.Errorf("statement = %s", b)
	}
	if res.outputs["vulnerability-counts"] != `{"critical":1,"high":0,"medium":1,"low":1,"negligible":1,"unknown":0}` ||
		res.outputs["vulnerability-report-path"] != filepath.Join(out, "vulnerabilities.cdx.json") ||
		res.outputs["vulnerability-report-paths"] != `["`+filepath.Join(out, "vulnerabilities.cdx.json")+`"]` ||
		res.outputs["vulnerability-db-built"] != db.Archive.Listing.Built.Time.UTC().Format(time.RFC3339) || res.outputs["sbom-path"] == "" {
		t.Errorf("outputs = %v", res.outputs)
	}
	for _, want := range []string{"::error::vulnerability gate failed: 1 finding of severity high or higher (GHSA-2099-crit-0003 in cryptography 44.0.1)",
		"::group::vulnerability database", "downloaded ", "/s), checksum sha256:", "built " + res.outputs["vulnerability-db-built"], "::group::vulnerabilities linux/amd64",
		"4 findings (1 critical, 0 high, 1 medium, 1 low, 1 negligible, 0 unknown), 1 with a VEX statement"} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("log lacks %q:\n%s", want, res.stdout)
		}
	}
	for _, want := range []string{"**Failed:** vulnerability gate failed", "### Vulnerabilities", "fail-on-severity high — 1 finding fails it",
		"| cryptography | 44.0.1 | [GHSA-2099-crit-0003](https://github.com/advisories/GHSA-2099-crit-0003) | critical ❌ | 44.0.2 |",
		"| libxml2 | 2.9.14+dfsg-1.3\\~deb12u4 | [CVE-2099-1002](https://security-tracker.debian.org/tracker/CVE-2099-1002) | medium | (not-fixed) |",
		"### Suppressed by VEX", "| libssl3 | 3.0.17-1\\~deb12u2 | [CVE-2099-1001](https://security-tracker.debian.org/tracker/CVE-2099-1001) | not\\_affected | code\\_not\\_reachable |",
		"`.vex/libssl3.openvex.json`", "| vulnerabilities |", "`https://cyclonedx.org/vex`"} {
		if !strings.Contains(res.summary, want) {
			t.Errorf("summary lacks %q:\n%s", want, res.summary)
		}
	}
	if _, err := os.Stat(filepath.Join(r.workspace, ".grype-db", "6", "vulnerability.db")); err != nil {
		t.Errorf("database not kept in the workspace for actions/cache: %v", err)
	}

	with["fail-on-severity"] = "critical"
	with["only-fixed"] = "true"
	os.WriteFile(vexFile, []byte(strings.Replace(sampleVEX, `"CVE-2099-1001"}, "products": [{"@id": "pkg:deb/debian/libssl3"}]`,
		`"CVE-2099-1003"}, "products": [{"@id": "pkg:pypi/cryptography@44.0.1"}]`, 1)), 0o644)
	res = r.run(with)
	if res.code != 0 {
		t.Fatalf("with the critical one suppressed: exit %d\n%s", res.code, res.stdout)
	}
	if db.ArchiveDownloads() != 1 || !strings.Contains(res.stdout, "is the newest") {
		t.Errorf("second run downloaded again (%d downloads)\n%s", db.ArchiveDownloads(), res.stdout)
	}
}

// TestNoNetworkWithoutVulnerabilityScan: with the scan off (the default), a grype-db-url set
// to a live server gets no request at all, and nothing is stored for a database.
func TestNoNetworkWithoutVulnerabilityScan(t *testing.T) {
	db := grypedbtest.Start(t, grypedbtest.Options{})
	r := newRunner(t)
	sample, _ := filepath.Abs("../../testdata/sample-image")
	res := r.run(map[string]string{"image": "oci-dir:" + sample, "grype-db-url": db.URL})
	if res.code != 0 {
		t.Fatalf("exit %d\n%s", res.code, res.stdout)
	}
	if n := db.Requests(); n != 0 {
		t.Errorf("the database server got %d requests", n)
	}
	if _, err := os.Stat(filepath.Join(r.workspace, ".grype-db")); !os.IsNotExist(err) {
		t.Errorf(".grype-db created without a scan: %v", err)
	}
	if _, err := os.Stat(filepath.Join(r.temp, "bom-attest", "vulnerabilities.cdx.json")); !os.IsNotExist(err) {
		t.Errorf("a report without a scan: %v", err)
	}
	for o := range res.outputs {
		if strings.HasPrefix(o, "vulnerability-") {
			t.Errorf("output %s set without a scan", o)
		}
	}
}

// TestStaleDatabaseFailsFirst: a database older than grype-db-max-age stops the run before the
// image is read, saying how old it is and which input changes that.
func TestStaleDatabaseFailsFirst(t *testing.T) {
	db := grypedbtest.Start(t, grypedbtest.Options{Built: time.Now().Add(-8 * 24 * time.Hour)})
	r := newRunner(t)
	sample, _ := filepath.Abs("../../testdata/sample-image")
	res := r.run(map[string]string{"image": "oci-dir:" + sample, "vulnerability-scan": "true", "grype-db-url": db.URL})
	if res.code != 1 {
		t.Fatalf("exit %d, want 1\n%s", res.code, res.stdout)
	}
	if !strings.Contains(res.stdout, "::error::grype-db-max-age: vulnerability database too old: the newest vulnerability database at "+db.URL+"/v6/latest.json was built ") ||
		!strings.Contains(res.stdout, "8d0h ago, more than the 120h0m0s allowed") {
		t.Errorf("log:\n%s", res.stdout)
	}
	if strings.Contains(res.stdout, "::group::pull") || db.ArchiveDownloads() != 0 {
		t.Errorf("the image was read or the stale archive downloaded\n%s", res.stdout)
	}
}

// TestVulnerabilityReportSigned: a push workflow on a two-platform image signs and publishes
// each platform's report as an attestation about that platform's manifest, pushes it as a
// referrer, and the verify command finds it by predicate type; the gate (negligible: glibc's
// made-up CVE) then exits 2 with every bundle stored.
func TestVulnerabilityReportSigned(t *testing.T) {
	reg := testserver.StartRegistry(t)
	idx := debIndex(t)
	digest, _ := idx.Digest()
	im, _ := idx.IndexManifest()
	repo := reg.Host + "/acme/app"
	tag, _ := name.NewTag(repo+":main", name.Insecure)
	if err := remote.WriteIndex(tag, idx); err != nil {
		t.Fatal(err)
	}
	db := grypedbtest.Start(t, grypedbtest.Options{})
	stack := testserver.StartSigningStack(t, testserver.SigningStackOptions{})
	api := testserver.GitHubAPIStart(t, "acme/app", fakeToken)
	r := newRunner(t)
	r.extraEnv = map[string]string{
		"ACTIONS_ID_TOKEN_REQUEST_URL": stack.OIDC.TokenRequestURL, "ACTIONS_ID_TOKEN_REQUEST_TOKEN": stack.OIDC.TokenRequestToken,
		"GITHUB_API_URL": api.URL, "GITHUB_REPOSITORY": "acme/app", "GITHUB_EVENT_NAME": "push",
		"GITHUB_WORKFLOW_REF": "acme/app/.github/workflows/release.yml@refs/heads/main",
	}
	res := r.run(map[string]string{
		"subject-name": repo, "subject-digest": digest.String(), "push-to-registry": "true",
		"fulcio-url": stack.FulcioURL, "rekor-url": stack.RekorURL, "trusted-root": stack.TrustedRootPath, "oidc-issuer": stack.OIDC.URL,
		"vulnerability-scan": "true", "grype-db-url": db.URL, "fail-on-severity": "negligible",
	})
	if res.code != 2 {
		t.Fatalf("exit %d, want 2\n%s", res.code, res.stdout)
	}
	var bundles []string
	json.Unmarshal([]byte(res.outputs["bundle-paths"]), &bundles)
	want := []string{"sbom.linux-amd64", "sbom.linux-arm64-v8", "provenance", "vulnerabilities.linux-amd64", "vulnerabilities.linux-arm64-v8"}
	if len(bundles) != len(want) || len(api.Attestations()) != len(want) {
		t.Fatalf("bundles %v, %d stored; want %v", bundles, len(api.Attestations()), want)
	}
	for i, w := range want {
		if filepath.Base(bundles[i]) != w+".sigstore.json" {
			t.Errorf("bundle %d = %s, want %s", i, bundles[i], w)
		}
	}
	if res.outputs["vulnerability-counts"] != `{"critical":0,"high":0,"medium":0,"low":0,"negligible":1,"unknown":0}` {
		t.Errorf("counts = %s (libc6's CVE-2099-1004 on both platforms counts once)", res.outputs["vulnerability-counts"])
	}
	if !strings.Contains(res.summary, "| libc6 | 2.36-9+deb12u10 | [CVE-2099-1004](https://security-tracker.debian.org/tracker/CVE-2099-1004) | negligible ❌ | (not-fixed) | linux/amd64, linux/arm64/v8 |") {
		t.Errorf("summary:\n%s", res.summary)
	}
	for _, m := range im.Manifests {
		ref := repo + "@" + m.Digest.String()
		cmd := exec.Command(binary, "verify", "--from-registry", ref, "--trusted-root", stack.TrustedRootPath,
			"--owner", "acme", "--cert-oidc-issuer", stack.OIDC.URL, "--predicate-type", "https://cyclonedx.org/vex")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		// The platform also has its SBOM as a referrer; --predicate-type checks the report only.
		if err := cmd.Run(); err != nil {
			t.Errorf("verify %s: %v\n%s", ref, err, out.String())
		}
		if !regexp.MustCompile(`✓ ` + regexp.QuoteMeta(ref) + ` \(referrer sha256:[0-9a-f]{64}, https://cyclonedx.org/vex\) verified`).MatchString(out.String()) {
			t.Errorf("the report of %s does not verify:\n%s", ref, out.String())
		}
	}
}
