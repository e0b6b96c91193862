package store

import (
	"bytes"
	"fmt"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The registry's answers are untrusted bytes: these read them, without the network, so that a
// fuzz target reaches every one.

// parseIndex reads a referrers index (the referrers API's answer or the referrers tag).
func parseIndex(b []byte) (*v1.IndexManifest, error) {
	im, err := v1.ParseIndexManifest(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("not an OCI image index: %v", err)
	}
	if im.SchemaVersion != 2 || (im.MediaType != "" && im.MediaType != types.OCIImageIndex) {
		return nil, fmt.Errorf("not an OCI image index: schemaVersion %d, mediaType %q", im.SchemaVersion, im.MediaType)
	}
	return im, nil
}

// bundleCandidates keeps the entries of a referrers index that may be Sigstore bundles: OCI
// image manifests whose listed artifactType is a bundle's, or the empty config type that
// registries deriving artifactType from the config list, or none.
func bundleCandidates(list []v1.Descriptor) []v1.Descriptor {
	var out []v1.Descriptor
	for _, d := range list {
		if d.ArtifactType != "" && !strings.HasPrefix(d.ArtifactType, bundleMediaTypePrefix) && d.ArtifactType != string(types.OCIEmptyJSON) {
			continue
		}
		if d.MediaType != "" && d.MediaType != types.OCIManifestSchema1 {
			continue
		}
		out = append(out, d)
	}
	return out
}

// parseReferrer reads a referrer manifest: ok when it is a Sigstore bundle artifact about
// subject, with the digest of its bundle layer and its predicate type annotation.
func parseReferrer(raw []byte, subject string) (layer v1.Hash, annotated string, ok bool, err error) {
	m, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil {
		return v1.Hash{}, "", false, err
	}
	if !strings.HasPrefix(m.ArtifactType, bundleMediaTypePrefix) || len(m.Layers) != 1 {
		return v1.Hash{}, "", false, nil
	}
	// A referrers tag is writable by anyone with push access; an entry whose manifest points at
	// another image is not this image's attestation.
	if m.Subject == nil || m.Subject.Digest.String() != subject {
		return v1.Hash{}, "", false, nil
	}
	return m.Layers[0].Digest, m.Annotations[AnnotationPredicateType], true, nil
}
