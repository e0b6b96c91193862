// Command mkgrypedb builds a Grype v6 vulnerability database for the benchmark, where Grype's
// own distribution may be out of reach, and serves it on loopback the way grype.anchore.io does
// (a listing at /v6/latest.json beside the archive). It is built with Grype's own writer and
// packager (internal/grypedbtest.Write) from made-up advisories: one for every EVERY-th
// package of an SBOM, so the scan has real matches to report, plus FILLER advisories about
// packages no image has, so lookups run against a database of a realistic size.
//
//	mkgrypedb -sbom SBOM.cdx.json -out DIR [-every 4] [-filler 200000] [-serve 127.0.0.1:0]
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/anchore/packageurl-go"

	"github.com/bom-attest/bom-attest/internal/testserver/grypedbtest"
)

func main() {
	sbomFile := flag.String("sbom", "", "CycloneDX SBOM whose packages get advisories")
	out := flag.String("out", "", "directory for v6/latest.json and the archive")
	every := flag.Int("every", 4, "one advisory for every N-th package")
	filler := flag.Int("filler", 200000, "advisories about packages no image has")
	serve := flag.String("serve", "", "serve -out on this loopback address after building (or only serve, if it is built)")
	flag.Parse()
	if *out == "" {
		log.Fatal("mkgrypedb: -out is required")
	}
	listing := filepath.Join(*out, "v6", "latest.json")
	if _, err := os.Stat(listing); err != nil {
		if *sbomFile == "" {
			log.Fatal("mkgrypedb: -sbom is required to build")
		}
		if err := build(*sbomFile, *out, *every, *filler); err != nil {
			log.Fatalf("mkgrypedb: %v", err)
		}
	}
	if *serve == "" {
		return
	}
	ln, err := net.Listen("tcp", *serve)
	if err != nil {
		log.Fatalf("mkgrypedb: %v", err)
	}
	// The caller reads the base URL from the first line, as grype-db-url takes it.
	fmt.Printf("http://%s\n", ln.Addr())
	log.Fatal(http.Serve(ln, http.FileServer(http.Dir(*out))))
}

func build(sbomFile, out string, every, filler int) error {
	raw, err := os.ReadFile(sbomFile)
	if err != nil {
		return err
	}
	var doc struct {
		Components []struct {
			PURL string `json:"purl"`
		} `json:"components"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return fmt.Errorf("%s: %v", sbomFile, err)
	}
	severities := []string{"Low", "Medium", "High", "Critical", "Negligible"}
	var records []grypedbtest.Record
	n := 0
	for _, c := range doc.Components {
		p, err := packageurl.FromString(c.PURL)
		if err != nil {
			continue
		}
		n++
		if n%every != 0 {
			continue
		}
		sev := severities[n%len(severities)]
		fixed := n%2 == 0
		switch p.Type {
		case "deb":
			fix := "None"
			if fixed {
				fix = p.Version + "+bench1"
			}
			records = append(records, osRecord(fmt.Sprintf("CVE-2099-%06d", n), p.Name, fix, sev))
		case "pypi", "npm":
			ecosystem := map[string]string{"pypi": "python", "npm": "npm"}[p.Type]
			name := p.Name
			if p.Namespace != "" {
				name = p.Namespace + "/" + p.Name
			}
			fix := ""
			if fixed {
				fix = p.Version + ".1"
			}
			records = append(records, githubRecord(fmt.Sprintf("GHSA-2099-%04d-%04d", n/10000, n%10000), ecosystem, name, "<= "+p.Version, fix, sev))
		}
	}
	matched := len(records)
	for i := 0; i < filler; i++ {
		name := fmt.Sprintf("bench-filler-%d", i)
		if i%2 == 0 {
			records = append(records, osRecord(fmt.Sprintf("CVE-2098-%07d", i), name, "1.0-1", severities[i%len(severities)]))
		} else {
			records = append(records, githubRecord(fmt.Sprintf("GHSA-2098-%04d-%04d", i/10000, i%10000), "python", name, "< 1.0", "1.0", severities[i%len(severities)]))
		}
	}
	start := time.Now()
	a, err := grypedbtest.Write(filepath.Join(out, "build"), grypedbtest.Options{Records: records})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(out, "v6"), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, "v6", a.Name), a.Body, 0o644); err != nil {
		return err
	}
	l, err := json.Marshal(a.Listing)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, "v6", "latest.json"), l, 0o644); err != nil {
		return err
	}
	os.RemoveAll(filepath.Join(out, "build"))
	log.Printf("mkgrypedb: %d advisories (%d about the image's packages, %d filler), archive %d bytes, built in %s",
		len(records), matched, filler, len(a.Body), time.Since(start).Round(time.Second))
	return nil
}

func osRecord(id, pkg, fix, severity string) grypedbtest.Record {
	item, _ := json.Marshal(map[string]any{"Vulnerability": map[string]any{
		"Name": id, "NamespaceName": "debian:12", "Severity": severity,
		"Link":        "https://security-tracker.debian.org/tracker/" + id,
		"Description": "Made-up advisory for the benchmark.",
		"FixedIn": []map[string]any{{"Name": pkg, "NamespaceName": "debian:12", "VersionFormat": "dpkg", "Version": fix,
			"VendorAdvisory": map[string]any{"NoAdvisory": false, "AdvisorySummary": []any{}}}},
		"Metadata": map[string]any{},
	}})
	return grypedbtest.Record{Provider: "debian", Schema: grypedbtest.SchemaOS, Item: string(item)}
}

func githubRecord(id, ecosystem, pkg, rng, fix, severity string) grypedbtest.Record {
	item, _ := json.Marshal(map[string]any{"Advisory": map[string]any{
		"ghsaId": id, "namespace": "github:" + ecosystem, "Severity": severity, "Classification": "GENERAL",
		"Summary": "Made-up advisory for the benchmark", "url": "https://github.com/advisories/" + id,
		"CVE": []string{}, "Metadata": map[string]any{"CVE": []string{}},
		"FixedIn":   []map[string]any{{"name": strings.ToLower(pkg), "identifier": fix, "ecosystem": ecosystem, "namespace": "github:" + ecosystem, "range": rng}},
		"published": "2099-01-02T00:00:00Z", "updated": "2099-01-03T00:00:00Z", "withdrawn": nil,
	}})
	return grypedbtest.Record{Provider: "github", Schema: grypedbtest.SchemaGitHub, Item: string(item)}
}
