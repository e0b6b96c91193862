package vulns_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/CycloneDX/cyclonedx-go"

	"github.com/bom-attest/bom-attest/internal/check"
	"github.com/bom-attest/bom-attest/internal/sbom"
	"github.com/bom-attest/bom-attest/internal/vulns"
)

func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// openVEX is an OpenVEX v0.2.0 document about the sample image: libssl3 is not affected by
// CVE-2099-1001 (the image is the product, the package a subcomponent); cryptography is fixed
// for CVE-2099-1003, the CVE of GHSA-2099-crit-0003 (the package itself is the product); a
// statement about another image's digest must not apply.
func openVEX(imageDigest string) string {
	return `{
  "@context": "https://openvex.dev/ns/v0.2.0",
  "@id": "https://example.com/vex/sample-1",
  "author": "Sample Team",
  "timestamp": "2026-01-02T00:00:00Z",
  "version": 1,
  "statements": [
    {"vulnerability": {"name": "CVE-2099-1001"},
     "products": [{"@id": "pkg:oci/sample@` + imageDigest + `",
                   "subcomponents": [{"@id": "pkg:deb/debian/libssl3@3.0.17-1~deb12u2?arch=amd64"}]}],
     "status": "not_affected", "justification": "vulnerable_code_not_in_execute_path",
     "impact_statement": "TLS is terminated by the ingress proxy; the image never opens a TLS session."},
    {"vulnerability": {"name": "CVE-2099-1003"},
     "products": [{"@id": "pkg:pypi/Cryptography"}],
     "status": "fixed"},
    {"vulnerability": {"name": "CVE-2099-1004"},
     "products": [{"@id": "pkg:oci/sample@sha256:0000000000000000000000000000000000000000000000000000000000000000"}],
     "status": "not_affected", "justification": "component_not_present"}
  ]
}`
}

// openVEXv001 is the older OpenVEX form: strings for the vulnerability and the products.
const openVEXv001 = `{
  "@context": "https://openvex.dev/ns",
  "@id": "https://example.com/vex/sample-0",
  "author": "Sample Team",
  "timestamp": "2025-12-01T00:00:00Z",
  "statements": [
    {"vulnerability": "GHSA-2099-low0-0006", "products": ["pkg:pypi/requests@2.32.3"], "status": "under_investigation"}
  ]
}`

// cdxVEX is a CycloneDX VEX: libxml2's CVE-2099-1002 is a false positive (referred to by a
// BOM-Link into the VEX's own component list, which gives the purl); a statement about libc6
// limited to another version must not apply.
func cdxVEX(libcRef string) string {
	return `{
  "bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1,
  "serialNumber": "urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79",
  "metadata": {"timestamp": "2026-01-03T00:00:00Z"},
  "components": [{"bom-ref": "libxml2", "type": "library", "name": "libxml2", "purl": "pkg:deb/debian/libxml2"}],
  "vulnerabilities": [
    {"id": "CVE-2099-1002", "source": {"name": "NVD"},
     "analysis": {"state": "false_positive", "detail": "The parser is built without entity expansion."},
     "affects": [{"ref": "urn:cdx:3e671687-395b-41f5-a30f-a58921a69b79/1#libxml2"}]},
    {"id": "CVE-2099-1004",
     "analysis": {"state": "not_affected", "justification": "code_not_reachable", "response": ["will_not_fix"]},
     "affects": [{"ref": ` + fmt.Sprintf("%q", libcRef) + `, "versions": [{"version": "2.36-9+deb12u9", "status": "unaffected"}]}]}
  ]
}`
}

func TestVEX(t *testing.T) {
	f := setup(t)
	got := f.scan(t)
	var libcRef string
	for _, fd := range got {
		if fd.Package.Name == "libc6" {
			libcRef = fd.Package.BOMRef
		}
	}
	v, err := vulns.LoadVEX([]string{
		writeFile(t, "a.openvex.json", openVEX(f.target.Digest.String())),
		writeFile(t, "b.openvex.json", openVEXv001),
		writeFile(t, "c.cdx.json", cdxVEX(libcRef)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if v.Statements() != 6 {
		t.Errorf("%d statements", v.Statements())
	}
	if n := v.Apply(got, f.image()); n != 4 {
		t.Errorf("Apply set %d analyses, want 4", n)
	}
	type want struct {
		state      cyclonedx.ImpactAnalysisState
		just       cyclonedx.ImpactAnalysisJustification
		suppressed bool
		file       string
		detail     string
	}
	wants := map[string]*want{
		"CVE-2099-1001":       {cyclonedx.IASNotAffected, cyclonedx.IAJCodeNotReachable, true, "a.openvex.json", "OpenVEX justification: vulnerable_code_not_in_execute_path. TLS is terminated"},
		"GHSA-2099-crit-0003": {cyclonedx.IASResolved, "", true, "a.openvex.json", ""},
		"GHSA-2099-low0-0006": {cyclonedx.IASInTriage, "", false, "b.openvex.json", ""},
		"CVE-2099-1002":       {cyclonedx.IASFalsePositive, "", true, "c.cdx.json", "built without entity expansion"},
		"CVE-2099-1004":       nil,
	}
	for _, fd := range got {
		w := wants[fd.ID]
		switch {
		case w == nil && fd.Analysis != nil:
			t.Errorf("%s: analysis %+v, want none", fd.ID, fd.Analysis)
		case w == nil:
		case fd.Analysis == nil:
			t.Errorf("%s: no analysis", fd.ID)
		case fd.Analysis.State != w.state || fd.Analysis.Justification != w.just || fd.Suppressed() != w.suppressed ||
			filepath.Base(fd.Analysis.File) != w.file || !strings.Contains(fd.Analysis.Detail, w.detail):
			t.Errorf("%s: analysis %+v, want %+v", fd.ID, *fd.Analysis, *w)
		}
	}
	if c := vulns.Count(got); c.JSON() != `{"critical":0,"high":0,"medium":0,"low":1,"negligible":1,"unknown":0}` {
		t.Errorf("counts after VEX = %s", c.JSON())
	}
	if err := (vulns.Gate{FailOn: mustFailOn(t, "medium")}).Check(got); err != nil {
		t.Errorf("suppressed findings still fail the gate: %v", err)
	}
	if err := (vulns.Gate{FailOn: mustFailOn(t, "low")}).Check(got); !errors.Is(err, vulns.ErrGate) || !strings.Contains(err.Error(), "1 finding of severity low or higher (GHSA-2099-low0-0006 in requests 2.32.3)") {
		t.Errorf("gate at low: %v", err)
	}

	rep := vulns.Report(got, vulns.ReportOptions{SBOM: f.sbom.BOM, DB: f.db.Status, Namespace: "bom-attest", Timestamp: time.Unix(1767225600, 0)})
	doc, err := sbom.Encode(rep, cyclonedx.SpecVersion1_6)
	if err != nil {
		t.Fatal(err)
	}
	if err := check.Validate(doc, cyclonedx.SpecVersion1_6); err != nil {
		t.Fatal(err)
	}
	for _, rv := range *rep.Vulnerabilities {
		w := wants[rv.ID]
		if w == nil {
			if rv.Analysis != nil {
				t.Errorf("%s: report analysis %+v", rv.ID, rv.Analysis)
			}
			continue
		}
		if rv.Analysis == nil || rv.Analysis.State != w.state || rv.Analysis.Justification != w.just {
			t.Errorf("%s: report analysis %+v", rv.ID, rv.Analysis)
		}
		status := (*(*rv.Affects)[0].Range)[0].Status
		if (status == cyclonedx.VulnerabilityStatusNotAffected) != w.suppressed {
			t.Errorf("%s: affects status %s", rv.ID, status)
		}
		if !strings.Contains(fmt.Sprint(*rv.Properties), w.file) {
			t.Errorf("%s: properties do not name the VEX file: %v", rv.ID, *rv.Properties)
		}
	}
}

func mustFailOn(t *testing.T, s string) vulns.Severity {
	sev, err := vulns.ParseFailOn(s)
	if err != nil {
		t.Fatal(err)
	}
	return sev
}

// TestVEXLatestWins: a later statement about the same finding overrides an earlier one, by
// timestamp, not by the order the files are given in.
func TestVEXLatestWins(t *testing.T) {
	f := setup(t)
	doc := func(ts, status string) string {
		return `{"@context": "https://openvex.dev/ns/v0.2.0", "timestamp": "` + ts + `", "statements": [
			{"vulnerability": {"name": "CVE-2099-1001"}, "products": [{"@id": "pkg:deb/debian/libssl3"}], "status": "` + status + `",
			 "justification": "component_not_present"}]}`
	}
	later := writeFile(t, "later.json", doc("2026-02-01T00:00:00Z", "affected"))
	earlier := writeFile(t, "earlier.json", doc("2026-01-01T00:00:00Z", "not_affected"))
	v, err := vulns.LoadVEX([]string{later, earlier})
	if err != nil {
		t.Fatal(err)
	}
	got := f.scan(t)
	v.Apply(got, f.image())
	for _, fd := range got {
		if fd.ID == "CVE-2099-1001" && (fd.Analysis == nil || fd.Analysis.State != cyclonedx.IASExploitable || fd.Suppressed()) {
			t.Errorf("CVE-2099-1001: %+v", fd.Analysis)
		}
	}
}

// TestLoadVEXErrors: a file that is not a usable VEX document fails before anything else runs,
// naming the file and, inside it, the statement.
func TestLoadVEXErrors(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.json")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.json")
	if err := os.WriteFile(big, bytes.Repeat([]byte(" "), 16<<20+1), 0o644); err != nil {
		t.Fatal(err)
	}
	stmt := func(s string) string {
		return `{"@context": "https://openvex.dev/ns/v0.2.0", "statements": [` + s + `]}`
	}
	cdx := func(v string) string {
		return `{"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1, "vulnerabilities": [` + v + `]}`
	}
	for _, tc := range []struct {
		name, file, body, msg string
	}{
		{name: "missing", file: filepath.Join(dir, "missing.json"), msg: "no such file"},
		{name: "directory", file: dir, msg: "not a regular file"},
		{name: "fifo", file: fifo, msg: "not a regular file"},
		{name: "too large", file: big, msg: "larger than 16 MiB"},
		{name: "not JSON", body: "status: not_affected", msg: "not JSON"},
		{name: "neither format", body: `{"spdxVersion": "SPDX-2.3"}`, msg: "neither OpenVEX"},
		{name: "bad status", body: stmt(`{"vulnerability": {"name": "CVE-1"}, "products": [{"@id": "pkg:deb/debian/x"}], "status": "wontfix"}`),
			msg: `statements[0]: status "wontfix"`},
		{name: "not_affected without why", body: stmt(`{"vulnerability": {"name": "CVE-1"}, "products": [{"@id": "pkg:deb/debian/x"}], "status": "not_affected"}`),
			msg: "needs a justification or an impact_statement"},
		{name: "unknown justification", body: stmt(`{"vulnerability": {"name": "CVE-1"}, "products": [{"@id": "pkg:deb/debian/x"}], "status": "not_affected", "justification": "trust_me"}`),
			msg: `unknown justification "trust_me"`},
		{name: "no products", body: stmt(`{"vulnerability": {"name": "CVE-1"}, "status": "fixed"}`), msg: "no products"},
		{name: "no vulnerability", body: stmt(`{"products": [{"@id": "pkg:deb/debian/x"}], "status": "fixed"}`), msg: "vulnerability has no name"},
		{name: "bad timestamp", body: stmt(`{"vulnerability": "CVE-1", "products": ["x"], "status": "fixed", "timestamp": "yesterday"}`), msg: "timestamp"},
		{name: "CycloneDX without vulnerabilities", body: `{"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1}`, msg: "without vulnerabilities is not VEX"},
		{name: "CycloneDX range", body: cdx(`{"id": "CVE-1", "analysis": {"state": "not_affected"}, "affects": [{"ref": "pkg:deb/debian/x", "versions": [{"range": "vers:deb/<1.0", "status": "unaffected"}]}]}`),
			msg: "vulnerabilities[0]: affects \"pkg:deb/debian/x\" gives a version range"},
		{name: "CycloneDX without affects", body: cdx(`{"id": "CVE-1", "analysis": {"state": "not_affected"}}`), msg: "analysis without affects"},
		{name: "CycloneDX bad state", body: cdx(`{"id": "CVE-1", "analysis": {"state": "fine"}, "affects": [{"ref": "x"}]}`), msg: `analysis.state "fine"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := tc.file
			if file == "" {
				file = writeFile(t, "vex.json", tc.body)
			}
			done := make(chan error, 1)
			go func() { _, err := vulns.LoadVEX([]string{file}); done <- err }()
			var err error
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("LoadVEX blocked")
			}
			if !errors.Is(err, vulns.ErrVEX) || !strings.Contains(err.Error(), file) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("err = %v, want %q naming %s", err, tc.msg, file)
			}
		})
	}
}

func FuzzParseVEX(f *testing.F) {
	f.Add([]byte(openVEX("sha256:aa")))
	f.Add([]byte(openVEXv001))
	f.Add([]byte(cdxVEX("pkg:deb/debian/libc6?package-id=1")))
	f.Add([]byte(`{"@context": "openvex", "statements": [{"vulnerability": 1}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		n, err := vulns.ParseVEX("fuzz.json", data)
		if err != nil && (!errors.Is(err, vulns.ErrVEX) || !strings.Contains(err.Error(), "fuzz.json")) {
			t.Fatalf("error %v does not wrap ErrVEX with the file name", err)
		}
		if err != nil && n != 0 {
			t.Fatal("statements returned with an error")
		}
	})
}
