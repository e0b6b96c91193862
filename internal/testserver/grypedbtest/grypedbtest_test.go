package grypedbtest_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/bom-attest/bom-attest/internal/testserver/grypedbtest"
)

// TestGrypeDBListing checks the served listing the way Grype's client reads it: the archive at
// its path, with the listing's checksum, holding the database file, stamped with the build time asked for.
func TestGrypeDBListing(t *testing.T) {
	built := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	for _, gz := range []bool{false, true} {
		g := grypedbtest.Start(t, grypedbtest.Options{Built: built, Gzip: gz})
		resp, err := http.Get(g.URL + "/v6/latest.json")
		if err != nil {
			t.Fatal(err)
		}
		var listing struct {
			Built, Path, Checksum string
			SchemaVersion         string `json:"schemaVersion"`
		}
		json.NewDecoder(resp.Body).Decode(&listing)
		resp.Body.Close()
		if listing.Built != "2026-03-04T05:06:07Z" || listing.SchemaVersion[:2] != "v6" {
			t.Errorf("listing = %+v", listing)
		}
		resp, err = http.Get(g.URL + "/v6/" + listing.Path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		sum := sha256.Sum256(body)
		if "sha256:"+hex.EncodeToString(sum[:]) != listing.Checksum {
			t.Errorf("archive checksum differs from the listing's")
		}
		names, err := g.Archive.TarMembers()
		if err != nil || !slices.Contains(names, "vulnerability.db") {
			t.Errorf("archive members %v, %v", names, err)
		}
		t.Logf("gzip=%v %s %d bytes", gz, listing.Path, len(body))
	}
}
