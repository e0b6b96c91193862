package config

import (
	"context"
	"errors"
	"os"

	"github.com/sigstore/sigstore-go/pkg/root"

	"github.com/bom-attest/bom-attest/internal/localfile"
)

// maxTrustedRoot bounds trusted-root: the public-good root, with years of key history, is
// under 100 KB.
const maxTrustedRoot = 4 << 20

// maxEventPayload bounds the event payload; GitHub caps webhook payloads at 25 MB.
const maxEventPayload = 25 << 20

// regularFile checks that a path input names a regular file (after symlinks): a named pipe or
// a device would block or never end the stage that reads it.
func (v *validator) regularFile(raw map[string]string, input string) string {
	p := raw[input]
	if p != "" {
		v.checkRegular(input, "", p)
	}
	return p
}

// checkRegular reports input unless path is a regular file. prefix, when set, is the image kind
// of an archive ("oci-archive:"), written before the path; a directory there wants oci-dir:.
func (v *validator) checkRegular(input, prefix, path string) {
	st, err := os.Stat(path)
	switch {
	case err != nil:
		v.add(input, "%s%s: %v", prefix, path, errors.Unwrap(err))
	case st.IsDir() && prefix != "":
		v.add(input, "%s%s is a directory; use oci-dir:", prefix, path)
	case !st.Mode().IsRegular():
		v.add(input, "%s%s is %s, want a regular file", prefix, path, localfile.Kind(st.Mode()))
	}
}

// directory checks that a path input names a directory.
func (v *validator) directory(raw map[string]string, input string) string {
	p := raw[input]
	if p != "" {
		v.checkDir(input, "", p)
	}
	return p
}

// checkDir reports input unless path is a directory.
func (v *validator) checkDir(input, prefix, path string) {
	st, err := os.Stat(path)
	switch {
	case err != nil:
		v.add(input, "%s%s: %v", prefix, path, errors.Unwrap(err))
	case !st.IsDir():
		v.add(input, "%s%s is %s, want a directory", prefix, path, localfile.Kind(st.Mode()))
	}
}

// trustedRoot checks that trusted-root is a Sigstore trusted root, so a wrong file fails at
// once — in a dry run too — rather than when the first bundle is verified.
func (v *validator) trustedRoot(raw map[string]string) string {
	p := v.regularFile(raw, "trusted-root")
	if p == "" || v.failed("trusted-root") {
		return p
	}
	b, err := localfile.Read(context.Background(), p, maxTrustedRoot)
	if err != nil {
		v.add("trusted-root", "%v", err)
		return p
	}
	if _, err := root.NewTrustedRootFromJSON(b); err != nil {
		v.add("trusted-root", "%s is not a Sigstore trusted root (trusted_root.json): %v", p, err)
	}
	return p
}
