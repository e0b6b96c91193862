package image

import (
	"errors"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/bom-attest/bom-attest/internal/image/blob"
)

// Sentinel errors callers branch on.
var (
	ErrDigestMismatch   = errors.New("image digest does not match subject-digest")
	ErrPlatformNotFound = errors.New("platform not in image")
	ErrNoImage          = errors.New("no image found")
	// ErrBlobDigest: a manifest, config or layer read from the image is not the content its
	// digest (or a layer's diff_id) names: the image was altered after it was built.
	ErrBlobDigest = blob.ErrDigest
	// ErrPlatform: an image config or index entry names a platform that is not a plain token.
	ErrPlatform = errors.New("invalid platform")
	// ErrLimit: reading the image would cost more than a limit allows.
	ErrLimit = blob.ErrLimit
	// ErrNotRegular: an archive or blob path is a FIFO, device or other file that is not a
	// regular file.
	ErrNotRegular = blob.ErrNotRegular
	// ErrBadArchive: an archive holds an entry no image archive has (a link, a device, a path
	// outside the archive, more bytes than the archive itself).
	ErrBadArchive = blob.ErrBadArchive
)

// Kind is where an image comes from, as in the image input's prefixes.
type Kind string

const (
	KindRegistry      Kind = "registry"
	KindOCIDir        Kind = "oci-dir"
	KindOCIArchive    Kind = "oci-archive"
	KindDockerArchive Kind = "docker-archive"
)

// LocalKinds are the kinds read from a path, in the order the image input's prefixes are tried.
var LocalKinds = []Kind{KindOCIDir, KindOCIArchive, KindDockerArchive}

// Options tune Resolve.
type Options struct {
	Keychain      authn.Keychain    // nil: the docker config keychain
	Transport     http.RoundTripper // nil: http.DefaultTransport
	UserAgent     string
	Platforms     []string // nil: every platform
	SubjectDigest string   // "" or sha256:...; what was scanned must be this
	SubjectName   string   // name the subject is known by; defaults to the reference's repository
	Limits        Limits   // zero fields take the defaults
}

// Limits bound what reading one image (one platform manifest) may cost. Zero fields take the
// defaults. Errors name the action inputs that set them.
type Limits struct {
	// MaxBytes bounds the uncompressed bytes of the image's layers (max-image-bytes). Every
	// layer is unpacked into the temporary directory, so this is also the scan's footprint
	// there; the free space of that disk bounds it too (see blob.Budget.LimitDisk).
	MaxBytes int64
	// MaxEntries bounds the file entries of the image's layers (max-image-entries), which is
	// the scan's memory: stereoscope and Syft hold about 4 KB per entry. An entry under many
	// layers, with long names, or with parent directories the layer does not list counts as
	// more (see blob.Budget).
	MaxEntries int64
}

// Defaults: an image of 32 GiB or a million files is far beyond any we have seen built; a
// million files cost about 4.5 GB of memory, which a 7 GB runner still has.
const (
	DefaultMaxBytes   int64 = 32 << 30
	DefaultMaxEntries int64 = 1_000_000
)

func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	if l.MaxEntries <= 0 {
		l.MaxEntries = DefaultMaxEntries
	}
	return l
}

// Target is one image manifest to scan.
type Target struct {
	Image       v1.Image
	Digest      v1.Hash     // manifest digest of this image
	IndexDigest *v1.Hash    // the index it was picked from, if any
	Platform    v1.Platform // from the image config
	Name        string      // subject name, e.g. ghcr.io/acme/app
	RepoURL     string      // registry/repository for purls; "" for local images without a name
	Raw         []byte      // raw manifest
	Limits      Limits      // what Open may spend reading the layers; zero fields take the defaults

	// fromUncompressed: the layers are stored uncompressed (docker save), so they are read as
	// such rather than recompressed to be read back.
	fromUncompressed bool
	// remote: the layers are pulled from a registry, so a LayerCache may keep them.
	remote bool
}

// PlatformString is os/arch[/variant].
func (t Target) PlatformString() string { return platformString(t.Platform) }

// FileSuffix names per-platform files: linux-amd64, linux-arm64-v8.
func (t Target) FileSuffix() string { return strings.ReplaceAll(t.PlatformString(), "/", "-") }

// Resolved is what Resolve found.
type Resolved struct {
	Subject     v1.Hash // digest the attestations bind to: the index's, or the image's
	IsIndex     bool
	Targets     []Target
	ResolvedTag string   // the tag that was resolved to Subject, when the input had no digest
	Warnings    []string // for the job summary
	cleanup     []func() error
}

// Close removes anything Resolve unpacked.
func (r *Resolved) Close() error {
	var errs []error
	for _, f := range r.cleanup {
		errs = append(errs, f())
	}
	return errors.Join(errs...)
}
