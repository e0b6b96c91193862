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
			v.add("image", "required: give image, or subject-name with subject-digest")
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
