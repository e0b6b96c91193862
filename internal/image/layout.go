package image

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/bom-attest/bom-attest/internal/image/blob"
	"github.com/bom-attest/bom-attest/internal/localfile"
)

// layoutDir reads an OCI image layout. Its index.json is not content-addressed, but every blob
// reached from it is read through a check against the descriptor that named it, so an edited
// manifest, config or layer is an error, not an SBOM of the edit. go-containerregistry's layout
// package trusts the files as they are.
type layoutDir string

// blob opens the blob d names. Only a regular file of the descriptor's size is read.
func (l layoutDir) blob(d v1.Descriptor, what string) (io.ReadCloser, error) {
	if d.Digest.Algorithm != "sha256" || len(d.Digest.Hex) != 64 {
		return nil, blob.Named(what, fmt.Errorf("%w: no sha256 digest", ErrBlobDigest))
	}
	f, st, err := localfile.Open(filepath.Join(string(l), "blobs", "sha256", d.Digest.Hex))
	if err != nil {
		return nil, blob.Named(what, err)
	}
	if st.Size() != d.Size {
		f.Close()
		return nil, blob.Named(what, fmt.Errorf("%w: the blob has %d bytes, its descriptor %d", ErrBlobDigest, st.Size(), d.Size))
	}
	return blob.Verify(f, d, what)
}

func (l layoutDir) bytes(d v1.Descriptor, limit int64, what string) ([]byte, error) {
	if d.Size > limit {
		return nil, blob.Named(what, fmt.Errorf("%w: it claims %d bytes, more than the %d it may have", ErrLimit, d.Size, limit))
	}
	rc, err := l.blob(d, what)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// openLayout reads the layout's index.json.
func openLayout(dir string) (*layoutIndex, error) {
	raw, err := localfile.Read(context.Background(), filepath.Join(dir, "index.json"), blob.MaxManifestBytes)
	if errors.Is(err, localfile.ErrTooLarge) {
		err = fmt.Errorf("%w: %w", blob.ErrLimit, err)
	}
	if err != nil {
		return nil, err
	}
	im, err := v1.ParseIndexManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("index.json: %w", err)
	}
	d, _, _ := v1.SHA256(bytes.NewReader(raw))
	return &layoutIndex{dir: layoutDir(dir), digest: d, raw: raw, im: im}, nil
}

// layoutIndex is index.json or an index blob of a layout.
type layoutIndex struct {
	dir    layoutDir
	digest v1.Hash
	raw    []byte
	im     *v1.IndexManifest
}

var _ v1.ImageIndex = (*layoutIndex)(nil)

func (x *layoutIndex) MediaType() (types.MediaType, error) {
	if x.im.MediaType != "" {
		return x.im.MediaType, nil
	}
	return types.OCIImageIndex, nil
}
func (x *layoutIndex) Digest() (v1.Hash, error)                  { return x.digest, nil }
func (x *layoutIndex) Size() (int64, error)                      { return int64(len(x.raw)), nil }
func (x *layoutIndex) IndexManifest() (*v1.IndexManifest, error) { return x.im.DeepCopy(), nil }
func (x *layoutIndex) RawManifest() ([]byte, error)              { return x.raw, nil }

func (x *layoutIndex) find(h v1.Hash) (v1.Descriptor, error) {
	for _, d := range x.im.Manifests {
		if d.Digest == h {
			return d, nil
		}
	}
	return v1.Descriptor{}, fmt.Errorf("%s is not in index %s", h, x.digest)
}

func (x *layoutIndex) Image(h v1.Hash) (v1.Image, error) {
	d, err := x.find(h)
	if err != nil {
		return nil, err
	}
	return x.dir.image(d)
}

func (x *layoutIndex) ImageIndex(h v1.Hash) (v1.ImageIndex, error) {
	d, err := x.find(h)
	if err != nil {
		return nil, err
	}
	what := "index " + d.Digest.String()
	raw, err := x.dir.bytes(d, blob.MaxManifestBytes, what)
	if err != nil {
		return nil, err
	}
	im, err := v1.ParseIndexManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, blob.Named(what, err)
	}
	return &layoutIndex{dir: x.dir, digest: d.Digest, raw: raw, im: im}, nil
}

// image reads and checks a manifest and its config; layers are checked as they are read.
func (l layoutDir) image(d v1.Descriptor) (*layoutImage, error) {
	what := "manifest " + d.Digest.String()
	raw, err := l.bytes(d, blob.MaxManifestBytes, what)
	if err != nil {
		return nil, err
	}
	m, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, blob.Named(what, err)
	}
	cfgWhat := fmt.Sprintf("config %s of manifest %s", m.Config.Digest, d.Digest)
	rawCfg, err := l.bytes(m.Config, blob.MaxConfigBytes, cfgWhat)
	if err != nil {
		return nil, err
	}
	cf, err := v1.ParseConfigFile(bytes.NewReader(rawCfg))
	if err != nil {
		return nil, blob.Named(cfgWhat, err)
	}
	img := &layoutImage{desc: d, raw: raw, m: m, rawCfg: rawCfg, cf: cf}
	for i, ld := range m.Layers {
		ll := &layoutLayer{dir: l, desc: ld, what: layerWhat(i, ld.Digest, d.Digest)}
		if i < len(cf.RootFS.DiffIDs) {
			ll.diffID = cf.RootFS.DiffIDs[i]
		}
		img.layers = append(img.layers, ll)
	}
	return img, nil
}

func layerWhat(i int, layer, manifest v1.Hash) string {
	return fmt.Sprintf("layer %d %s of manifest %s", i, layer, manifest)
}

// layoutImage is an image of a layout whose manifest and config were read once and checked.
type layoutImage struct {
	desc   v1.Descriptor
	raw    []byte
	m      *v1.Manifest
	rawCfg []byte
	cf     *v1.ConfigFile
	layers []v1.Layer
}

var _ v1.Image = (*layoutImage)(nil)

func (i *layoutImage) Layers() ([]v1.Layer, error) { return i.layers, nil }
func (i *layoutImage) MediaType() (types.MediaType, error) {
	if i.m.MediaType != "" {
		return i.m.MediaType, nil
	}
	return i.desc.MediaType, nil
}
func (i *layoutImage) Size() (int64, error)                { return int64(len(i.raw)), nil }
func (i *layoutImage) ConfigName() (v1.Hash, error)        { return i.m.Config.Digest, nil }
func (i *layoutImage) ConfigFile() (*v1.ConfigFile, error) { return i.cf.DeepCopy(), nil }
func (i *layoutImage) RawConfigFile() ([]byte, error)      { return i.rawCfg, nil }
func (i *layoutImage) Digest() (v1.Hash, error)            { return i.desc.Digest, nil }
func (i *layoutImage) Manifest() (*v1.Manifest, error)     { return i.m.DeepCopy(), nil }
func (i *layoutImage) RawManifest() ([]byte, error)        { return i.raw, nil }
func (i *layoutImage) LayerByDigest(h v1.Hash) (v1.Layer, error) {
	return findLayer(i.layers, h, v1.Layer.Digest)
}
func (i *layoutImage) LayerByDiffID(h v1.Hash) (v1.Layer, error) {
	return findLayer(i.layers, h, v1.Layer.DiffID)
}

func findLayer(layers []v1.Layer, h v1.Hash, key func(v1.Layer) (v1.Hash, error)) (v1.Layer, error) {
	for _, l := range layers {
		if k, err := key(l); err == nil && k == h {
			return l, nil
		}
	}
	return nil, fmt.Errorf("no layer %s in the image", h)
}

// layoutLayer is a layer blob of a layout, read through its digest check.
type layoutLayer struct {
	dir    layoutDir
	desc   v1.Descriptor
	diffID v1.Hash
	what   string
}

var _ v1.Layer = (*layoutLayer)(nil)

func (l *layoutLayer) Digest() (v1.Hash, error)            { return l.desc.Digest, nil }
func (l *layoutLayer) DiffID() (v1.Hash, error)            { return l.diffID, nil }
func (l *layoutLayer) Size() (int64, error)                { return l.desc.Size, nil }
func (l *layoutLayer) MediaType() (types.MediaType, error) { return l.desc.MediaType, nil }
func (l *layoutLayer) Compressed() (io.ReadCloser, error)  { return l.dir.blob(l.desc, l.what) }
func (l *layoutLayer) Uncompressed() (io.ReadCloser, error) {
	rc, err := l.Compressed()
	if err != nil {
		return nil, err
	}
	return blob.Decompress(rc)
}
