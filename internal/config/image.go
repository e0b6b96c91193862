package config

import (
	"regexp"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/bom-attest/bom-attest/internal/image"
)

func (v *validator) image(c *Config, img string) {
	if img == "" {
		switch {
		case c.SubjectName == "":
			v.add("image", "required: give image, subject-name with subject-digest, or images")
			return
		case c.SubjectDigest == "":
			v.add("subject-digest", "required when image is not given (the image is subject-name@subject-digest)")
			return
		}
		img = c.SubjectName + "@" + c.SubjectDigest
	}
	if v.foreignReference(img) {
		return
	}
	for _, kind := range image.LocalKinds {
		if p, ok := strings.CutPrefix(img, string(kind)+":"); ok {
			c.ImageKind, c.ImageRef = kind, p
			switch {
			case p == "":
				v.add("image", "%s: needs a path", kind)
			case kind == image.KindOCIDir:
				v.checkDir("image", "oci-dir:", p)
			default:
				// An archive is read as a stream: a named pipe or a device would hang the pull.
				v.checkRegular("image", string(kind)+":", p)
			}
			return
		}
	}
	img = strings.TrimPrefix(img, "registry:")
	ref, err := name.ParseReference(img)
	if err != nil {
		v.add("image", "not a valid image reference %q: %v", img, err)
		return
	}
	if last := img[strings.LastIndex(img, "/")+1:]; !strings.ContainsAny(last, ":@") {
		v.add("image", "%q has neither tag nor digest; give image@sha256:... (or a tag, resolved once)", img)
		return
	}
	c.ImageKind, c.ImageRef = image.KindRegistry, ref.String()
	if d, ok := ref.(name.Digest); ok && c.SubjectDigest != "" && d.DigestStr() != c.SubjectDigest {
		v.add("subject-digest", "%s differs from the digest in image (%s)", c.SubjectDigest, d.DigestStr())
	}
	if c.SubjectName == "" {
		c.SubjectName = strings.ToLower(ref.Context().Name())
	}
}

// MaxImages bounds the images input: each image is resolved, pulled and attested in turn, and
// a list longer than this is more likely a mistake than a release.
const MaxImages = 100

// images reads the images input: name@sha256:<digest> per entry, registry images only, each
// listed once. image, subject-name and subject-digest describe one image and do not go with it.
func (v *validator) images(c *Config, raw map[string]string) {
	for _, in := range []string{"image", "subject-name", "subject-digest"} {
		if raw[in] != "" {
			v.add("images", "and %s are both set; give several images as images alone (name@sha256:<digest> per line)", in)
			return
		}
	}
	list := List(raw["images"])
	if len(list) > MaxImages {
		v.add("images", "lists %d images; at most %d can be attested in one step", len(list), MaxImages)
		return
	}
	seen := map[string]bool{}
	for _, entry := range list {
		img, ok := parseImagesEntry(entry)
		if !ok {
			v.add("images", "%q is not name@sha256:<64 hex digits> of a registry image (e.g. ghcr.io/acme/app@sha256:…, no tag)", entry)
			continue
		}
		if seen[img.Ref] {
			v.add("images", "%q is listed twice", entry)
			continue
		}
		seen[img.Ref] = true
		c.Images = append(c.Images, img)
	}
	if len(c.Images) > 0 {
		first := c.Images[0]
		c.ImageKind, c.ImageRef, c.SubjectName, c.SubjectDigest = first.Kind, first.Ref, first.Name, first.Digest
	}
}

// parseImagesEntry reads one entry of the images input. The name is lowercased, as subject-name
// is: it is the attestations' subject name.
func parseImagesEntry(entry string) (Image, bool) {
	at := strings.LastIndex(entry, "@")
	if at < 0 {
		return Image{}, false
	}
	n, d := strings.ToLower(entry[:at]), entry[at+1:]
	if !digestRE.MatchString(d) {
		return Image{}, false
	}
	if _, err := name.NewRepository(n); err != nil {
		return Image{}, false
	}
	ref, err := name.NewDigest(n + "@" + d)
	if err != nil {
		return Image{}, false
	}
	return Image{Kind: image.KindRegistry, Ref: ref.String(), Name: n, Digest: d}, true
}

// hostPort is what follows "name:" when name is a registry host with a port, not a transport.
var hostPort = regexp.MustCompile(`^[0-9]+(/|$)`)

// foreignReference reports (and returns true for) an image written the way another tool
// (skopeo, crane, buildah, a browser) spells it, with the spelling bom-attest reads — rather
// than let "docker://ghcr.io/a/b" become a lookup of a registry host called "docker".
func (v *validator) foreignReference(img string) bool {
	for _, scheme := range []string{"docker://", "https://", "http://"} {
		if rest, ok := strings.CutPrefix(img, scheme); ok {
			v.add("image", "%q is not a reference bom-attest reads; did you mean %q?", img, rest)
			return true
		}
	}
	transport, rest, ok := strings.Cut(img, ":")
	if !ok || hostPort.MatchString(rest) {
		return false
	}
	switch transport {
	case "oci", "oci-layout":
		v.add("image", "%q is not a reference bom-attest reads; did you mean %q?", img, "oci-dir:"+rest)
	case "docker-daemon":
		v.add("image", "%q: the Docker daemon is not read; save the image (docker save %s -o image.tar) and give docker-archive:image.tar", img, rest)
	case "containers-storage", "dir", "ostree", "sif", "tarball":
		v.add("image", "%q: the %s transport is not supported; give a registry reference, oci-dir:, oci-archive: or docker-archive:", img, transport)
	default:
		return false
	}
	return true
}
