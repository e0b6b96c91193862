package statement

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	intoto "github.com/in-toto/attestation/go/v1"
	"google.golang.org/protobuf/encoding/protojson"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

const (
	amd64 = "sha256:0b3a9c0ffc2b8b5e9a4b0c4d1a7f3e6c5b2a1d0e9f8c7b6a5d4c3b2a1f0e9d8c"
	arm64 = "sha256:1c4b0d1ffd3c9c6f0b5c1d5e2b8f4f7d6c3b2e1f0a9d8c7b6e5d4c3b2a1f0e9d"
)

func TestNew(t *testing.T) {
	bom := []byte(`{"bomFormat":"CycloneDX","specVersion":"1.6","version":1}`)
	img := []Subject{{Name: "ghcr.io/acme/app", Digest: amd64}}
	tests := []struct {
		name          string
		subjects      []Subject
		predicateType string
		predicate     []byte
		err           error
	}{
		{"sbom", img, PredicateCycloneDX, bom, nil},
		{"two platforms", []Subject{{"ghcr.io/acme/app", amd64}, {"ghcr.io/acme/app", arm64}}, PredicateCycloneDX, bom, nil},
		{"custom predicate type", img, "https://example.com/mlbom/v1", bom, nil},
		{"no subject", nil, PredicateCycloneDX, bom, ErrSubject},
		{"no name", []Subject{{"", amd64}}, PredicateCycloneDX, bom, ErrSubject},
		{"uppercase name", []Subject{{"ghcr.io/Acme/app", amd64}}, PredicateCycloneDX, bom, ErrSubject},
		{"sha512 digest", []Subject{{"ghcr.io/acme/app", "sha512:" + strings.Repeat("a", 128)}}, PredicateCycloneDX, bom, ErrSubject},
		{"short digest", []Subject{{"ghcr.io/acme/app", "sha256:abc"}}, PredicateCycloneDX, bom, ErrSubject},
		{"uppercase hex", []Subject{{"ghcr.io/acme/app", strings.ToUpper(amd64[:7]) + strings.ToUpper(amd64[7:])}}, PredicateCycloneDX, bom, ErrSubject},
		{"not hex", []Subject{{"ghcr.io/acme/app", "sha256:" + strings.Repeat("z", 64)}}, PredicateCycloneDX, bom, ErrSubject},
		{"no predicate type", img, "", bom, ErrPredicate},
		{"array predicate", img, PredicateCycloneDX, []byte(`[1]`), ErrPredicate},
		{"broken predicate", img, PredicateCycloneDX, []byte(`{"a":`), ErrPredicate},
		{"empty predicate", img, PredicateCycloneDX, nil, ErrPredicate},
		{"too large", img, PredicateCycloneDX, bigPredicate(MaxPredicateSize + 1), ErrTooLarge},
		{"at the limit", img, PredicateCycloneDX, bigPredicate(MaxPredicateSize), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := New("sbom.cdx.json", tt.subjects, tt.predicateType, tt.predicate)
			if !errors.Is(err, tt.err) {
				t.Fatalf("New() error = %v, want %v", err, tt.err)
			}
			if err != nil {
				if !strings.HasPrefix(err.Error(), "sbom.cdx.json: ") {
					t.Errorf("error %q does not name the document", err)
				}
				return
			}
			// Whatever we write must read back as an in-toto v1 statement (that is what
			// sigstore-go does when it verifies the bundle).
			var st intoto.Statement
			if err := protojson.Unmarshal(got, &st); err != nil {
				t.Fatalf("output is not an in-toto statement: %v", err)
			}
			if err := st.Validate(); err != nil {
				t.Fatalf("in-toto validation: %v", err)
			}
			if st.GetPredicateType() != tt.predicateType || len(st.GetSubject()) != len(tt.subjects) {
				t.Fatalf("round trip lost data: %v", &st)
			}
			for i, s := range tt.subjects {
				if st.GetSubject()[i].GetName() != s.Name || "sha256:"+st.GetSubject()[i].GetDigest()["sha256"] != s.Digest {
					t.Errorf("subject %d = %v, want %v", i, st.GetSubject()[i], s)
				}
			}
		})
	}
}

func TestNewTooLargeMessage(t *testing.T) {
	_, err := New("mlbom.cdx.json", []Subject{{"ghcr.io/acme/app", amd64}}, PredicateCycloneDX, bigPredicate(17<<20))
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v", err)
	}
	for _, want := range []string{"mlbom.cdx.json", "17.0 MiB", "17825792 bytes", "16 MiB"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

// TestNewGolden pins the exact bytes, field order included (_type, subject, predicateType,
// predicate), since these bytes are what gets signed.
func TestNewGolden(t *testing.T) {
	pred := []byte("{\n  \"bomFormat\": \"CycloneDX\",\n  \"specVersion\": \"1.6\",\n  \"version\": 1\n}\n")
	got, err := New("sbom.cdx.json", []Subject{{"ghcr.io/acme/app", amd64}}, PredicateCycloneDX, pred)
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "sbom.intoto.json")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("statement differs from %s:\ngot  %s\nwant %s", golden, got, want)
	}
	dec := json.NewDecoder(bytes.NewReader(got))
	var keys []string
	if _, err := dec.Token(); err != nil {
		t.Fatal(err)
	}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	if strings.Join(keys, ",") != "_type,subject,predicateType,predicate" {
		t.Fatalf("field order = %v", keys)
	}
}

func TestSubjectName(t *testing.T) {
	tests := []struct {
		in, want string
		err      error
	}{
		{"ghcr.io/acme/app", "ghcr.io/acme/app", nil},
		{"ghcr.io/Acme/App:v1.2", "ghcr.io/acme/app", nil},
		{"ghcr.io/acme/app@" + amd64, "ghcr.io/acme/app", nil},
		{"ghcr.io/acme/app:1.0@" + amd64, "ghcr.io/acme/app", nil},
		{"registry.local:5000/team/app:latest", "registry.local:5000/team/app", nil},
		{"registry.local:5000/team/app", "registry.local:5000/team/app", nil},
		{"  alpine  ", "alpine", nil},
		{"", "", ErrSubject},
		{"ghcr.io/acme/app name", "", ErrSubject},
		{"@" + amd64, "", ErrSubject},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := SubjectName(tt.in)
			if !errors.Is(err, tt.err) {
				t.Fatalf("SubjectName(%q) error = %v, want %v", tt.in, err, tt.err)
			}
			if got != tt.want {
				t.Fatalf("SubjectName(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// bigPredicate is a JSON object of exactly n bytes.
func bigPredicate(n int) []byte {
	const head, tail = `{"pad":"`, `"}`
	b := make([]byte, 0, n)
	b = append(b, head...)
	b = append(b, bytes.Repeat([]byte("x"), n-len(head)-len(tail))...)
	return append(b, tail...)
}
