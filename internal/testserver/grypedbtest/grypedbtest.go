package grypedbtest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/anchore/grype/grype/db/data"
	"github.com/anchore/grype/grype/db/provider"
	v6 "github.com/anchore/grype/grype/db/v6"
	v6build "github.com/anchore/grype/grype/db/v6/build"
	"github.com/anchore/grype/grype/db/v6/distribution"
)

// Record is one advisory as vunnel writes it and Grype's database build reads it: the
// provider that published it, the JSON schema of its record, and the record itself.
type Record struct {
	Provider string
	Schema   string
	Item     string
}

// Schemas of the vunnel records Grype's v6 processors accept.
const (
	SchemaOS     = "https://raw.githubusercontent.com/anchore/vunnel/main/schema/vulnerability/os/schema-1.1.0.json"
	SchemaGitHub = "https://raw.githubusercontent.com/anchore/vunnel/main/schema/vulnerability/github-security-advisory/schema-1.0.1.json"
)

// SampleAdvisories are made-up advisories, one per severity, against packages the images of
// testdata/sample-image and testimage really contain: Debian 12's openssl (libssl3), libxml2 and
// glibc (libc6), and the Python packages cryptography and requests; plus two that must not match
// (a zlib fix older than the installed version, a nova range above it). The IDs are in a year no
// real advisory has.
var SampleAdvisories = []Record{
	{Provider: "debian", Schema: SchemaOS, Item: `{"Vulnerability": {
		"Name": "CVE-2099-1001", "NamespaceName": "debian:12", "Severity": "High",
		"Link": "https://security-tracker.debian.org/tracker/CVE-2099-1001",
		"Description": "Made-up heap overflow in the TLS record layer.",
		"CVSS": [{"version": "3.1", "vector_string": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H",
			"base_metrics": {"base_score": 7.5, "exploitability_score": 3.9, "impact_score": 3.6, "base_severity": "High"}, "status": "N/A"}],
		"FixedIn": [{"Name": "openssl", "NamespaceName": "debian:12", "VersionFormat": "dpkg", "Version": "3.0.18-1~deb12u1",
			"VendorAdvisory": {"NoAdvisory": false, "AdvisorySummary": [{"ID": "DSA-9901-1", "Link": "https://security-tracker.debian.org/tracker/DSA-9901-1"}]}}],
		"Metadata": {}}}`},
	{Provider: "debian", Schema: SchemaOS, Item: `{"Vulnerability": {
		"Name": "CVE-2099-1002", "NamespaceName": "debian:12", "Severity": "Medium",
		"Link": "https://security-tracker.debian.org/tracker/CVE-2099-1002",
		"Description": "Made-up entity expansion in the XML parser.",
		"FixedIn": [{"Name": "libxml2", "NamespaceName": "debian:12", "VersionFormat": "dpkg", "Version": "None",
			"VendorAdvisory": {"NoAdvisory": false, "AdvisorySummary": []}}],
		"Metadata": {}}}`},
	{Provider: "debian", Schema: SchemaOS, Item: `{"Vulnerability": {
		"Name": "CVE-2099-1004", "NamespaceName": "debian:12", "Severity": "Negligible",
		"Link": "https://security-tracker.debian.org/tracker/CVE-2099-1004",
		"Description": "Made-up timing side channel in a libc string function.",
		"FixedIn": [{"Name": "glibc", "NamespaceName": "debian:12", "VersionFormat": "dpkg", "Version": "None",
			"VendorAdvisory": {"NoAdvisory": false, "AdvisorySummary": []}}],
		"Metadata": {}}}`},
	{Provider: "debian", Schema: SchemaOS, Item: `{"Vulnerability": {
		"Name": "CVE-2099-1005", "NamespaceName": "debian:12", "Severity": "Critical",
		"Link": "https://security-tracker.debian.org/tracker/CVE-2099-1005",
		"Description": "Made-up flaw fixed before the installed version.",
		"FixedIn": [{"Name": "zlib", "NamespaceName": "debian:12", "VersionFormat": "dpkg", "Version": "1:1.2.13.dfsg-0",
			"VendorAdvisory": {"NoAdvisory": false, "AdvisorySummary": []}}],
		"Metadata": {}}}`},
	{Provider: "github", Schema: SchemaGitHub, Item: `{"Advisory": {
		"ghsaId": "GHSA-2099-crit-0003", "namespace": "github:python", "Severity": "Critical", "Classification": "GENERAL",
		"Summary": "Made-up signature bypass in cryptography",
		"url": "https://github.com/advisories/GHSA-2099-crit-0003",
		"CVE": ["CVE-2099-1003"], "Metadata": {"CVE": ["CVE-2099-1003"]},
		"CVSS": {"version": "3.1", "vector_string": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
			"base_metrics": {"base_score": 9.8, "exploitability_score": 3.9, "impact_score": 5.9, "base_severity": "Critical"}, "status": "N/A"},
		"FixedIn": [{"name": "cryptography", "identifier": "44.0.2", "ecosystem": "python", "namespace": "github:python", "range": "< 44.0.2"}],
		"published": "2099-01-02T00:00:00Z", "updated": "2099-01-03T00:00:00Z", "withdrawn": null}}`},
	{Provider: "github", Schema: SchemaGitHub, Item: `{"Advisory": {
		"ghsaId": "GHSA-2099-low0-0006", "namespace": "github:python", "Severity": "Low", "Classification": "GENERAL",
		"Summary": "Made-up header injection in requests",
		"url": "https://github.com/advisories/GHSA-2099-low0-0006",
		"CVE": [], "Metadata": {"CVE": []},
		"FixedIn": [{"name": "requests", "identifier": "", "ecosystem": "python", "namespace": "github:python", "range": "<= 2.32.3"}],
		"published": "2099-01-02T00:00:00Z", "updated": "2099-01-03T00:00:00Z", "withdrawn": null}}`},
	{Provider: "github", Schema: SchemaGitHub, Item: `{"Advisory": {
		"ghsaId": "GHSA-2099-none-0007", "namespace": "github:python", "Severity": "High", "Classification": "GENERAL",
		"Summary": "Made-up flaw in a nova release the image does not have",
		"url": "https://github.com/advisories/GHSA-2099-none-0007",
		"CVE": [], "Metadata": {"CVE": []},
		"FixedIn": [{"name": "nova", "identifier": "34.0.1", "ecosystem": "python", "namespace": "github:python", "range": ">= 33.0.0, < 34.0.1"}],
		"published": "2099-01-02T00:00:00Z", "updated": "2099-01-03T00:00:00Z", "withdrawn": null}}`},
}

// Options shape the database Build makes.
type Options struct {
	Records []Record  // nil: SampleAdvisories
	Built   time.Time // the database's build time; zero: now
	// Gzip serves the archive Grype's packager wrote (tar.gz) as it is; otherwise it is
	// recompressed as tar.zst, the format grype.anchore.io distributes.
	Gzip bool
}

// Archive is a packaged database and the listing that names it.
type Archive struct {
	Name    string // file name, as the listing's path
	Body    []byte
	Listing distribution.LatestDocument
}

// packMu serialises Grype's packager, which changes the process's working directory while it
// writes the archive.
var packMu sync.Mutex

// Build builds a v6 vulnerability database with Grype's own build path — vunnel records
// through the v6 processors into the v6 writer, then Grype's packager — and returns the archive
// with its listing (checksum, build time, schema version).
func Build(t testing.TB, o Options) *Archive {
	t.Helper()
	a, err := Write(t.TempDir(), o)
	if err != nil {
		t.Fatalf("testserver: build grype db: %v", err)
	}
	return a
}

// Write is Build outside a test (bench/mkgrypedb), building in dir.
func Write(dir string, o Options) (*Archive, error) {
	records := o.Records
	if records == nil {
		records = SampleAdvisories
	}
	built := o.Built
	if built.IsZero() {
		built = time.Now()
	}
	built = built.UTC().Truncate(time.Second)

	states := map[string]provider.State{}
	var all provider.States
	for _, r := range records {
		if _, ok := states[r.Provider]; !ok {
			s := provider.State{Provider: r.Provider, Version: 1, Processor: "vunnel@testserver", Timestamp: built,
				Schema: provider.Schema{URL: r.Schema}, Store: "flat-file"}
			states[r.Provider] = s
			all = append(all, s)
		}
	}
	w, err := v6build.NewWriter(dir, all, false, 0)
	if err != nil {
		return nil, err
	}
	processors := v6build.Processors(v6build.NewConfig())
	for _, r := range records {
		var proc data.Processor
		for _, p := range processors {
			if p.IsSupported(r.Schema) {
				proc = p
				break
			}
		}
		if proc == nil {
			return nil, fmt.Errorf("no processor for schema %s", r.Schema)
		}
		entries, err := proc.Process(strings.NewReader(r.Item), states[r.Provider])
		if err != nil {
			return nil, fmt.Errorf("%s record: %w", r.Provider, err)
		}
		if err := w.Write(entries...); err != nil {
			return nil, err
		}
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	// The writer stamps the build time with the clock; a test of a stale database needs another.
	ldb, err := v6.NewLowLevelDB(filepath.Join(dir, v6.VulnerabilityDBFileName), false, true, false)
	if err != nil {
		return nil, err
	}
	if err := ldb.Model(&v6.DBMetadata{}).Where("true").Update("build_timestamp", built).Error; err != nil {
		return nil, err
	}
	if sqlDB, err := ldb.DB(); err == nil {
		sqlDB.Close()
	}

	packMu.Lock()
	err = v6build.CreateArchive(dir, "tar.gz", nil)
	packMu.Unlock()
	if err != nil {
		return nil, err
	}
	f, err := os.Open(filepath.Join(dir, distribution.LatestFileName))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	listing, err := distribution.NewLatestFromReader(f)
	if err != nil {
		return nil, err
	}
	archivePath := filepath.Join(dir, listing.Path)
	body, err := os.ReadFile(archivePath)
	if err != nil {
		return nil, err
	}
	a := &Archive{Name: listing.Path, Body: body, Listing: *listing}
	if !o.Gzip {
		if err := a.recompressZstd(); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// recompressZstd re-encodes the packager's tar.gz as tar.zst (the same tar stream) and points the
// listing at it with its new checksum.
func (a *Archive) recompressZstd() error {
	zr, err := gzip.NewReader(bytes.NewReader(a.Body))
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	zw, err := zstd.NewWriter(&buf)
	if err != nil {
		return err
	}
	if _, err := io.Copy(zw, zr); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	a.Body = buf.Bytes()
	a.Name = strings.TrimSuffix(a.Name, ".tar.gz") + ".tar.zst"
	a.Listing.Path = a.Name
	sum := sha256.Sum256(a.Body)
	a.Listing.Checksum = "sha256:" + hex.EncodeToString(sum[:])
	return nil
}

// TarMembers lists the names in the archive's tar stream (gzip or zstd), for tests that check
// what the packager put in.
func (a *Archive) TarMembers() ([]string, error) {
	var r io.Reader
	if strings.HasSuffix(a.Name, ".tar.gz") {
		zr, err := gzip.NewReader(bytes.NewReader(a.Body))
		if err != nil {
			return nil, err
		}
		r = zr
	} else {
		zr, err := zstd.NewReader(bytes.NewReader(a.Body))
		if err != nil {
			return nil, err
		}
		defer zr.Close()
		r = zr
	}
	var names []string
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return names, nil
		}
		if err != nil {
			return nil, err
		}
		names = append(names, h.Name)
	}
}

// Fault is what the database server does wrong on purpose.
type Fault int

const (
	Healthy   Fault = iota
	Truncated       // the archive stops half-way (the connection drops)
	Tampered        // one byte of the archive differs from what the listing's checksum says
	Down            // every request gets 503
)

// Server serves a database the way grype.anchore.io does: a listing at
// <URL>/v6/latest.json whose path names the archive beside it.
type Server struct {
	URL     string // what grype-db-url takes: http://127.0.0.1:PORT/databases
	Archive *Archive

	fault    atomic.Int32
	requests atomic.Int64
	archives atomic.Int64
}

// Start builds a database (Build) and serves it on loopback until the test ends.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	return Serve(t, Build(t, o))
}

// Serve serves an archive built before, so several servers can share one build.
func Serve(t testing.TB, a *Archive) *Server {
	t.Helper()
	g := &Server{Archive: a}
	listing, err := json.Marshal(a.Listing)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /databases/v6/latest.json", func(w http.ResponseWriter, r *http.Request) {
		if g.refuse(w) {
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(listing)
	})
	mux.HandleFunc("GET /databases/v6/{file}", func(w http.ResponseWriter, r *http.Request) {
		if g.refuse(w) {
			return
		}
		if r.PathValue("file") != a.Name {
			http.NotFound(w, r)
			return
		}
		g.archives.Add(1)
		body := a.Body
		switch Fault(g.fault.Load()) {
		case Tampered:
			body = bytes.Clone(body)
			body[len(body)/2] ^= 0x01
		case Truncated:
			// Promise the whole archive, send half, and drop the connection.
			w.Header().Set("Content-Length", fmt.Sprint(len(body)))
			w.WriteHeader(http.StatusOK)
			w.Write(body[:len(body)/2])
			if f, ok := w.(http.Flusher); ok {
				f.Flush()
			}
			panic(http.ErrAbortHandler)
		}
		w.Header().Set("Content-Type", "application/zstd")
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		w.Write(body)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		g.requests.Add(1)
		http.NotFound(w, r)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	g.URL = srv.URL + "/databases"
	return g
}

func (g *Server) refuse(w http.ResponseWriter) bool {
	g.requests.Add(1)
	if Fault(g.fault.Load()) == Down {
		http.Error(w, "service unavailable", http.StatusServiceUnavailable)
		return true
	}
	return false
}

// SetFault makes the server misbehave from the next request on.
func (g *Server) SetFault(f Fault) { g.fault.Store(int32(f)) }

// Requests counts every request the server received.
func (g *Server) Requests() int { return int(g.requests.Load()) }

// ArchiveDownloads counts requests for the archive itself.
func (g *Server) ArchiveDownloads() int { return int(g.archives.Load()) }

// ArchiveURL is where the listing's path points.
func (g *Server) ArchiveURL() string { return g.URL + "/v6/" + path.Base(g.Archive.Name) }
