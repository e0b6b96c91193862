package sbom

import (
	"context"
	"testing"

	"github.com/CycloneDX/cyclonedx-go"
	"github.com/anchore/grype/grype/vulnerability"
)

// For the external test that holds the vulnerability stage (internal/vulns, which imports this
// package) to the Grype equivalence of grype_test.go.
type MatchCase = matchCase

func MatchDB(t *testing.T) vulnerability.Provider { return matchDB(t) }
func MatchCases(t *testing.T) []MatchCase         { return matchCases(t) }

// ScanForTest scans dir as a run does: the CPEs made once the scan is done.
func ScanForTest(t *testing.T, dir string) *Result {
	r := scanWith(t, dir, true)
	if err := r.GenerateCPEs(context.Background()); err != nil {
		t.Fatal(err)
	}
	return r
}
func MatchesOf(t *testing.T, vp vulnerability.Provider, doc []byte) []string {
	return matchesOf(t, vp, doc)
}
func (c MatchCase) Dir() string  { return c.dir }
func (c MatchCase) Name() string { return c.name }

// ChunkHead is what encodeChunk takes the components array from between.
func ChunkHead(v cyclonedx.SpecVersion) ([]byte, error) { return chunkHead(v) }
