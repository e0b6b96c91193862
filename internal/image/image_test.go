package image_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anchore/syft/syft/source"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/bom-attest/bom-attest/internal/image"
	"github.com/bom-attest/bom-attest/internal/testimage"
	"github.com/bom-attest/bom-attest/internal/testserver"
)

// platformImage is a Debian image whose dpkg database names its architecture.
func platformImage(t *testing.T, arch, variant string) v1.Image {
	t.Helper()
	img, err := testimage.DebianImage(arch, variant)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// twoPlatformIndex is what buildx pushes: two images and an attestation manifest for unknown/unknown.
func twoPlatformIndex(t *testing.T) v1.ImageIndex {
	t.Helper()
	idx, err := testimage.Index(platformImage(t, "amd64", ""), platformImage(t, "arm64", "v8"))
	if err != nil {
		t.Fatal(err)
	}
	att := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	return mutate.AppendManifests(idx, mutate.IndexAddendum{Add: att, Descriptor: v1.Descriptor{
		Platform:    &v1.Platform{OS: "unknown", Architecture: "unknown"},
		Annotations: map[string]string{"vnd.docker.reference.type": "attestation-manifest"},
	}})
}

func pushIndex(t *testing.T, host string) (name.Tag, v1.Hash, v1.ImageIndex) {
	t.Helper()
	idx := twoPlatformIndex(t)
	tag, err := name.NewTag(host+"/acme/voice-agent:1.0", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(tag, idx); err != nil {
		t.Fatalf("push to %s: %v", host, err)
	}
	d, _ := idx.Digest()
	return tag, d, idx
}

func childDigest(t *testing.T, idx v1.ImageIndex, arch string) string {
	im, _ := idx.IndexManifest()
	for _, m := range im.Manifests {
		if m.Platform != nil && m.Platform.Architecture == arch {
			return m.Digest.String()
		}
	}
	t.Fatalf("no %s in index", arch)
	return ""
}

func TestRegistry(t *testing.T) {
	reg := testserver.StartRegistry(t)
	tag, digest, idx := pushIndex(t, reg.Host)
	byDigest := tag.Context().Name() + "@" + digest.String()
	ctx := context.Background()

	tests := []struct {
		name       string
		ref        string
		o          image.Options
		platforms  []string
		subject    string
		resolvedAs string
		err        error
	}{
		{name: "index by digest, all platforms", ref: byDigest, platforms: []string{"linux/amd64", "linux/arm64/v8"}, subject: digest.String()},
		{name: "subject digest matches", ref: byDigest, o: image.Options{SubjectDigest: digest.String()}, platforms: []string{"linux/amd64", "linux/arm64/v8"}, subject: digest.String()},
		{name: "one platform", ref: byDigest, o: image.Options{Platforms: []string{"linux/arm64"}}, platforms: []string{"linux/arm64/v8"}, subject: digest.String()},
		{name: "platform not in index", ref: byDigest, o: image.Options{Platforms: []string{"linux/s390x"}}, err: image.ErrPlatformNotFound},
		{name: "digest mismatch", ref: byDigest, o: image.Options{SubjectDigest: "sha256:" + strings.Repeat("0", 64)}, err: image.ErrDigestMismatch},
		{name: "subject is one platform of the index", ref: byDigest, o: image.Options{SubjectDigest: childDigest(t, idx, "arm64")}, platforms: []string{"linux/arm64/v8"}, subject: childDigest(t, idx, "arm64")},
		{name: "tag resolved once", ref: tag.String(), platforms: []string{"linux/amd64", "linux/arm64/v8"}, subject: digest.String(), resolvedAs: tag.String()},
		{name: "tag whose digest differs", ref: tag.String(), o: image.Options{SubjectDigest: "sha256:" + strings.Repeat("1", 64)}, err: image.ErrDigestMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := image.Resolve(ctx, image.KindRegistry, tt.ref, tt.o)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if err != nil {
				return
			}
			defer r.Close()
			var got []string
			for _, tg := range r.Targets {
				got = append(got, tg.PlatformString())
				if tg.Name != tag.Context().Name() {
					t.Errorf("target name %q", tg.Name)
				}
			}
			if strings.Join(got, ",") != strings.Join(tt.platforms, ",") {
				t.Errorf("platforms = %v, want %v", got, tt.platforms)
			}
			if r.Subject.String() != tt.subject {
				t.Errorf("subject = %s, want %s", r.Subject, tt.subject)
			}
			if r.ResolvedTag != tt.resolvedAs || (tt.resolvedAs != "") != (len(r.Warnings) > 0) {
				t.Errorf("resolved tag = %q warnings %v", r.ResolvedTag, r.Warnings)
			}
		})
	}
}

// TestRegistryScanPerPlatform reads every platform of a pushed index and finds its own packages.
func TestRegistryScanPerPlatform(t *testing.T) {
	reg := testserver.StartRegistry(t)
	tag, digest, _ := pushIndex(t, reg.Host)
	ctx := context.Background()
	r, err := image.Resolve(ctx, image.KindRegistry, tag.Context().Name()+"@"+digest.String(), image.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, tg := range r.Targets {
		src, closeSrc, err := image.Open(ctx, tg)
		if err != nil {
			t.Fatal(err)
		}
		res, err := src.FileResolver(source.SquashedScope)
		if err != nil {
			t.Fatal(err)
		}
		locs, err := res.FilesByPath("/var/lib/dpkg/status")
		if err != nil || len(locs) != 1 {
			t.Fatalf("dpkg status in %s: %v %v", tg.PlatformString(), locs, err)
		}
		rc, _ := res.FileContentsByLocation(locs[0])
		b := make([]byte, 4096)
		n, _ := rc.Read(b)
		rc.Close()
		if !strings.Contains(string(b[:n]), "only-on-"+tg.Platform.Architecture) {
			t.Errorf("%s: read another platform's layers", tg.PlatformString())
		}
		if m, ok := src.Describe().Metadata.(source.ImageMetadata); !ok || m.ManifestDigest != tg.Digest.String() {
			t.Errorf("source metadata %+v does not name %s", src.Describe().Metadata, tg.Digest)
		}
		closeSrc()
	}
}

func TestLocalKinds(t *testing.T) {
	dir := t.TempDir()
	img := platformImage(t, "amd64", "")
	d, _ := img.Digest()

	layoutDir := filepath.Join(dir, "layout")
	if err := testimage.WriteLayout(layoutDir, img); err != nil {
		t.Fatal(err)
	}
	indexDir := filepath.Join(dir, "index")
	if err := testimage.WriteLayout(indexDir, twoPlatformIndex(t)); err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(dir, "img.oci.tar")
	tarDir(t, layoutDir, archive)
	dockerTar := filepath.Join(dir, "docker.tar")
	ref, _ := name.NewTag("registry.example/acme/api:2")
	if err := tarball.WriteToFile(dockerTar, ref, img); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name        string
		kind        image.Kind
		ref         string
		wantName    string
		wantTargets int
		wantSubject string
		err         error
	}{
		{"oci-dir image", image.KindOCIDir, layoutDir, "layout", 1, d.String(), nil},
		{"oci-dir index", image.KindOCIDir, indexDir, "index", 2, "", nil},
		{"oci-archive", image.KindOCIArchive, archive, "img.oci", 1, d.String(), nil},
		{"docker-archive", image.KindDockerArchive, dockerTar, "registry.example/acme/api", 1, "", nil},
		{"oci-dir that is no layout", image.KindOCIDir, dir, "", 0, "", os.ErrNotExist},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := image.Resolve(context.Background(), tt.kind, tt.ref, image.Options{})
			if tt.err != nil {
				if err == nil {
					t.Fatal("no error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if len(r.Targets) != tt.wantTargets || r.Targets[0].Name != tt.wantName {
				t.Errorf("targets = %d name %q", len(r.Targets), r.Targets[0].Name)
			}
			if tt.wantSubject != "" && r.Subject.String() != tt.wantSubject {
				t.Errorf("subject = %s, want %s", r.Subject, tt.wantSubject)
			}
		})
	}
}

// TestOpenKeepsTheSquashOnly: Open lets go of every layer's own tree and the squashes below the
// top layer, so the squashed image still answers for files of every layer (contents read from
// the layer that put them there, locations naming it) and the all-layers scope is refused
// rather than read from trees that are gone.
func TestOpenKeepsTheSquashOnly(t *testing.T) {
	img, err := testimage.Layered(v1.Platform{OS: "linux", Architecture: "amd64"},
		[]testimage.File{{Path: "etc/a", Body: []byte("1")}, {Path: "etc/b", Body: []byte("b")}},
		[]testimage.File{{Path: "etc/a", Body: []byte("2")}},
		[]testimage.File{{Path: "etc/c", Body: []byte("c")}},
	)
	if err != nil {
		t.Fatal(err)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "oci")
	if err := testimage.WriteLayout(dir, img); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	r, err := image.Resolve(ctx, image.KindOCIDir, dir, image.Options{SubjectName: "example.com/layers"})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	src, closeSrc, err := image.Open(ctx, r.Targets[0])
	if err != nil {
		t.Fatal(err)
	}
	defer closeSrc()
	if res, err := src.FileResolver(source.AllLayersScope); err == nil {
		t.Errorf("all-layers scope: %T, want an error", res)
	}
	res, err := src.FileResolver(source.SquashedScope)
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]struct {
		body  string
		layer int
	}{"/etc/a": {"2", 1}, "/etc/b": {"b", 0}, "/etc/c": {"c", 2}} {
		locs, err := res.FilesByPath(path)
		if err != nil || len(locs) != 1 {
			t.Fatalf("%s: %v %v", path, locs, err)
		}
		diffID, _ := layers[want.layer].DiffID()
		if locs[0].FileSystemID != diffID.String() {
			t.Errorf("%s: in layer %s, want layer %d (%s)", path, locs[0].FileSystemID, want.layer, diffID)
		}
		rc, err := res.FileContentsByLocation(locs[0])
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || string(b) != want.body {
			t.Errorf("%s: %q %v, want %q", path, b, err, want.body)
		}
	}
}
