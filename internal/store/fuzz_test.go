package store

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/bom-attest/bom-attest/internal/statement"
)

const fuzzSubject = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

// fuzzBundle is a bundle of the shape bom-attest publishes, signature not real.
func fuzzBundle(predicateType string) []byte {
	st := fmt.Sprintf(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"x","digest":{"sha256":%q}}],"predicateType":%q,"predicate":{}}`,
		strings.TrimPrefix(fuzzSubject, "sha256:"), predicateType)
	b, _ := json.Marshal(map[string]any{
		"mediaType":            BundleMediaType,
		"verificationMaterial": map[string]any{"certificate": map[string]string{"rawBytes": "MIIB"}},
		"dsseEnvelope": map[string]any{
			"payload":     base64.StdEncoding.EncodeToString([]byte(st)),
			"payloadType": "application/vnd.in-toto+json",
			"signatures":  []map[string]string{{"sig": "MEUCIQ"}},
		},
	})
	return b
}

// FuzzReferrerAnswers feeds what a registry answers to FindBundles — a referrers index (API
// answer or tag), a referrer manifest, a bundle blob — to the code that reads them: none may
// panic, and what each accepts must have the shape the next step relies on.
func FuzzReferrerAnswers(f *testing.F) {
	bundle := fuzzBundle("https://cyclonedx.org/bom")
	layer, _, _ := v1.SHA256(bytes.NewReader(bundle))
	subject, _ := v1.NewHash(fuzzSubject)
	manifest, _ := json.Marshal(v1.Manifest{
		SchemaVersion: 2, MediaType: types.OCIManifestSchema1, ArtifactType: BundleMediaType,
		Config:      v1.Descriptor{MediaType: types.OCIEmptyJSON, Size: 2, Digest: v1.Hash{Algorithm: "sha256", Hex: "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"}},
		Layers:      []v1.Descriptor{{MediaType: BundleMediaType, Size: int64(len(bundle)), Digest: layer}},
		Annotations: map[string]string{AnnotationPredicateType: "https://cyclonedx.org/bom"},
		Subject:     &v1.Descriptor{MediaType: types.OCIManifestSchema1, Size: 100, Digest: subject},
	})
	md, _, _ := v1.SHA256(bytes.NewReader(manifest))
	index, _ := json.Marshal(v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: []v1.Descriptor{
		{MediaType: types.OCIManifestSchema1, Size: int64(len(manifest)), Digest: md, ArtifactType: BundleMediaType},
		{MediaType: types.OCIManifestSchema1, Size: 10, Digest: md, ArtifactType: "application/spdx+json"},
		{MediaType: types.OCIImageIndex, Size: 10, Digest: md},
	}})
	f.Add(index, manifest, bundle)
	f.Add([]byte(`{"schemaVersion":2,"manifests":null}`), []byte(`{"schemaVersion":2,"artifactType":"application/vnd.dev.sigstore.bundle.v0.3+json","layers":[{"digest":"sha256:zz"}]}`), []byte(`{"dsseEnvelope":{"payload":"!!"}}`))
	f.Add([]byte(`{"schemaVersion":1}`), []byte(`{"artifactType":"application/vnd.dev.sigstore.bundle+json","layers":[{},{}],"subject":null}`), []byte(`{"dsseEnvelope":{"payload":"bnVsbA=="}}`))
	f.Add([]byte(`[]`), []byte(`null`), []byte(``))
	digest := regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

	f.Fuzz(func(t *testing.T, index, manifest, bundle []byte) {
		if im, err := parseIndex(index); err == nil {
			if im.SchemaVersion != 2 || im.MediaType != "" && im.MediaType != types.OCIImageIndex {
				t.Fatalf("accepted an index of schemaVersion %d, mediaType %q", im.SchemaVersion, im.MediaType)
			}
			candidates := bundleCandidates(im.Manifests)
			if len(candidates) > len(im.Manifests) {
				t.Fatalf("%d candidates from %d entries", len(candidates), len(im.Manifests))
			}
			for _, d := range candidates {
				if d.MediaType != "" && d.MediaType != types.OCIManifestSchema1 {
					t.Fatalf("candidate of media type %q", d.MediaType)
				}
			}
		}
		layer, _, ok, err := parseReferrer(manifest, fuzzSubject)
		if ok {
			if err != nil {
				t.Fatalf("ok with an error: %v", err)
			}
			m, err := v1.ParseManifest(bytes.NewReader(manifest))
			if err != nil || m.Subject == nil || m.Subject.Digest.String() != fuzzSubject || len(m.Layers) != 1 || m.Layers[0].Digest != layer ||
				!strings.HasPrefix(m.ArtifactType, bundleMediaTypePrefix) {
				t.Fatalf("accepted a referrer that is not a bundle about the subject: %s", manifest)
			}
		}
		_ = statement.BundlePredicateType(bundle)
		k1, s1, err1 := bundleKey(bundle)
		k2, s2, err2 := bundleKey(bundle)
		if k1 != k2 || s1 != s2 || (err1 == nil) != (err2 == nil) {
			t.Fatal("bundleKey is not deterministic")
		}
		if err1 == nil && !digest.MatchString(s1) {
			t.Fatalf("subject %q is not a sha256 digest", s1)
		}
	})
}

// FuzzAttestationListing feeds a page of GitHub's attestation listing to the reader that looks
// for an uploaded bundle in it: no panic, and a match is only ever the bundle looked for.
func FuzzAttestationListing(f *testing.F) {
	mine := fuzzBundle("https://slsa.dev/provenance/v1")
	other := fuzzBundle("https://cyclonedx.org/bom")
	page := func(bundles ...[]byte) []byte {
		var items []string
		for i, b := range bundles {
			items = append(items, fmt.Sprintf(`{"id":%d,"repository_id":1,"bundle_url":"https://x/%d","bundle":%s}`, i+1, i, b))
		}
		return []byte(`{"attestations":[` + strings.Join(items, ",") + `]}`)
	}
	f.Add(page(other, mine))
	f.Add(page(other))
	f.Add([]byte(`{"attestations":null}`))
	f.Add([]byte(`{"attestations":[{"bundle_url":"https://x"}]}`))
	f.Add([]byte(`{"x":[1,2,{"a":"b"}],"attestations":[]}`))
	key, _, err := bundleKey(mine)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, listing []byte) {
		id, ok, err := scanListing(bytes.NewReader(listing), key)
		if !ok {
			return
		}
		if err != nil {
			t.Fatalf("a match with an error: %v", err)
		}
		// The match must come from an entry whose bundle really has our key.
		var l struct {
			Attestations []struct {
				ID     int64           `json:"id"`
				Bundle json.RawMessage `json:"bundle"`
			} `json:"attestations"`
		}
		if json.Unmarshal(listing, &l) != nil {
			return // the streaming reader stops at the match; the rest may be broken
		}
		for _, a := range l.Attestations {
			if k, _, err := bundleKey(a.Bundle); err == nil && k == key && a.ID == id {
				return
			}
		}
		t.Fatalf("matched id %d, which no entry with our bundle has", id)
	})
}
